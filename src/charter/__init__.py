"""Charter: a city data platform that enforces residents' rights in its data path."""

__version__ = "0.1.0"
