"""Transparency reports computed from the data itself."""
