"""Disaster early warning on the sample city (`charter sim hazard`)."""
