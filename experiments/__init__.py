"""Experiments: configs (loaded by path), their shared presets, figure scripts, benchmarks."""
