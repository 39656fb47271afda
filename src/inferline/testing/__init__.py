"""Helpers for tests and benchmarks: run a real Inferline server in a subprocess."""
