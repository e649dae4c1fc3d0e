"""The games of `gan_jax.losses`, registered under their loss names.

Each game is a `losses.LossPair`: D's loss and G's loss on D's raw outputs.
The loss hyperparameters a pair takes by keyword (`discriminator_options`,
`generator_options`) are its config fields in `config.loss`; a game that
does not take a field requires it at its default (so that a value set for
another game is not silently ignored).
"""

from __future__ import annotations

from gan_jax import fields
from gan_jax import losses
from gan_jax import registry

# The config field of each loss hyperparameter a LossPair may take.
OPTION_FIELDS = dict(
    fake_fraction=fields.real(
        0.5, fields.OPEN_UNIT,
        doc="pi, the share of fakes D is trained on (Huszar 2015: D follows "
        "JSD_pi)"),
    label_smoothing=fields.real(
        0.0, fields.UNIT, doc="one-sided label smoothing of D's real target"),
    divergence=fields.choice(
        "gan", losses.F_GAN_DIVERGENCES,
        doc="the f-divergence of the f-GAN game (Nowozin et al. 2016)"),
)

for _name in losses.NAMES:
  _pair = losses.get(_name)
  _options = tuple(dict.fromkeys(_pair.discriminator_options +
                                 _pair.generator_options))
  registry.GAMES.add(
      _name, _pair,
      fields={option: OPTION_FIELDS[option] for option in _options},
      discriminator=_pair.discriminator,
      generator=_pair.generator,
      generator_needs_real=_pair.generator_needs_real,
      uses_cross_entropy=_pair.uses_cross_entropy,
      discriminator_options=_pair.discriminator_options,
      generator_options=_pair.generator_options)
