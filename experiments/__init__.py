"""Experiments: configs (loaded by path), figure scripts, benchmarks."""
