"""Site gateway daemon: polls Modbus devices and local MQTT sources, forwards telemetry."""
