"""Messaging: one Bus interface; in-process by default."""
