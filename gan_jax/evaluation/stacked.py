"""Mode coverage on Stacked MNIST: modes covered and KL(histogram || uniform).

The StackedMNIST protocol (Metz et al. 2017, "Unrolled Generative
Adversarial Networks"; VEEGAN, Srivastava et al. 2017, Table 2; PacGAN, Lin
et al. 2018, Table 2; R3GAN, Huang et al. 2024, Tables 1 and 3): a
pretrained classifier labels each of the C = 3 channels of n = 26,000
generator samples with one of K = 10 classes; the mode of a sample is its
class triple, one of M = K^C = 1,000. Reported: the number of modes with at
least one sample, and

    KL(p || u) = sum_m p_m log(p_m / (1/M)) = sum_m p_m log(p_m M),

p_m = (samples in mode m) / n, u uniform over the M modes, natural log,
0 log 0 = 0; 0 for a perfectly even histogram, log M (6.91 for 1,000) when
every sample falls in one mode. Even samples of the real data do not reach
0: with n = 26,000 a multinomial's own noise gives E KL ~ (M - 1) / (2n) =
0.019, and the classifier's errors add to it, so each number is read beside
the real data's (the floor). Published rows (MNIST, not Fashion-MNIST):
DCGAN 99 modes / KL 3.4 (PacGAN Table 2), PacDCGAN2 1000 / 0.06, R3GAN
1000 / 0.029.

Numpy only (no jax or flax): labels in, numbers out; the classifier and the
samples come from the caller (`gan_jax.train.stacked_modes`).
"""

from __future__ import annotations

import numpy as np

STACKED_NUM_SAMPLES = 26_000  # samples per evaluation in the protocol
NUM_CLASSES = 10


def mode_histogram(labels, *, num_classes: int = NUM_CLASSES) -> np.ndarray:
  """Samples per mode: labels [n, C] -> int64 counts [num_classes ** C].

  Mode of row (c_1, ..., c_C) = sum_j c_j K^(C - j) (the triple read as a
  base-K number: (c1, c2, c3) -> 100 c1 + 10 c2 + c3 for K = 10, C = 3).

  Args:
    labels: integer class labels [n, C] in [0, num_classes), one column per
      channel (n may be 0).
    num_classes: K, classes per channel.

  Raises:
    ValueError: labels not an integer [n, C] array, a label out of range,
      or num_classes < 1.
  """
  if (not isinstance(num_classes, (int, np.integer)) or
      isinstance(num_classes, bool) or num_classes < 1):
    raise ValueError(f"num_classes = {num_classes!r} must be an integer >= 1")
  labels = np.asarray(labels)
  if labels.ndim != 2 or labels.shape[1] < 1:
    raise ValueError(f"labels must be [n, channels] with channels >= 1, got "
                     f"shape {labels.shape}")
  if labels.size and not np.issubdtype(labels.dtype, np.integer):
    raise ValueError(f"labels must be integers, got dtype {labels.dtype}")
  labels = labels.astype(np.int64)
  if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
    raise ValueError(f"labels must lie in [0, {num_classes}), got values in "
                     f"[{labels.min()}, {labels.max()}]")
  channels = labels.shape[1]
  place = num_classes ** np.arange(channels - 1, -1, -1, dtype=np.int64)
  return np.bincount(labels @ place, minlength=num_classes ** channels)


def mode_coverage(histogram) -> dict:
  """Modes covered and KL(p || uniform) of a mode histogram.

  Args:
    histogram: non-negative counts [M] (e.g. `mode_histogram`'s), not all 0.

  Returns:
    dict(modes = #{m : h_m > 0} (int), kl = sum_m p_m log(p_m M) with
    p = h / sum h (float, natural log, 0 log 0 = 0; a rounding error below
    0 is returned as 0), num_modes = M (int)).

  Raises:
    ValueError: not a non-empty 1-D array of finite counts >= 0 with a
      positive sum.
  """
  histogram = np.asarray(histogram)
  if histogram.ndim != 1 or histogram.size == 0:
    raise ValueError(f"histogram must be a non-empty 1-D array of counts, got "
                     f"shape {histogram.shape}")
  if not np.issubdtype(histogram.dtype, np.number) or np.issubdtype(
      histogram.dtype, np.complexfloating):
    raise ValueError(f"histogram must hold real counts, got dtype "
                     f"{histogram.dtype}")
  histogram = histogram.astype(np.float64)
  if not np.all(np.isfinite(histogram)) or histogram.min() < 0:
    raise ValueError("histogram must hold finite counts >= 0")
  total = histogram.sum()
  if total <= 0:
    raise ValueError("histogram is all zeros: no samples to compare with "
                     "the uniform distribution")
  p = histogram / total
  covered = p > 0
  kl = float(np.sum(p[covered] * np.log(p[covered] * histogram.size)))
  return dict(modes=int(np.count_nonzero(covered)), kl=max(kl, 0.0),
              num_modes=int(histogram.size))


def kl_decomposition(labels, *, num_classes: int = NUM_CLASSES) -> dict:
  """KL(p || uniform) split into per-channel class balance and dependence.

  With p the mode histogram of labels [n, C], p_c channel c's class
  histogram and u_K the uniform distribution over K classes, u_M = u_K^C,
  so the chain rule of KL gives

      KL(p || u_M) = sum_c KL(p_c || u_K) + KL(p || prod_c p_c)
                     `marginal`             `dependence`

  `marginal` is 0 when every channel shows each class equally often,
  whatever the triples; `dependence` (the total correlation) is 0 when the
  channels' labels are independent. A generator can cover all 1,000 modes
  and still have a large KL through either term; the real stacks' values
  (finite-sample noise: E dependence ~ (M - 1 - C (K - 1)) / (2n)) are the
  floors. Both terms are computed directly, not as a difference.

  Args:
    labels: integer class labels [n, C] in [0, num_classes), n >= 1.
    num_classes: K, classes per channel.

  Returns:
    dict(kl (= `mode_coverage`'s), marginal, dependence (floats >= 0),
    channel_kl = [KL(p_c || u_K) for each c]).
  """
  histogram = mode_histogram(labels, num_classes=num_classes)
  labels = np.asarray(labels, np.int64)
  if labels.shape[0] == 0:
    raise ValueError("labels must hold at least one sample")
  channels = labels.shape[1]
  p_joint = histogram.reshape((num_classes,) * channels) / labels.shape[0]
  marginals = [np.bincount(labels[:, c], minlength=num_classes) /
               labels.shape[0] for c in range(channels)]
  channel_kl = [float(np.sum(p[p > 0] * np.log(p[p > 0] * num_classes)))
                for p in marginals]
  product = marginals[0]
  for p in marginals[1:]:
    product = np.multiply.outer(product, p)
  covered = p_joint > 0  # the product is > 0 wherever the joint is
  dependence = float(np.sum(p_joint[covered] *
                            np.log(p_joint[covered] / product[covered])))
  return dict(kl=mode_coverage(histogram)["kl"],
              marginal=max(sum(channel_kl), 0.0),
              dependence=max(dependence, 0.0), channel_kl=channel_kl)
