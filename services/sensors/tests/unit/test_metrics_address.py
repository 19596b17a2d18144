"""Where each sensors process serves /metrics: the processes the service starts share its host and need ports
of their own."""

from kota_sensors.__main__ import metrics_address
from kota_sensors.config import SensorsSettings


def test_the_service_serves_at_its_setting_and_its_child_processes_beside_it():
    assert metrics_address(SensorsSettings(metrics_address="0.0.0.0:9102")) == "0.0.0.0:9102"
    child = {"metrics_address": "0.0.0.0:9102", "parent_pid": 1}
    assert metrics_address(SensorsSettings(role="alerts", **child)) == "0.0.0.0:9202"
    assert metrics_address(SensorsSettings(role="store", **child)) == "0.0.0.0:9302"
    assert metrics_address(SensorsSettings(role="ingest", **child)) == "off"  # further ingest processes: none


def test_a_role_run_alone_serves_at_its_setting_and_off_stays_off():
    assert metrics_address(SensorsSettings(role="alerts", metrics_address="0.0.0.0:9102")) == "0.0.0.0:9102"
    assert metrics_address(SensorsSettings(role="alerts", metrics_address="off", parent_pid=1)) == "off"
