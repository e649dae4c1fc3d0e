r"""Steps/s of the two input pipelines side by side (config.data.pipeline).

The same config with the train split on the devices ('device') and streamed
from the host ('host'), each driven as the training loop drives it (one
compiled call of train.steps_per_call iterations, waited for, at a time);
rounds alternate between the two so that a machine's drift hits both.

  python -m experiments.benchmarks.input_pipeline \
      --config experiments/configs/fashion_mnist_dcgan.py --steps 300 --rounds 3
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
  args = parser.parse_args()

  from gan_jax import config as config_lib  # pylint: disable=g-import-not-at-top
  from gan_jax import train  # pylint: disable=g-import-not-at-top
  runners = {}
  for name in ("device", "host"):
    config = config_lib.from_file(args.config)
    config.data.pipeline = name
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

  device = statistics.median(runners["device"][3])
  host = statistics.median(runners["host"][3])
  # Rounds next to each other saw about the same load: their ratio is less
  # noisy than the ratio of the medians on a shared machine.
  paired = statistics.median(h / d for h, d in zip(runners["host"][3],
                                                   runners["device"][3]))
  print(f"median steps/s: device {device:.2f}, host {host:.2f} "
        f"(host/device {host / device:.3f}; median of the rounds' ratios "
        f"{paired:.3f}) over {args.rounds} rounds of "
        f"{args.steps} steps, steps_per_call {runners['host'][2]}, "
        f"{jax.devices()[0].platform}")


if __name__ == "__main__":
  main()
