"""Where results go: publishers behind one interface (MQTT, `--print`'s JSON lines), the stats they carry, and
systemd's notify protocol.

Last room of the data flow: frames -> vision -> driver -> publish.
"""
