"""Throughput and scaling measurements of gan_jax's update step (issue 5)."""
