import pytest
from pydantic import ValidationError

from kota_sensors.config import SensorsSettings


def test_an_mqtt_tls_listener_needs_its_certificate_and_key_at_start(tmp_path):
    cert, key = tmp_path / "broker.pem", tmp_path / "broker.key"
    cert.write_text("-----BEGIN CERTIFICATE-----\n")
    key.write_text("-----BEGIN PRIVATE KEY-----\n")
    with pytest.raises(ValidationError, match="mqtt_tls_keyfile is required"):
        SensorsSettings(mqtt_tls_address="0.0.0.0:8883", mqtt_tls_certfile=str(cert))
    with pytest.raises(ValidationError, match="no such file"):
        SensorsSettings(mqtt_tls_address="0.0.0.0:8883", mqtt_tls_certfile=str(cert), mqtt_tls_keyfile="/nope.key")
    with pytest.raises(ValidationError, match="no TLS listener would start"):
        SensorsSettings(mqtt_tls_certfile=str(cert), mqtt_tls_keyfile=str(key))
    with pytest.raises(ValidationError, match="external broker"):
        SensorsSettings(mqtt_tls_address="0.0.0.0:8883", mqtt_tls_certfile=str(cert), mqtt_tls_keyfile=str(key),
                        mqtt_embedded_broker=False)
    with pytest.raises(ValidationError, match="mqtt_tls_address"):
        SensorsSettings(mqtt_tls_address="not an address")
    settings = SensorsSettings(mqtt_tls_address="0.0.0.0:8883", mqtt_tls_certfile=str(cert), mqtt_tls_keyfile=str(key))
    assert settings.mqtt_tls_address == "0.0.0.0:8883"
    assert SensorsSettings().mqtt_tls_address == ""  # off by default: development runs on the loopback
