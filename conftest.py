# Real-part fixtures (broker, SQLite/PostgreSQL, service processes) shared by every service's tests.
pytest_plugins = ["kota_common.testing"]
