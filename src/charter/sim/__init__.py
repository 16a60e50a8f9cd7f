"""Simulation: a sample city and its devices, good and bad."""
