"""The training state: TrainState, Models and their initialisation.

See `gan_jax.step` for the iteration the state is carried through.
"""

from __future__ import annotations

from typing import Any, Iterable, NamedTuple, Optional, Sequence

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from gan_jax import models as model_lib
from gan_jax import registry
from gan_jax.step.optimizers import make_optimizers

AXIS = "data"
PyTree = Any

# Metrics returned by every iteration, averaged over devices. D's metrics are
# those of the last of the k discriminator sub-steps, measured before its
# update; G's are those of the generator step.
METRIC_NAMES = ("d_loss", "g_loss", "value", "d_real", "d_fake", "g_grad_norm",
                "d_grad_norm", "r1_penalty")


# Logged only by an auxiliary-classifier D (ACGAN): the cross-entropy of its
# class logits, real plus fake (`step.update.penalised_discriminator_loss`).
CLASS_LOSS = "class_loss"


def optional_metric_names() -> tuple[str, ...]:
  """The metrics logged only when on: the registered penalties not in
  METRIC_NAMES, and ACGAN's class loss."""
  return tuple(n for n in registry.PENALTIES.names()
               if n not in METRIC_NAMES) + (CLASS_LOSS,)


def metric_names(names: Iterable[str] = ()) -> tuple[str, ...]:
  """METRIC_NAMES, then those of `names` that are optional, in order.

  The metrics of a run are `metric_names(its penalties)`; of a dict of them,
  `metric_names(the dict)`, so that the order is the same everywhere.
  """
  names = set(names)
  return METRIC_NAMES + tuple(n for n in optional_metric_names()
                              if n in names)


@flax.struct.dataclass
class TrainState:
  """Everything one training run carries from step to step (a pytree).

  Attributes:
    step: int32 scalar, iterations done so far.
    g_params, d_params: generator / discriminator parameters.
    g_batch_stats, d_batch_stats: BatchNorm statistics ({} if none).
    g_opt_state, d_opt_state: optax states.
    ema_g_params: exponential moving average of g_params (decay
      `ema_decay_at(step, train.ema_decay)`), or None when train.ema_decay = 0.
    rng: base PRNG key (raw uint32[2]); every draw is folded from it.
  """
  step: jax.Array
  g_params: PyTree
  d_params: PyTree
  g_batch_stats: PyTree
  d_batch_stats: PyTree
  g_opt_state: PyTree
  d_opt_state: PyTree
  ema_g_params: Optional[PyTree]
  rng: jax.Array


def _conditional(module: nn.Module) -> bool:
  return int(getattr(module, "num_classes", 0) or 0) > 0


class Models(NamedTuple):
  generator: nn.Module
  discriminator: nn.Module


def init_state(config: ml_collections.ConfigDict, models: Models,
               data_shape: Sequence[int], *,
               compiler_options: Optional[dict[str, Any]] = None
               ) -> TrainState:
  """Initialises parameters, optimiser states and the base key from config.seed.

  `compiler_options` go to XLA for the jitted initialisers (see
  `DataParallel`).
  """
  key = jax.random.PRNGKey(config.seed)
  g_key, d_key, train_key = jax.random.split(key, 3)
  z = jnp.zeros((1, config.model.latent_dim), jnp.float32)
  x = jnp.zeros((1, *data_shape), jnp.float32)
  # Initialised with train=False: BatchNorm then needs no bound `data` axis.
  init = jax.jit(model_lib.init_variables, static_argnums=0,
                 compiler_options=compiler_options)
  # A conditional model is initialised with a label (its class tables).
  labels = jnp.zeros((1,), jnp.int32)
  g_vars = (init(models.generator, g_key, z, labels)
            if _conditional(models.generator) else
            init(models.generator, g_key, z))
  d_vars = (init(models.discriminator, d_key, x, labels)
            if _conditional(models.discriminator) else
            init(models.discriminator, d_key, x))
  g_params, d_params = g_vars["params"], d_vars["params"]
  g_opt, d_opt = make_optimizers(config)
  # A copy: the state is donated, and one buffer cannot be donated twice.
  ema = (jax.tree.map(jnp.copy, g_params) if config.train.ema_decay > 0 else
         None)
  return TrainState(
      step=jnp.zeros((), jnp.int32),
      g_params=g_params,
      d_params=d_params,
      g_batch_stats=dict(g_vars.get("batch_stats", {})),
      d_batch_stats=dict(d_vars.get("batch_stats", {})),
      g_opt_state=g_opt.init(g_params),
      d_opt_state=d_opt.init(d_params),
      ema_g_params=ema,
      rng=train_key,
  )
