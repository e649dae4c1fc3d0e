r"""Steps/s of the two input pipelines side by side (config.data.pipeline).

The same config with the train split on the devices ('device') and streamed
from the host ('host'), each driven as the training loop drives it (one
compiled call of train.steps_per_call iterations, waited for, at a time);
rounds alternate between the two so that a machine's drift hits both.

  python -m experiments.benchmarks.input_pipeline \
      --config experiments/configs/fashion_mnist_dcgan.py --steps 300 --rounds 3

`--variant NAME:field=value,...` (repeated) compares other settings in the
same way, each against the first; e.g. the IDX files against a folder of
their PNGs (tools/export_image_folder.py), on the devices and streamed:

  python -m experiments.benchmarks.input_pipeline --rounds 5 \
      --variant idx:data.pipeline=device \
      --variant folder:data.name=image_folder,data.data_dir=/tmp/fmnist_png,data.pipeline=device \
      --variant folder_host:data.name=image_folder,data.data_dir=/tmp/fmnist_png,data.pipeline=host
"""

import argparse
import statistics
import time

import jax


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--config", default="experiments/configs/"
                      "fashion_mnist_dcgan.py")
  parser.add_argument("--steps", type=int, default=300,
                      help="steps per round (after compiling and a warm-up)")
  parser.add_argument("--rounds", type=int, default=3)
  parser.add_argument("--warmup", type=int, default=20)
  parser.add_argument("--steps_per_call", type=int, default=0,
                      help="0: the config's")
  parser.add_argument(
      "--variant", action="append", default=[],
      help="NAME:field=value,... (repeatable; default: "
      "device:data.pipeline=device and host:data.pipeline=host)")
  args = parser.parse_args()
  variants = {}
  for spec in args.variant or ["device:data.pipeline=device",
                               "host:data.pipeline=host"]:
    name, _, fields = spec.partition(":")
    variants[name] = dict(item.split("=", 1) for item in fields.split(",")
                          if item)

  from gan_jax import config as config_lib  # pylint: disable=g-import-not-at-top
  from gan_jax import train  # pylint: disable=g-import-not-at-top
  runners = {}
  for name, overrides in variants.items():
    config = config_lib.from_file(args.config)
    for field, value in overrides.items():
      section, key = field.split(".", 1)
      config[section][key] = type(config[section][key])(value)
    if args.steps_per_call:
      config.train.steps_per_call = args.steps_per_call
    setup = train.setup_training(config)
    n = int(config.train.steps_per_call)
    state = setup.state
    start = time.perf_counter()
    for _ in range(max(1, args.warmup // n)):
      state, _ = setup.parallel.run(state, setup.dataset, n)
      jax.block_until_ready(state)
    print(f"{name}: compiled and warmed up in "
          f"{time.perf_counter() - start:.1f} s", flush=True)
    runners[name] = [setup, state, n, []]

  for r in range(args.rounds):
    for name, runner in runners.items():
      setup, state, n, rates = runner
      calls = max(1, args.steps // n)
      start = time.perf_counter()
      for _ in range(calls):
        # As CallTimer.advance: run a call, wait for it.
        state, _ = setup.parallel.run(state, setup.dataset, n)
        jax.block_until_ready(state)
      rates.append(calls * n / (time.perf_counter() - start))
      runner[1] = state
      print(f"round {r}: {name} {rates[-1]:.2f} steps/s", flush=True)

  names = list(runners)
  base = names[0]
  base_median = statistics.median(runners[base][3])
  for name in names:
    median = statistics.median(runners[name][3])
    # Rounds next to each other saw about the same load: their ratio is less
    # noisy than the ratio of the medians on a shared machine.
    paired = statistics.median(a / b for a, b in zip(runners[name][3],
                                                     runners[base][3]))
    print(f"{name}: median {median:.2f} steps/s ({name}/{base} "
          f"{median / base_median:.3f}; median of the rounds' ratios "
          f"{paired:.3f})")
  print(f"over {args.rounds} rounds of {args.steps} steps, steps_per_call "
        f"{runners[base][2]}, {jax.devices()[0].platform}")


if __name__ == "__main__":
  main()
