"""Benchmarks that print figures (never timed tests): `make bench`."""
