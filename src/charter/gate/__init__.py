"""The ingest gate: a straight line of small stages over a batch of envelopes."""
