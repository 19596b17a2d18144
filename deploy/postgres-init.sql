-- One database per service: no service reads another's tables.
CREATE DATABASE complaints;
CREATE DATABASE sensors;
CREATE DATABASE opendata;
CREATE DATABASE musrenbang;
CREATE DATABASE collab;
CREATE DATABASE notifications;
