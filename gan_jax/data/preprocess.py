"""Preprocessing of your own images (`folder`, `arrays`), with Pillow.

Each image, given as a Pillow image (decoded from a file, or made from a
uint8 array), becomes uint8 [H, W, C] by these steps, each a field of
config.data (declared by the data sets that read them, `FIELDS`):

1. Channels (``channels``): 0 = as found: grey (C = 1) when every image of
   the train split is grey (Pillow modes 1, L, LA, I, I;16..., F), else RGB
   (C = 3; a palette image counts as grey when its palette is); 1 = grey, by ITU-R 601-2 luma (Pillow's ``convert('L')``:
   L = 0.299 R + 0.587 G + 0.114 B); 3 = RGB (grey images repeated).
   Alpha (modes RGBA, LA, PA, P with transparency) is composited on black:
   x * alpha / 255, so a transparent pixel is black whatever colour it
   stores. 16-bit grey (I;16) is scaled to 8 bits (x / 257, rounded); 32-bit
   integer and float grey (I, F) are clipped to [0, 255].
2. Square (``center_crop``): True (the default) crops the central
   min(W, H) x min(W, H) square; False squashes the whole image (the aspect
   ratio changes). With image_size = 0 and center_crop False an image keeps
   its H x W.
3. Size (``image_size``, ``resize_filter``): resized to image_size x
   image_size with Pillow's filter: 'lanczos' (the default, as StyleGAN's
   dataset_tool), 'bilinear', 'box' or 'nearest' (Pillow's filters are
   antialiased when shrinking). 0 keeps the size; then every image must
   have the same size. An image smaller than image_size (min(W, H) <
   image_size) is refused unless ``allow_upscale`` is True (then upscaled
   with the same filter, logged with the count).

``mirror`` (a field of every image data set) is not applied here: the
samplers flip.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from PIL import Image

from gan_jax import fields
from gan_jax.data import common

FILTERS = {
    "lanczos": Image.Resampling.LANCZOS,
    "bilinear": Image.Resampling.BILINEAR,
    "box": Image.Resampling.BOX,
    "nearest": Image.Resampling.NEAREST,
}
CHANNELS = (0, 1, 3)
# Pillow modes whose pixels are one grey value (with or without alpha).
GREY_MODES = ("1", "L", "LA", "La", "I", "F", "I;16", "I;16L", "I;16B",
              "I;16N")

# The fields of `folder` and `arrays` (each declares those it reads; one
# object per field, so both declare it the same way).
FIELDS = dict(
    center_crop=fields.boolean(
        True, doc="image_folder, arrays: crop the central square before "
        "resizing (False: squash to a square)"),
    resize_filter=fields.choice(
        "lanczos", tuple(FILTERS),
        doc="image_folder, arrays: Pillow filter for image_size"),
    channels=fields.choice(
        0, CHANNELS, doc="image_folder, arrays: 0 = as found (grey if every "
        "image is grey, else RGB), 1 = grey (ITU-R 601 luma), 3 = RGB"),
    allow_upscale=fields.boolean(
        False, doc="image_folder, arrays: upscale images smaller than "
        "image_size (else refused)"),
    skip_bad_images=fields.boolean(
        False, doc="image_folder: skip corrupt or truncated images (else "
        "refused), logging the count"),
    # Resumable: another cache folder holds the same images.
    cache_dir=fields.Field(
        "", "str", "a folder; '' = $GAN_JAX_CACHE_DIR/data or "
        "~/.cache/gan_jax/data",
        doc="image_folder, arrays: where decoded images are cached",
        resumable=True),
)


@dataclasses.dataclass(frozen=True)
class Settings:
  """The preprocessing fields of config.data, checked."""
  image_size: int
  center_crop: bool
  resize_filter: str
  channels: int
  allow_upscale: bool

  def as_dict(self) -> dict:
    return dataclasses.asdict(self)


def settings(data_config) -> Settings:
  """The preprocessing fields of `data_config` (defaults for absent ones).

  Raises:
    DataError: a value out of range, naming the field.
  """
  values = {}
  for name in ("image_size", "center_crop", "resize_filter", "channels",
               "allow_upscale"):
    default = 0 if name == "image_size" else FIELDS[name].default
    value = common.field(data_config, name, default)
    checked = FIELDS.get(name, fields.integer(0, 0))
    try:
      if name == "channels" and isinstance(value, bool):
        raise fields.ConfigError(f"config.data.channels = {value!r} is not "
                                 f"valid; choose one of "
                                 f"{fields.choices_text(CHANNELS)}")
      checked.check(value, f"config.data.{name}")
    except fields.ConfigError as e:
      raise common.DataError(str(e)) from None
    values[name] = value
  return Settings(**values)


def is_grey(mode: str) -> bool:
  """Whether a Pillow mode holds one grey value per pixel (+ alpha)."""
  return mode in GREY_MODES


def found_mode(image: Image.Image) -> str:
  """The image's mode, 'L' for a palette of greys (a grey GIF, say).

  Reads the header only.
  """
  if image.mode in ("P", "PA"):
    palette = image.getpalette() or []
    if all(palette[i] == palette[i + 1] == palette[i + 2]
           for i in range(0, len(palette) - 2, 3)):
      return "L" if image.mode == "P" else "LA"
  return image.mode


def target_channels(channels: int, modes) -> int:
  """1 or 3: `channels` if set, else 1 when every mode in `modes` is grey."""
  if channels:
    return channels
  return 1 if all(is_grey(m) for m in modes) else 3


def is_upscaled(width: int, height: int, size: int) -> bool:
  """Whether an image of width x height grows to reach size x size."""
  return bool(size) and min(width, height) < size


def _to_8bit(image: Image.Image) -> Image.Image:
  """An image in mode L, LA, RGB or RGBA holding the same pixels."""
  mode = image.mode
  if mode in ("L", "LA", "RGB", "RGBA"):
    return image
  if mode.startswith("I;16"):
    # Pillow's own I;16 -> L conversion clips at 255; scale instead.
    x = np.asarray(image, dtype=np.float64) / 257.0
    return Image.fromarray(np.rint(x).astype(np.uint8), "L")
  if mode in ("I", "F"):
    x = np.clip(np.asarray(image, dtype=np.float64), 0, 255)
    return Image.fromarray(np.rint(x).astype(np.uint8), "L")
  if mode in ("1",):
    return image.convert("L")
  if mode == "La":
    return image.convert("LA")
  if mode == "PA" or (mode == "P" and "transparency" in image.info):
    return image.convert("RGBA")
  if mode == "P":
    return image.convert("RGB")
  # CMYK, YCbCr, LAB, HSV, RGBX, RGBa, ...: Pillow knows their RGB.
  if "A" in mode or "a" in mode:
    return image.convert("RGBA")
  return image.convert("RGB")


def _composite_on_black(image: Image.Image) -> Image.Image:
  """LA / RGBA -> L / RGB: each colour times alpha / 255 (on black)."""
  x = np.asarray(image, dtype=np.uint16)
  colour, alpha = x[..., :-1], x[..., -1:]
  # (c * a + 127) // 255: c * a / 255 rounded, in integers.
  out = ((colour * alpha + 127) // 255).astype(np.uint8)
  mode = "L" if image.mode == "LA" else "RGB"
  return Image.fromarray(out[..., 0] if mode == "L" else out, mode)


def to_array(image: Image.Image, config: Settings,
             channels: int) -> np.ndarray:
  """One Pillow image -> uint8 [H, W, channels], by the steps above.

  Args:
    image: a loaded Pillow image of any mode.
    config: the preprocessing settings.
    channels: 1 or 3 (`target_channels` resolved over the data set).
  """
  image = _to_8bit(image)
  if image.mode in ("LA", "RGBA"):
    image = _composite_on_black(image)
  if channels == 1 and image.mode != "L":
    image = image.convert("L")  # ITU-R 601-2 luma
  elif channels == 3 and image.mode != "RGB":
    image = image.convert("RGB")
  width, height = image.size
  box = None
  if config.center_crop and width != height:
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    box = (left, top, left + side, top + side)
  size = config.image_size
  if size:
    if (width, height) != (size, size) or box is not None:
      image = image.resize((size, size), FILTERS[config.resize_filter],
                           box=box)
  elif box is not None:
    image = image.crop(box)
  array = np.asarray(image, dtype=np.uint8)
  return array[..., None] if array.ndim == 2 else array


def output_size(width: int, height: int, config: Settings) -> tuple[int, int]:
  """(H, W) of an image of width x height after the steps above."""
  if config.image_size:
    return config.image_size, config.image_size
  if config.center_crop:
    side = min(width, height)
    return side, side
  return height, width
