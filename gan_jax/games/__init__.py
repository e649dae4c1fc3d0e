"""The games G and D play, and D's penalties, registered by name.

Each module here registers components in `gan_jax.registry`:

* `builtin_games` — the games of `gan_jax.losses` (`losses.NAMES`) under
  their loss names (`config.loss.name`), with the loss hyperparameters each
  takes as its config fields (fake_fraction, label_smoothing, divergence).
* `penalties` — D's regularisers R1, R2 and WGAN-GP, each on when its weight
  field in `config.loss` is > 0.

A new game or penalty is one file (here, or a plug-in outside the package:
docs/howto). `gan_jax.step.objective` turns the chosen ones into what the
update step calls.
"""
