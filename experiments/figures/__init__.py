"""One script per reproduced paper figure; `make_all.py` runs them all."""
