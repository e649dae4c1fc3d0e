"""Sample figures: an image grid, a 2D scatter over the modes, a 1D histogram.

matplotlib without pyplot, so no global backend state is touched.
"""

from __future__ import annotations

import math
from typing import Optional

import jax.numpy as jnp
import numpy as np

from gan_jax import data as data_lib


def _new_figure(size=(5, 5)):
  from matplotlib.backends.backend_agg import FigureCanvasAgg  # pylint: disable=g-import-not-at-top
  from matplotlib.figure import Figure  # pylint: disable=g-import-not-at-top
  fig = Figure(figsize=size)
  FigureCanvasAgg(fig)
  return fig


def image_grid(images: np.ndarray, columns: Optional[int] = None
               ) -> np.ndarray:
  """[n, H, W, C] in [0, 1] -> one [rows*H, cols*W, C] image, 1-pixel gaps.

  `columns`: images per row (None: a square grid); a conditional model's
  grids give one row per class.
  """
  n, h, w, c = images.shape
  cols = int(columns) if columns else int(math.ceil(math.sqrt(n)))
  rows = int(math.ceil(n / cols))
  grid = np.ones((rows * (h + 1) - 1, cols * (w + 1) - 1, c), np.float32)
  for i, image in enumerate(images):
    r, q = divmod(i, cols)
    grid[r * (h + 1):r * (h + 1) + h, q * (w + 1):q * (w + 1) + w] = image
  return grid


def _plot_images(samples: np.ndarray, columns: Optional[int] = None,
                 pixel_range: str = "[-1,1]"):
  grid = image_grid(data_lib.from_model_range(samples, pixel_range), columns)
  fig = _new_figure((6, 6 * grid.shape[0] / grid.shape[1]))
  ax = fig.add_axes([0, 0, 1, 1])
  ax.imshow(grid[..., 0] if grid.shape[-1] == 1 else grid, cmap="gray",
            vmin=0.0, vmax=1.0, interpolation="nearest")
  ax.axis("off")
  return fig


def _plot_2d(samples: np.ndarray, distribution, title: str, labels=None):
  means = np.asarray(distribution.means)
  fig = _new_figure()
  ax = fig.add_subplot()
  if labels is None:
    ax.scatter(samples[:, 0], samples[:, 1], s=3, alpha=0.4, label="G(z)")
  else:  # a conditional G: each class (mode index) in its own colour
    ax.scatter(samples[:, 0], samples[:, 1], s=3, alpha=0.5, c=labels,
               cmap="tab10", label="G(z, y), colour = y")
  ax.scatter(means[:, 0], means[:, 1], marker="x", c="red", s=40,
             label="mode centres")
  span = np.abs(means).max() * 1.5 + 1e-3
  ax.set_xlim(-span, span)
  ax.set_ylim(-span, span)
  ax.set_aspect("equal")
  ax.legend(loc="upper right", fontsize=7)
  ax.set_title(title, fontsize=9)
  return fig


def _plot_1d(samples: np.ndarray, distribution, title: str):
  mean = float(np.asarray(distribution.means).reshape(-1)[0])
  std = float(np.asarray(distribution.stds).reshape(-1)[0])
  xs = np.linspace(mean - 5 * std, mean + 5 * std, 400)
  density = np.exp(np.asarray(distribution.log_prob(
      jnp.asarray(xs[:, None], jnp.float32))))
  fig = _new_figure((6, 4))
  ax = fig.add_subplot()
  finite = samples[np.isfinite(samples)].reshape(-1)
  lo = min(xs[0], finite.min()) if finite.size else xs[0]
  hi = max(xs[-1], finite.max()) if finite.size else xs[-1]
  ax.hist(finite, bins=np.linspace(lo, hi, 80), density=True, alpha=0.5,
          label="p_g (samples)")
  ax.plot(xs, density, "k-", label="p_data")
  ax.legend(fontsize=8)
  ax.set_title(title, fontsize=9)
  return fig


def plot_samples(samples: np.ndarray, distribution, step: int, path: str,
                 note: str = "", *, labels: Optional[np.ndarray] = None,
                 columns: Optional[int] = None,
                 pixel_range: str = "[-1,1]"):
  """Writes the sample figure to `path`; returns the matplotlib Figure.

  Args:
    samples: generator output in the model's range: images [n, H, W, C] in
      `pixel_range` (config.data.pixel_range), or toy points [n, d].
    distribution: the toy p_data (its modes are drawn), None for images.
    step: the training step, for the title.
    path: the PNG to write.
    note: a caption after the step (e.g. the evaluation's headline).
    labels: the classes a conditional G drew the samples for (toy points
      are coloured by them).
    columns: images per row (a conditional grid: one row per class).
  """
  title = f"step {step}" + (f" | {note}" if note else "")
  if distribution is None:
    fig = _plot_images(samples, columns, pixel_range)
  elif samples.shape[-1] == 2:
    fig = _plot_2d(samples, distribution, title, labels)
  else:
    fig = _plot_1d(samples, distribution, title)
  fig.savefig(path, dpi=100)
  return fig


def figure_image(fig) -> np.ndarray:
  """The figure as TensorBoard shows it: [H, W, 3] uint8."""
  fig.canvas.draw()
  return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
