"""`python -m gan_jax.sweep <sub-workdir>`: the worker that runs one variant."""

from absl import app

from gan_jax.sweep import worker

if __name__ == "__main__":
  app.run(worker.main)
