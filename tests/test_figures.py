"""The figure scripts (experiments/figures), --quick, and make_all."""

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)  # for the `experiments` package

from experiments import presets  # pylint: disable=g-import-not-at-top,wrong-import-position
from experiments.figures import make_all  # pylint: disable=g-import-not-at-top,wrong-import-position
from helpers import write_fake_sweep, write_idx_dataset, write_idx_images  # pylint: disable=g-import-not-at-top,wrong-import-position


@pytest.fixture(scope="module")
def quick_output(tmp_path_factory):
  """Runs a figure's quick version once per test module; returns its outputs."""
  outdir = str(tmp_path_factory.mktemp("figures"))
  cache = {}

  def get(name):
    if name not in cache:
      result = make_all.main_of(name)(outdir=outdir, quick=True)
      numbers = [p for p in result["files"] if p.endswith((".json", ".csv"))]
      data = None
      if numbers and numbers[0].endswith(".json"):
        with open(numbers[0]) as f:
          data = json.load(f)
      cache[name] = dict(result=result, data=data, outdir=outdir)
    return cache[name]

  return get


def _skip_without_data(name):
  from gan_jax import data  # pylint: disable=g-import-not-at-top
  if name == "arjovsky_bottou2017" and not os.path.isfile(os.path.join(
      data.DEFAULT_IDX_DIR, "train-images-idx3-ubyte.gz")):
    pytest.skip(f"Fashion-MNIST IDX files not in {data.DEFAULT_IDX_DIR}; "
                f"apt-get install dataset-fashion-mnist")


# Their quick versions still train 27 critics / nine fits (12-20 s each):
# they run with the end-to-end tests in the slow pass (.ci/run).
SLOW_FIGURES = ("f_gan_theory", "nowozin2016_gaussian_fit", "arjovsky_bottou2017",
                "huszar2015")


@pytest.mark.parametrize("name", [
    pytest.param(n, marks=pytest.mark.slow) if n in SLOW_FIGURES else n
    for n in make_all.FIGURES if n not in make_all.SWEEP_FIGURES])
def test_quick_version_writes_png_and_numbers(name, quick_output):
  _skip_without_data(name)
  out = quick_output(name)
  files = out["result"]["files"]
  for path in files:
    assert os.path.isfile(path) and os.path.getsize(path) > 0, path
    assert os.path.dirname(path) == out["outdir"]
  assert any(p.endswith(".png") for p in files)
  assert any(p.endswith((".json", ".csv")) for p in files)


def test_figure16_costs_are_the_losses_on_the_tutorial_scale(quick_output):
  data = quick_output("tutorial2016_figure16")["data"]
  d = np.asarray(data["d"], np.float64)
  cost = {k: np.asarray(v) for k, v in data["cost"].items()}
  # The tutorial's J(G): 1/2 of gan_jax's saturating and non-saturating
  # losses per sample; the maximum-likelihood loss as is.
  np.testing.assert_allclose(cost["minimax"], 0.5 * np.log1p(-d), rtol=1e-4,
                             atol=1e-6)
  np.testing.assert_allclose(cost["non_saturating"], -0.5 * np.log(d),
                             rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(cost["maximum_likelihood"], -0.5 * d / (1 - d),
                             rtol=1e-3, atol=1e-6)
  slope = data["summary"]
  # Near D = 0 the minimax cost saturates; the non-saturating one does not.
  assert slope["slope_at_d_min_non_saturating"] == pytest.approx(0.5, rel=0.01)
  assert slope["slope_at_d_min_minimax"] < 1e-3


def test_huszar_kl_covers_reverse_kl_seeks(quick_output):
  data = quick_output("huszar2015")["data"]
  fits = data["fits"]
  weights = np.asarray(data["p"]["weights"])
  means = np.asarray(data["p"]["means"])
  stds = np.asarray(data["p"]["stds"])
  # KL(P||Q) over Gaussians is moment matching.
  mean = np.sum(weights * means)
  var = np.sum(weights * (stds**2 + means**2)) - mean**2
  assert fits["kl_pq"]["mean"] == pytest.approx(mean, abs=1e-3)
  assert fits["kl_pq"]["std"] == pytest.approx(math.sqrt(var), rel=1e-3)
  # Reverse KL sits on the heavier mode with about its width.
  assert fits["kl_qp"]["mean"] == pytest.approx(means[np.argmax(weights)],
                                                abs=0.01)
  assert fits["kl_qp"]["std"] == pytest.approx(stds[0], rel=0.01)
  assert fits["kl_pq"]["std"] > 3 * fits["kl_qp"]["std"]
  pis = data["pis"]
  assert fits[f"jsd_{pis[0]:.2f}"]["std"] > 1.5  # pi = 0.1: covering
  assert fits[f"jsd_{pis[-1]:.2f}"]["std"] < 0.7  # pi = 0.9: seeking


def test_theory_vs_practice_gaps_are_small_and_nonnegative(quick_output):
  data = quick_output("theory_vs_practice")["data"]
  assert data["results"]
  for r in data["results"]:
    # V at D* from V's definition = the JSD_pi identity on the same grid.
    assert r["value_at_d_star"] == pytest.approx(r["theory_value"], abs=1e-9)
    if r["fake_fraction"] == 0.5:
      assert r["theory_value"] == pytest.approx(
          -math.log(4) + 2 * r["jsd"], abs=1e-9)
    # D* maximises V, so the trained D cannot beat it (quadrature is exact).
    assert r["gap"] >= -1e-7, r
    # Loose: the quick version trains small Ds for 400 steps (full: < 0.02).
    assert r["gap"] < 0.05, r


def _figure1_numbers(data, stage):
  """A panel's numbers recomputed from the JSON's arrays with NumPy alone."""
  p, p_g = np.asarray(data["p_data"]), np.asarray(stage["p_g"])
  d, d_star = np.asarray(stage["d"]), np.asarray(stage["d_star"])
  total = p + p_g
  support = total >= data["support_fraction"] * total.max()
  m = 0.5 * total
  kl = lambda a: np.sum(np.where(a > 0, a * np.log(np.where(a > 0, a, 1)
                                                    / np.where(a > 0, m, 1)),
                                 0.0)) * data["dx"]
  return dict(jsd=0.5 * kl(p) + 0.5 * kl(p_g),
              max_abs_d_minus_d_star=np.max(np.abs(d - d_star)[support]),
              max_abs_d_minus_half=np.max(np.abs(d - 0.5)[support]),
              support=[data["x"][i] for i in np.flatnonzero(support)[[0, -1]]])


def test_figure1_panels_are_one_run_with_d_star_the_density_ratio(
    quick_output):
  data = quick_output("goodfellow2014_figure1")["data"]
  p = np.asarray(data["p_data"])
  dx = data["dx"]
  assert p.sum() * dx == pytest.approx(1.0, abs=1e-9)
  stages = data["stages"]
  assert [s["panel"] for s in stages] == list("abcd")
  settings = data["settings"]
  assert [s["step"] for s in stages] == [settings["stage_a"]] * 3 + [
      settings["steps"]]
  for stage in stages:
    p_g = np.asarray(stage["p_g"])
    assert np.all(p_g >= 0) and p_g.sum() * dx == pytest.approx(1.0, abs=1e-9)
    total = p + p_g
    want = np.where(total > 0, p / np.where(total > 0, total, 1), 0.5)
    np.testing.assert_allclose(stage["d_star"], want, rtol=1e-9, atol=1e-12)
    d = np.asarray(stage["d"])
    assert np.all((d >= 0) & (d <= 1))
    assert stage["value_d_star"] == pytest.approx(
        stage["minus_log4_plus_2jsd"], abs=1e-9)
    assert stage["value_d"] <= stage["value_d_star"] + 1e-9
    numbers = _figure1_numbers(data, stage)
    for key, value in numbers.items():
      assert stage[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key
  a, b, c, _ = stages
  # (b) is (a)'s G with D retrained; (c) is (b)'s D with G updated.
  assert data["summary"]["params_equal"] == dict(g_b_is_g_a=True,
                                                 d_c_is_d_b=True)
  np.testing.assert_array_equal(b["p_g"], a["p_g"])
  np.testing.assert_array_equal(c["d"], b["d"])
  assert not np.array_equal(c["p_g"], b["p_g"])
  history = data["inner_loop_history"]
  assert history[0]["max_abs_d_minus_d_star"] == pytest.approx(
      a["max_abs_d_minus_d_star"], rel=1e-12)
  assert history[-1]["max_abs_d_minus_d_star"] == pytest.approx(
      b["max_abs_d_minus_d_star"], rel=1e-12)
  checks = data["summary"]["checks"]
  assert set(checks) == {"b_max_abs_d_minus_d_star", "d_jsd",
                         "d_max_abs_d_minus_half"}
  for check in checks.values():
    assert check["met"] == (check["value"] < check["tolerance"])


@pytest.fixture(scope="module")
def figure1_full(tmp_path_factory):
  """The full Figure 1 run (it raises if a tolerance is missed)."""
  from experiments.figures import goodfellow2014_figure1 as figure1  # pylint: disable=g-import-not-at-top
  outdir = str(tmp_path_factory.mktemp("figure1_full"))
  figure1.main(outdir=outdir, quick=False)
  with open(os.path.join(outdir, figure1.NAME + ".json")) as f:
    return json.load(f)


@pytest.mark.slow
@pytest.mark.parametrize("panel, key, tolerance", [
    ("b", "max_abs_d_minus_d_star", 0.05),  # D trained to convergence: D*
    ("d", "jsd", 0.01),  # the end: p_g = p_data ...
    ("d", "max_abs_d_minus_half", 0.05),  # ... and D = 1/2
])
def test_figure1_full_run_meets_the_tolerances(figure1_full, panel, key,
                                               tolerance):
  stage = {s["panel"]: s for s in figure1_full["stages"]}[panel]
  value = _figure1_numbers(figure1_full, stage)[key]
  assert value < tolerance, (panel, key, value)
  assert figure1_full["summary"]["checks"][f"{panel}_{key}"]["met"]


@pytest.mark.slow
def test_figure1_full_run_tells_the_papers_story(figure1_full):
  a, b, c, d = figure1_full["stages"]
  # (a): near convergence, D only partially accurate; the inner loop
  # brings it onto D*.
  assert a["jsd"] < 0.1
  assert a["max_abs_d_minus_d_star"] > 2 * b["max_abs_d_minus_d_star"]
  # (c): D's gradient moved G towards the data.
  assert c["jsd"] < b["jsd"]
  assert d["jsd"] < c["jsd"]


def test_arjovsky_bottou_records_both_gradient_norms(quick_output):
  _skip_without_data("arjovsky_bottou2017")
  data = quick_output("arjovsky_bottou2017")["data"]
  settings = data["settings"]
  num_t = settings["d_iterations"] // settings["measure_every"] + 1
  for name in ("saturating", "non_saturating"):
    norms = np.asarray(data["metrics"][name])
    assert norms.shape == (len(settings["stages"]), settings["repeats"], num_t)
    assert np.all(np.isfinite(norms)) and np.all(norms > 0)
  accuracy = np.asarray(data["metrics"]["d_accuracy"])
  assert np.all((accuracy >= 0) & (accuracy <= 1))
  np.testing.assert_array_equal(data["iterations"],
                                np.arange(num_t) * settings["measure_every"])


@pytest.mark.slow
def test_f_gan_critics_reach_every_divergence_from_below(quick_output):
  data = quick_output("f_gan_theory")["data"]
  results = {(r["objective"], r["generator"]): r for r in data["results"]}
  assert {o for o, _ in results} == set(data["objectives"])
  for (objective, _), r in results.items():
    assert r["gap"] == pytest.approx(r["theory"] - r["trained"], abs=1e-12)
    if objective == "wasserstein":
      # The penalty is soft, so the critic may overshoot W1 a little; the
      # quick version reaches ~3% (full target: 5%).
      assert abs(r["relative_gap"]) < 0.1, r
    else:
      # Fenchel-Young holds at every grid point, so the bound of any critic
      # is below D_f on the grid: only rounding can make the gap negative.
      assert r["gap"] >= -1e-6, r
      # Loose: 400 steps of a 32-32 critic (~0.1 nats on Pearson chi^2 =
      # 1.72 for the shifted generator); the full version meets 0.02 nats
      # or 2% of D_f.
      assert r["gap"] < 0.15 * max(1.0, r["theory"]), r
  # The grid's values are the closed forms for N(1, 0.5^2) vs N(1.5, 0.5^2).
  shift, var = 0.5, 0.25
  closed = dict(kl=shift**2 / (2 * var), reverse_kl=shift**2 / (2 * var),
                pearson=math.expm1(shift**2 / var),
                neyman=math.expm1(shift**2 / var),
                squared_hellinger=2 * (1 - math.exp(-shift**2 / (8 * var))),
                wasserstein=shift)
  for objective, value in closed.items():
    assert results[(objective, "shifted N(1.5, 0.5^2)")]["theory"] == (
        pytest.approx(value, rel=1e-3)), objective


@pytest.mark.slow
def test_gaussian_fit_kl_covers_reverse_kl_seeks_jsd_between(quick_output):
  data = quick_output("nowozin2016_gaussian_fit")["data"]
  fits, p = data["fits"], data["p"]
  # KL(P||Q) over Gaussians is maximum likelihood: moment matching.
  assert fits["kl"]["mean"] == pytest.approx(p["mean"], abs=1e-3)
  assert fits["kl"]["std"] == pytest.approx(p["std"], rel=1e-3)
  assert fits["kl"]["std"] > fits["jensen_shannon"]["std"] > (
      fits["reverse_kl"]["std"])
  # Reverse KL sits on the heavy wide mode, with about its width.
  heavy = int(np.argmax(p["weights"]))
  assert fits["reverse_kl"]["mean"] == pytest.approx(p["means"][heavy],
                                                     abs=0.1)
  assert fits["reverse_kl"]["std"] == pytest.approx(p["stds"][heavy],
                                                    rel=0.1)
  assert fits["reverse_kl"]["behaviour"].startswith(f"seeks mode {heavy}")
  for fit in fits.values():
    values = [m["value"] for m in fit["local_minima"]]
    assert values == sorted(values) and fit["divergence"] == values[0]
  trained = fits["kl"]["gan"]
  assert math.isfinite(trained["mean"]) and trained["std"] > 0


def _ok(outdir, quick):
  path = os.path.join(outdir, f"ok_{int(quick)}.txt")
  with open(path, "w") as f:
    f.write("ok")
  return dict(files=[path], summary={})


def _broken(outdir, quick):
  del outdir, quick
  raise RuntimeError("this figure is broken")


def test_make_all_only_runs_the_named_figures_and_reports_failures(
    tmp_path, capsys):
  registry = {"first": _ok, "broken": _broken, "last": _ok}
  status = make_all.main(["--only", "broken,last", "--outdir", str(tmp_path),
                          "--quick"], registry=registry)
  assert status == 1
  out, err = capsys.readouterr()
  assert "== first" not in out  # not selected
  assert "== broken" in out and "== last" in out  # kept going after a failure
  assert "RuntimeError: this figure is broken" in err
  assert "FAILED: broken" in err
  assert os.listdir(tmp_path) == ["ok_1.txt"]
  assert make_all.main(["--only", "first", "--outdir", str(tmp_path)],
                       registry=registry) == 0


def test_make_all_rejects_unknown_names(capsys):
  with pytest.raises(SystemExit) as exit_info:
    make_all.main(["--only", "nope"], registry={"first": _ok})
  assert exit_info.value.code == 2
  assert "unknown figure(s) nope; valid: first" in capsys.readouterr().err


def test_configs_still_load_by_path_with_experiments_a_package():
  from gan_jax import config as config_lib  # pylint: disable=g-import-not-at-top
  config = config_lib.from_file(os.path.join(ROOT, "experiments", "configs",
                                             "gaussian_1d.py"))
  assert config.data.name == "gaussian_1d"


def test_configs_find_the_presets_from_any_working_directory(tmp_path):
  """A config file loaded by path imports experiments.presets, also where
  the repository's root is not on sys.path (another working directory)."""
  ring = os.path.join(ROOT, "experiments", "configs", "ring.py")
  code = ("import sys\n"
          "from gan_jax import config\n"
          f"print(config.from_file({ring!r}, 'rpgan').loss.name)\n"
          "print(sys.modules['experiments.presets'].__file__)\n")
  env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
  out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                       capture_output=True, text=True, check=True, timeout=120)
  assert out.stdout.splitlines() == [
      "relativistic", os.path.join(ROOT, "experiments", "presets.py")]


# ----------------------------------------------------------------------------
# The figures made from sweeps, on sweep folders prepared here.
# ----------------------------------------------------------------------------


def _toy_summary(modes, hq, rkl):
  return dict(step=10, steps=10, evaluation=dict(
      modes=modes, high_quality_pct=hq, reverse_kl=rkl, num_modes=8))


def test_mode_collapse_table_is_mean_and_stderr_beside_the_papers(tmp_path):
  from experiments.figures import mode_collapse_table as table  # pylint: disable=g-import-not-at-top
  runs = str(tmp_path / "runs")
  seeds = [(8, 97.0, 0.002), (8, 96.0, 0.003), (7, 95.5, 0.010)]
  write_fake_sweep(os.path.join(runs, "ring_seeds"),
                   [({"seed": i}, "finished", _toy_summary(*v))
                    for i, v in enumerate(seeds)]
                   + [({"seed": 3}, "unfinished", None)])  # left out
  write_fake_sweep(os.path.join(runs, "ring_table"), [
      ({"loss.name": loss, "train.discriminator_steps": 2,
        "loss.fake_fraction": 0.25, "seed": s}, "finished",
       _toy_summary(m, hq, 0.1))
      for loss, values in (("saturating", ((1, 99.0), (2, 98.0))),
                           ("non_saturating", ((8, 90.0), (6, 80.0))))
      for s, (m, hq) in enumerate(values)])
  write_fake_sweep(os.path.join(runs, "ring_wgan_gp"), [
      ({"seed": s}, "finished", _toy_summary(8, hq, 0.001))
      for s, hq in enumerate((98.0, 99.0))])
  result = table.main(outdir=str(tmp_path / "out"), runs_dir=runs,
                      no_run=True)
  assert result["summary"]["rows"] == 4
  with open(os.path.join(tmp_path, "out", "mode_collapse_table.json")) as f:
    rows = json.load(f)["rows"]
  ours = [r for r in rows if r["source"] == "this codebase"]
  headline = ours[0]
  assert headline["dataset"] == "ring" and headline["runs"] == 3
  assert headline["num_modes"] == 8  # from the evaluations, for the plot
  for key, column in (("modes", 0), ("high_quality_pct", 1),
                      ("reverse_kl", 2)):
    values = np.array([v[column] for v in seeds])
    assert headline[key] == pytest.approx(values.mean(), rel=1e-12)
    assert headline[key + "_stderr"] == pytest.approx(
        values.std(ddof=1) / math.sqrt(3), rel=1e-12)
  by_method = {r["method"]: r for r in ours[1:]}
  # A game's own sweep is its row, labelled by the game, after the headline.
  wgan = ours[1]
  assert wgan["method"] == "ours: WGAN-GP (Gulrajani et al. 2017)"
  assert (wgan["runs"], wgan["high_quality_pct"]) == (2, 98.5)
  assert wgan["high_quality_pct_stderr"] == pytest.approx(0.5, rel=1e-12)
  sat = by_method["ours: saturating, k=2, pi=0.25"]
  assert (sat["modes"], sat["high_quality_pct"]) == (1.5, 98.5)
  assert by_method["ours: non_saturating, k=2, pi=0.25"]["modes"] == 7.0
  # Every published row of both papers, for both data sets (grid has no
  # runs of ours here, but keeps the papers' rows).
  published = {(r["dataset"], r["method"], r["source"]):
               (r["modes"], r["high_quality_pct"]) for r in rows
               if r["source"] != "this codebase"}
  assert published == {(d, m, s): v for (m, s, d), v in
                       table.PUBLISHED.items()}
  assert published[("grid", "PacGAN4", "Lin et al. 2018")] == (24.8, 93.6)
  with open(os.path.join(tmp_path, "out", "mode_collapse_table.md")) as f:
    text = f.read()
  assert "| ring | ours: ring.py as shipped | this codebase | 3 | 7.7 ± 0.3 |" \
      in text
  assert os.path.getsize(result["files"][0]) > 0


def test_sweep_figures_launch_the_configs_sweeps(tmp_path, monkeypatch):
  from experiments.figures import common  # pylint: disable=g-import-not-at-top
  from experiments.figures import mode_collapse_table as table  # pylint: disable=g-import-not-at-top
  calls = []

  def fake_run(command, cwd, check):
    calls.append(command)
    assert cwd == common.ROOT and not check
    return type("Done", (), {"returncode": 3})()

  monkeypatch.setattr(common.subprocess, "run", fake_run)
  result = table.main(outdir=str(tmp_path), runs_dir=str(tmp_path / "r"),
                      parallel=2)
  games = ("saturating", "rpgan", "wgan_gp")
  assert set(table.GAMES) == set(presets.TOY_OBJECTIVES) - {"ns_r1"}
  assert result["summary"]["sweep_status"] == {
      f"{d}:{arg}": 3 for d in ("ring", "grid")
      for arg in ("seeds", *games, "table")}
  launch, config, *rest = calls[4][1:]
  assert launch == os.path.join(common.ROOT, "launch.py")
  assert config == "--config=" + os.path.join(
      common.CONFIG_DIR, "ring.py") + ":table"
  assert rest == ["--sweep", f"--workdir={tmp_path / 'r' / 'ring_table'}",
                  "--parallel=2"]
  # A game's sweep: that game's config over the seeds, in <data>_<game>.
  assert calls[3][2:4] == [
      "--config=" + os.path.join(common.CONFIG_DIR, "ring.py") + ":wgan_gp",
      "--sweep"]
  assert calls[3][4] == f"--workdir={tmp_path / 'r' / 'ring_wgan_gp'}"
  # A smaller table: 2 seeds of shorter runs, in a folder of its own.
  calls.clear()
  table.main(outdir=str(tmp_path), runs_dir=str(tmp_path / "r"),
             datasets=("grid",), table="table2", table_steps=10_000)
  assert [c[2].rsplit(":", 1)[1] for c in calls] == [
      "seeds", *games, "table2"]
  assert calls[4][3:] == [
      "--sweep", f"--workdir={tmp_path / 'r' / 'grid_table2_10000steps'}",
      "--parallel=1", "--config.train.steps=10000"]


@pytest.mark.slow
def test_fashion_curves_plot_the_evaluations_of_each_loss(tmp_path):
  from experiments.figures import fashion_mnist_curves as curves  # pylint: disable=g-import-not-at-top
  from gan_jax import config as config_lib  # pylint: disable=g-import-not-at-top
  from gan_jax import train  # pylint: disable=g-import-not-at-top
  write_idx_images(str(tmp_path / "idx"))
  sweep_dir = str(tmp_path / "runs" / "fashion_mnist_mlp_losses")
  workdirs = write_fake_sweep(
      sweep_dir, [({"loss.name": loss}, "unfinished", None)
                  for loss in ("saturating", "non_saturating")], steps=2)
  curve = {}
  for i, (workdir, loss) in enumerate(zip(workdirs, ("saturating",
                                                     "non_saturating"))):
    config = config_lib.from_file(os.path.join(
        ROOT, "experiments", "configs", "fashion_mnist_mlp.py"))
    config.loss.name = loss
    config.data.data_dir = str(tmp_path / "idx")
    config.model.generator_widths = (8,)
    config.model.discriminator_widths = (8,)
    config.model.latent_dim = 4
    config.train.update(batch_size=8, steps=2, steps_per_call=1, log_every=1,
                        checkpoint_every=0, sample_every=0)
    config.eval.update(parzen=False, features=False, image_num_samples=16,
                       num_sample_images=4)
    train.train_and_evaluate(config, workdir, compiler_options={
        "xla_backend_optimization_level": 0})
    # The metrics are tested in test_evaluation / test_train; stand-ins here.
    curve[loss] = [dict(step=s, parzen_ll=100.0 * s + i, real_parzen_ll=350.0,
                        fid=50.0 / s + i, real_fid=0.3) for s in (1, 2)]
    with open(os.path.join(workdir, train.EVAL_FILE), "w") as f:
      f.writelines(json.dumps(r) + "\n" for r in curve[loss])
  result = curves.main(outdir=str(tmp_path / "out"),
                       runs_dir=str(tmp_path / "runs"), models="mlp",
                       no_run=True)
  final = result["summary"]["final"]
  assert final["mlp/saturating"] == dict(parzen_ll=200.0, real_parzen_ll=350.0,
                                         fid=25.0, real_fid=0.3)
  assert final["mlp/non_saturating"]["parzen_ll"] == 201.0
  with open(os.path.join(tmp_path, "out", "fashion_mnist_curves.json")) as f:
    runs = json.load(f)["runs"]
  assert [(r["loss"], r["status"], r["steps"]) for r in runs] == [
      ("saturating", "finished", [1, 2]), ("non_saturating", "finished", [1, 2])]
  for path in result["files"]:
    assert os.path.getsize(path) > 0
  with pytest.raises(ValueError, match="biggan"):
    curves.main(outdir=str(tmp_path / "out"), models="mlp,biggan",
                no_run=True)


@pytest.mark.slow
def test_conditional_figure_plots_each_variant(tmp_path):
  from experiments.configs import fashion_mnist_conditional as cond  # pylint: disable=g-import-not-at-top
  from experiments.figures import conditional_fashion_mnist as figure  # pylint: disable=g-import-not-at-top
  from gan_jax import train  # pylint: disable=g-import-not-at-top
  write_idx_dataset(str(tmp_path / "idx"), num_classes=10)
  sweep_dir = str(tmp_path / "runs" / figure.SWEEP_DIR)
  runs = [(dict(overrides, seed=seed), "unfinished", None)
          for name, overrides in cond.VARIANTS.items() for seed in (0, 1)]
  workdirs = write_fake_sweep(sweep_dir, runs, steps=2)
  fid = {}
  for workdir, (overrides, _, _) in zip(workdirs, runs):
    config = cond.get_config()
    config.update_from_flattened_dict(
        {k: v for k, v in overrides.items() if k != "seed"})
    config.seed = overrides["seed"]
    config.data.data_dir = str(tmp_path / "idx")
    config.model.update(generator_base_features=4,
                        discriminator_base_features=4, latent_dim=4)
    config.train.update(batch_size=8, steps=2, log_every=1,
                        checkpoint_every=0, sample_every=0)
    config.eval.update(metrics=("fid",), image_num_samples=16,
                       num_sample_images=4, feature_extractor_steps=2)
    summary = train.train_and_evaluate(config, workdir, compiler_options={
        "xla_backend_optimization_level": 0})
    fid[(figure.variant_of(overrides), overrides["seed"])] = (
        summary["evaluation"]["fid"])
  result = figure.main(outdir=str(tmp_path / "out"),
                       runs_dir=str(tmp_path / "runs"), no_run=True)
  with open(os.path.join(tmp_path, "out", figure.NAME + ".json")) as f:
    table = json.load(f)["table"]
  assert set(table) == {"unconditional", "projection", "concat", "acgan",
                        "acgan_real"}
  for name in table:
    values = [fid[(name, 0)], fid[(name, 1)]]
    assert table[name]["fid"]["values"] == values
    assert math.isclose(table[name]["fid"]["mean"], np.mean(values))
    assert math.isclose(table[name]["fid"]["stderr"],
                        np.std(values, ddof=1) / math.sqrt(2))
  assert result["summary"]["acgan/fid"] == round(np.mean(
      [fid[("acgan", 0)], fid[("acgan", 1)]]), 4)
  for path in result["files"]:
    assert os.path.getsize(path) > 0


@pytest.mark.slow
def test_seed_notebooks_figure(tmp_path, monkeypatch):
  """The table holds each run's final values; W1-hat is -d_loss averaged
  over the window before each evaluation, and its Spearman correlation with
  FID is scipy's."""
  import scipy.stats  # pylint: disable=g-import-not-at-top
  from experiments.configs import seed_notebook_cgan, seed_notebook_gan, seed_notebook_wgan  # pylint: disable=g-import-not-at-top
  from experiments.figures import seed_notebooks as figure  # pylint: disable=g-import-not-at-top
  from gan_jax import train  # pylint: disable=g-import-not-at-top
  write_idx_dataset(str(tmp_path / "idx"), num_classes=10)
  configs = {"gan": seed_notebook_gan, "cgan": seed_notebook_cgan,
             "wgan": seed_notebook_wgan}
  seeds = {"gan": (0,), "cgan": (0,), "wgan": (0, 1)}
  summaries = {}
  for system, module in configs.items():
    sweep_dir = figure.sweep_dir_of(str(tmp_path / "runs"), system)
    runs = [(dict(seed=seed), "unfinished", None) for seed in seeds[system]]
    for workdir, seed in zip(write_fake_sweep(sweep_dir, runs, steps=6),
                             seeds[system]):
      config = module.get_config()
      config.seed = seed
      config.data.data_dir = str(tmp_path / "idx")
      config.model.update(generator_widths=(8,), discriminator_widths=(8,),
                          latent_dim=4)
      config.train.update(batch_size=8, steps=6, log_every=1,
                          checkpoint_every=0, sample_every=0)
      config.eval.update(metrics=("fid",) + (
          ("class_accuracy",) if system == "cgan" else ()), every=2,
                         image_num_samples=16, feature_extractor_steps=2)
      summaries[(system, seed)] = train.train_and_evaluate(
          config, workdir, compiler_options={
              "xla_backend_optimization_level": 0})["evaluation"]
  # The two log rows before each evaluation.
  monkeypatch.setattr(figure, "W1_WINDOW", 2)
  result = figure.main(outdir=str(tmp_path / "out"),
                       runs_dir=str(tmp_path / "runs"), no_run=True)
  with open(tmp_path / "out" / (figure.NAME + ".json")) as f:
    written = json.load(f)
  for system in configs:
    fids = [summaries[(system, s)]["fid"] for s in seeds[system]]
    assert written["tables"][system]["fid"]["values"] == fids
  for system in configs:
    for histogram in written["class_histograms"][system]:
      assert len(histogram["fractions"]) == 10
      assert sum(histogram["fractions"]) == pytest.approx(1.0)
  assert "class_accuracy" in written["tables"]["cgan"]
  assert "class_accuracy" not in written["tables"]["gan"]
  for pair in written["wgan_w1_fid"]:
    workdir = os.path.join(figure.sweep_dir_of(str(tmp_path / "runs"),
                                               "wgan"), f"seed={pair['seed']}")
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
      rows = {r["step"]: r for r in map(json.loads, f)}
    assert pair["steps"] == [2, 4, 6]
    for step, w1 in zip(pair["steps"], pair["w1"]):
      assert w1 == pytest.approx(-np.mean([rows[step - 1]["d_loss"],
                                           rows[step]["d_loss"]]))
    assert pair["spearman"] == pytest.approx(
        scipy.stats.spearmanr(pair["w1"], pair["fid"])[0])
  assert result["summary"]["wgan/spearman_w1_fid_pooled"] == round(
      scipy.stats.spearmanr(
          sum((p["w1"] for p in written["wgan_w1_fid"]), []),
          sum((p["fid"] for p in written["wgan_w1_fid"]), []))[0], 3)
  for path in result["files"]:
    assert os.path.getsize(path) > 0


def test_rankdata_matches_scipy():
  import scipy.stats  # pylint: disable=g-import-not-at-top
  from experiments.figures import seed_notebooks as figure  # pylint: disable=g-import-not-at-top
  values = [3.0, 1.0, 2.0, 2.0, 5.0, 1.0]
  np.testing.assert_array_equal(figure.rankdata(values),
                                scipy.stats.rankdata(values))
  assert figure.spearman([1, 2, 3, 4], [10, 30, 20, 40]) == pytest.approx(
      scipy.stats.spearmanr([1, 2, 3, 4], [10, 30, 20, 40])[0])
