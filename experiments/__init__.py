"""Experiments: configs (loaded by path), their presets, figures, benchmarks."""
