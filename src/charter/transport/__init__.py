"""Transports beyond HTTP: the MQTT device gateway and the JetStream gate workers."""
