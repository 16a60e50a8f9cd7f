"""The SUMO bridge: real street networks, real traffic, the signals' safety invariant.

Needs the `charter[sim]` extra (eclipse-sumo, libsumo); nothing else in Charter
imports it, so a platform without SUMO installed runs as before.
"""
