"""The pure training update: Goodfellow et al. 2014, Algorithm 1, data-parallel.

One iteration (one "step" everywhere in this codebase) is

  for j in 1..k:                                  k = train.discriminator_steps
    sample m real examples x and m noise vectors z (fresh for every j)
    update D by descending the discriminator loss (ascending V when the loss
      is the cross-entropy one), with fake fraction pi = loss.fake_fraction
      and, when loss.r1_gamma > 0, the R1 penalty gamma/2 E|grad_x D(x)|^2
  sample m fresh noise vectors z
  update G by descending the generator loss
  update the EMA of G's weights (when train.ema_decay > 0), with the decay
    warmed up from 0.1 (`ema_decay_at`)

`make_update` returns that iteration as a function of one device's share of
the batch, written pmap style: gradients are averaged with `lax.pmean` over
the axis named `data`. `DataParallel` maps it over devices with `jax.shard_map`
under `jax.jit` (the `jax.pmap` path was removed; a run saved with
config.parallelism = 'pmap' reads as 'shard_map'), runs `train.steps_per_call` iterations per dispatch
with `lax.scan`, and donates the state.

Determinism across device counts: every random draw is keyed by the step and
by the *global* example index i = device_index * per_device_batch + local
index, never by the device:

  key_s            = fold_in(state.rng, step)
  D sub-step j     : key_sj = fold_in(fold_in(key_s, 0), j)
                     x_i ~ p_data with key fold_in(fold_in(key_sj, 0), i)
                     z_i ~ N(0, I) with key fold_in(fold_in(key_sj, 1), i)
  G step           : z_i with key fold_in(fold_in(fold_in(key_s, 1), 0), i)
  D dropout        : per example, key fold_in(fold_in(key_sj, 2), i)

so the global batch is the same set of examples however it is split, and the
pmean of per-device mean gradients is the global mean gradient (BatchNorm
statistics are likewise pmean'd over `data`). 1, 2 or 4 devices therefore give
the same parameters up to float re-association, and so do different
`steps_per_call` chunkings and a resumed run.

One exception: an image data set is sharded over the devices
(`DataParallel.place_images`), device d holding examples [d*S, (d+1)*S) with
S = N // D, and draws its examples from its own shard; which images a step
sees therefore depends on the device count D (with one device it is the
whole data set, as before sharding). It does not depend on how the devices
are spread over processes: 2 processes of 2 devices compute what 1 process
of 4 devices computes.

Modules: `state` (TrainState, Models, init_state), `optimizers` (optimisers
and learning-rate schedules), `sampling` (real examples and noise per global
example index), `update` (the compiled step: the per-device iteration,
D sub-steps, G step, EMA; the checks of its outputs) and `parallel`
(DataParallel, which maps it over the devices; CallTimer, which sets how
many iterations one call runs).
Every public name is importable from `gan_jax.step`.
"""

from gan_jax.step.optimizers import learning_rate_schedule
from gan_jax.step.optimizers import make_optimizer
from gan_jax.step.optimizers import make_optimizers
from gan_jax.step.sampling import make_real_sampler
from gan_jax.step.sampling import make_streamed_sampler
from gan_jax.step.sampling import real_draws
from gan_jax.step.sampling import RealSampler
from gan_jax.step.sampling import sample_labels
from gan_jax.step.sampling import draw_latent
from gan_jax.step.sampling import LATENT_DISTRIBUTIONS
from gan_jax.step.sampling import sample_noise
from gan_jax.step.state import AXIS
from gan_jax.step.state import init_state
from gan_jax.step.state import METRIC_NAMES
from gan_jax.step.state import metric_names
from gan_jax.step.state import optional_metric_names
from gan_jax.step.state import Models
from gan_jax.step.state import PyTree
from gan_jax.step.state import TrainState
from gan_jax.step.update import clip_weights
from gan_jax.step.update import ema_decay_at
from gan_jax.step.update import generate
from gan_jax.step.update import batch_norm_statistics
from gan_jax.step.parallel import call_length
from gan_jax.step.parallel import CallTimer
from gan_jax.step.parallel import DataParallel
from gan_jax.step.update import finite_flags
from gan_jax.step.update import first_nonfinite
from gan_jax.step.parallel import FIRST_CALL_STEPS
from gan_jax.step.update import STATE_PARTS
from gan_jax.step.update import is_conditional
from gan_jax.step.update import make_update
from gan_jax.step.update import split_discriminator_outputs

__all__ = [
    "AXIS",
    "CallTimer",
    "DataParallel",
    "FIRST_CALL_STEPS",
    "METRIC_NAMES",
    "metric_names",
    "optional_metric_names",
    "Models",
    "PyTree",
    "RealSampler",
    "STATE_PARTS",
    "TrainState",
    "ema_decay_at",
    "finite_flags",
    "first_nonfinite",
    "generate",
    "batch_norm_statistics",
    "call_length",
    "init_state",
    "learning_rate_schedule",
    "make_optimizer",
    "clip_weights",
    "make_optimizers",
    "make_real_sampler",
    "make_update",
    "sample_labels",
    "sample_noise",
    "draw_latent",
    "LATENT_DISTRIBUTIONS",
    "is_conditional",
    "split_discriminator_outputs",
]
