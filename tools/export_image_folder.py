"""Writes a registered image data set as an image folder of PNGs.

  python tools/export_image_folder.py --name=fashion_mnist \\
      --out=/tmp/fashion_mnist_png

gives out/train/<class>/<index>.png and out/test/<class>/<index>.png (only
out/<class>/... when the data set has no test split), the layout
``config.data.name='image_folder'`` reads
(`gan_jax.data.folder`): ``--config.data.name=image_folder
--config.data.data_dir=/tmp/fashion_mnist_png`` then trains on the same
pixels and labels (PNG is lossless). Class folders are named so that they
sort as the labels do (folder k holds label k): ``<k>_<name>`` for data
sets with known class names (Fashion-MNIST, MNIST), else ``<k>`` zero-padded.
Unlabelled data (and stacked data sets, whose labels are triples) is written
as flat folders of images. Each split must hold every class (an empty class
folder is refused by image_folder): a --limit too small for that stops with
the class that is missing.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from typing import Optional, Sequence

import numpy as np
from PIL import Image

from gan_jax import data

FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress",
                         "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                         "Ankle boot")
CLASS_NAMES = {
    "fashion_mnist": FASHION_MNIST_CLASSES,
    "mnist": tuple(str(d) for d in range(10)),
}


def class_folders(name: str, num_classes: int) -> list[str]:
  """Folder names that sort as labels 0..num_classes-1 do."""
  width = len(str(max(num_classes - 1, 0)))
  names = CLASS_NAMES.get(name, ())
  folders = []
  for k in range(num_classes):
    folder = f"{k:0{width}d}"
    if num_classes <= len(names) and names[k] != folder:
      folder += "_" + re.sub(r"[^A-Za-z0-9-]+", "_", names[k]).strip("_")
    folders.append(folder)
  return folders


def _labels(data_config, split: str) -> Optional[np.ndarray]:
  if data.num_classes(data_config) == 0:
    return None
  labels = data.load_labels(data_config, split)
  return labels if labels.ndim == 1 else None  # stacked: triples


def export(data_config, out: str, *, limit: Optional[int] = None
           ) -> dict[str, int]:
  """Writes the data set's splits as PNGs under `out`; returns the counts.

  Raises:
    DataError: `out` is not empty, or a split lacks a class.
  """
  if os.path.isdir(out) and os.listdir(out):
    raise data.DataError(f"{out} is not empty; give a new folder")
  splits = ["train", "test"] if data.has_test_split(data_config) else [
      "train"]
  name = data_config.get("tfds_name") or data_config.get("name")
  num_classes = data.num_classes(data_config)
  folders = class_folders(name, num_classes)
  counts = {}
  for split in splits:
    images = data.load_images(data_config, split, stop=limit)
    labels = _labels(data_config, split)
    if labels is not None:
      labels = labels[:len(images)]
      missing = sorted(set(range(num_classes)) - set(labels.tolist()))
      if missing:
        raise data.DataError(
            f"the {split} split's first {len(images)} images hold no image of"
            f" class {missing[0]} ({folders[missing[0]]}); image_folder needs "
            "every class in every split: raise --limit")
    root = os.path.join(out, split) if len(splits) > 1 else out
    width = len(str(max(len(images) - 1, 0)))
    for i in range(len(images)):
      folder = root if labels is None else os.path.join(root,
                                                        folders[labels[i]])
      os.makedirs(folder, exist_ok=True)
      pixels = np.asarray(images[i])
      image = (Image.fromarray(pixels[..., 0], "L") if pixels.shape[-1] == 1
               else Image.fromarray(pixels, "RGB"))
      image.save(os.path.join(folder, f"{i:0{width}d}.png"))
    counts[split] = len(images)
  return counts


def main(argv: Optional[Sequence[str]] = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--name", required=True,
                      help="a registered image data set, e.g. fashion_mnist")
  parser.add_argument("--out", required=True, help="a new or empty folder")
  parser.add_argument("--data_dir", default="",
                      help="config.data.data_dir ('' = the default)")
  parser.add_argument("--source", default=None, help="'idx' or 'tfds'")
  parser.add_argument("--tfds_name", default="")
  parser.add_argument("--image_size", type=int, default=0,
                      help="resize first (0 = keep)")
  parser.add_argument("--limit", type=int, default=None,
                      help="write only the first LIMIT images of each split")
  args = parser.parse_args(argv)
  try:
    config = data.default_data_config(args.name)
    config.data_dir = args.data_dir
    config.tfds_name = args.tfds_name
    config.image_size = args.image_size
    if args.source:
      config.source = args.source
    counts = export(config, args.out, limit=args.limit)
  except data.DataError as e:
    print(f"data error: {e}", file=sys.stderr)
    return 1
  print(f"wrote {', '.join(f'{n} {s}' for s, n in counts.items())} images "
        f"to {args.out}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
