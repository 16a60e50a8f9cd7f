"""Benchmarks: each measures Charter beside the limit it runs against, in the same run."""
