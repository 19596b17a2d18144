"""The sensors service's entry in the platform (entry point `kota.services`): how `kota up` runs it, and its
simulator (`kota simulate sensors`), which `kota up` runs to keep the platform alive."""

from kota_common.registration import ServiceSpec
from kota_sensors.config import SensorsSettings
from kota_sensors.simulate import command

SERVICE = ServiceSpec("sensors", SensorsSettings, start_order=20, simulate=command)
