"""Hardware-free device simulators: elevators and chargers over Modbus, smoke alarms on MQTT.

Models are pure (they advance on a simulated clock and write registers or messages);
``modbus_server`` and ``smoke_publisher`` are the thin I/O adapters that expose them.
"""
