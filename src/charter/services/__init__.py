"""The city services: consumers of admitted data that command actuators.

A service (`base.Service`) reads admitted readings of the categories it
declared, keeps its own state, and asks for commands; the host
(`host.ServiceHost`) decides whether it may run at all (its entry on the
algorithm register, its project live and declaring those categories, not
disabled by the two-person rule), signs what it asks for and sends it to the
actuators (`actuator.Actuator`), which verify every command and fall back to a
safe local mode by themselves (`commands/failsafe.py`).
"""
