"""benchmarks/time_to_accuracy.py and the pieces it uses (time_to_threshold, the plot)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from benchtools import load_benchmark, run_benchmark

from wic import config
from wic.evaluation import metrics, plots
from wic.experiments import results

ROOT = Path(__file__).resolve().parents[1]
ROWS = [
    {"recipe": "a", "epoch": 1, "elapsed_s": 10.0, "test_accuracy": 0.70, "source": "measured",
     "model": "net"},
    {"recipe": "a", "epoch": 2, "elapsed_s": 20.0, "test_accuracy": 0.86, "source": "measured"},
    {"recipe": "a", "epoch": 3, "elapsed_s": 30.0, "test_accuracy": 0.84, "source": "measured"},
    {"recipe": "a", "epoch": "final", "elapsed_s": 35.0, "test_accuracy": 0.91, "source": "measured"},
    {"recipe": "b", "epoch": 1, "elapsed_s": 5.0, "test_accuracy": 0.95, "source": "recorded (log)"},
]


def test_time_to_threshold_is_the_first_crossing_of_that_run():
    assert metrics.time_to_threshold(ROWS, "a", 0.78) == 20.0
    assert metrics.time_to_threshold(ROWS, "a", 0.90) == 35.0
    assert metrics.time_to_threshold(ROWS, "a", 0.95) is None
    assert metrics.time_to_threshold(ROWS, "b", 0.78) == 5.0


def test_thresholds_and_targets_are_defined_once():
    assert metrics.TIME_TO_ACCURACY_THRESHOLDS == (0.78, 0.85, 0.90, 0.94)
    assert metrics.TIME_TO_ACCURACY_TARGETS == ((0.90, 12 * 60), (0.94, 45 * 60))
    assert results.THRESHOLDS is metrics.TIME_TO_ACCURACY_THRESHOLDS
    assert results.TARGETS is metrics.TIME_TO_ACCURACY_TARGETS
    assert results.time_to_threshold is metrics.time_to_threshold


def test_plot_draws_each_run_and_each_target(tmp_path):
    fig = plots.time_to_accuracy(ROWS, ["a", "b"], tmp_path / "t.png", targets=((0.9, 60),),
                                 title="t")
    assert (tmp_path / "t.png").stat().st_size > 10_000
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend[0] == "a (net)" and legend[1].startswith("b (recorded run")
    assert "target: ≥ 90% within 1 min" in legend
    assert fig.axes[0].get_title() == "t"


def test_a_recipes_repeats_share_a_colour_a_legend_entry_and_one_mean_label():
    def run(label, acc, end_s):
        return [{"recipe": label, "epoch": 1, "elapsed_s": 10.0, "test_accuracy": 0.5, "source": "measured"},
                {"recipe": label, "epoch": "final", "elapsed_s": end_s, "test_accuracy": acc,
                 "source": "measured"}]
    rows = run("a", 0.90, 30.0) + run("a_seed1", 0.92, 32.0) + run("b", 0.80, 40.0)
    fig = plots.time_to_accuracy(rows, ["a", "a_seed1", "b"], targets=(),
                                 names={"a": "A", "a_seed1": "A, seed 1", "b": "B"})
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == \
        ["A (2 runs, other seeds lighter)", "B"]
    first, repeat, other = ax.get_lines()[:3]
    assert first.get_color() == repeat.get_color() != other.get_color()
    assert repeat.get_alpha() < 1 and first.get_alpha() in (None, 1.0)
    ends = sorted(t.get_text() for t in ax.texts if t.get_text().endswith(("%", ")")))
    assert "91.0% (mean of 2)" in ends and "80.0%" in ends and "90.0%" not in ends


def test_the_figure_is_named_after_the_csv_unless_given(tmp_path, monkeypatch, capsys):
    """A race written to its own CSV draws its own figure: without --plot, the CSV's name in the
    figures folder (WIC_FIGURES_DIR), never another race's figure."""
    tta = load_benchmark("time_to_accuracy.py")
    monkeypatch.setenv("WIC_FIGURES_DIR", str(tmp_path / "figs"))
    table = results.write_rows(tmp_path / "my_race.csv",
                               [dict(r, train_s=r["elapsed_s"], eval_s=0.0) for r in ROWS])
    assert tta.main(["--plot-from-csv", "--csv", str(table), "--targets"]) == 0
    assert sorted(p.name for p in (tmp_path / "figs").iterdir()) == ["my_race.png"]
    assert tta.main(["--plot-from-csv", "--csv", str(table), "--targets",
                     "--plot", str(tmp_path / "mine.png")]) == 0
    assert (tmp_path / "mine.png").is_file() and len(list((tmp_path / "figs").iterdir())) == 1
    assert f"wrote {table} and {tmp_path / 'mine.png'}" in capsys.readouterr().out
    import matplotlib.pyplot as plt

    plt.close("all")  # the script leaves its figure open outside a notebook


def _run(tmp_path: Path, name: str, *args: str) -> tuple[str, list[dict]]:
    out = tmp_path / name
    return run_benchmark("time_to_accuracy.py", out, out / "t.csv", "--run", "seed:3=seed_v1_3",
                         "--train-subset", "500", "--test-subset", "1000", "--runs-dir", str(out / "runs"),
                         "--csv", str(out / "t.csv"), "--plot", str(out / "t.png"),
                         "--verbose", "0", *args)


@pytest.mark.slow
@pytest.mark.integration
@pytest.mark.skipif(not os.environ.get("WIC_DATA_DIR"), reason="WIC_DATA_DIR is not set (CI sets it)")
def test_stop_at_ends_a_run_at_its_first_checkpoint_at_the_target(tmp_path):
    """On the real data (500 training images; the first 1,000 test images after every epoch)."""
    stdout, rows = _run(tmp_path, "full")
    assert [r["epoch"] for r in rows] == ["1", "2", "3", "final"]
    assert {r["test_images"] for r in rows} == {"1000"}
    assert "test accuracies are on the first 1,000 test images (--test-subset)" in stdout
    assert {r["model"] for r in rows} == {"seed_v1_3"}
    final = rows[-1]  # what the run trained: the seed recipe, 3 epochs, on 500 images
    assert (final["named_recipe"], final["seed"]) == ("seed", str(config.DEFAULT_SEED))
    assert final["changes"].split() == ["epochs=3", "train_subset=500"]
    assert (tmp_path / "full" / "t.png").is_file()
    assert "time to accuracy" in stdout

    # 5% is below any 10-class model's accuracy on a balanced test set after an epoch
    stdout, rows = _run(tmp_path, "stopped", "--stop-at", "0.05", "--targets")
    assert [r["epoch"] for r in rows] == ["1", "final"]
    assert "reached 5.00%: stopping (--stop-at)" in stdout


@pytest.mark.slow
@pytest.mark.integration
@pytest.mark.skipif(not os.environ.get("WIC_DATA_DIR"), reason="WIC_DATA_DIR is not set (CI sets it)")
def test_final_evaluation_can_apply_tta_selectively(tmp_path):
    """Threshold 0 scores no image again: the final score is the plain net's, the same as the last
    checkpoint's without TTA (same weights: one epoch, no lookahead to move them at the end)."""
    out = tmp_path / "sel"
    _, rows = run_benchmark(
        "time_to_accuracy.py", out, out / "t.csv", "--run", "sel@fast:1=airbench_cpu_xs",
        "--set", "sel:lookahead=false,batch_size=250", "--train-subset", "500", "--test-subset", "2000",
        "--checkpoint-tta", "off",
        "--final-tta-threshold", "0", "--runs-dir", str(out / "runs"), "--csv", str(out / "t.csv"),
        "--plot", str(out / "t.png"), "--verbose", "0", "--targets")
    checkpoint, final = rows
    assert (checkpoint["epoch"], checkpoint["tta"], final["epoch"]) == ("1", "False", "final")
    assert final["tta"] == "selective (top probability < 0)"
    assert final["test_accuracy"] == checkpoint["test_accuracy"]


@pytest.mark.parametrize("args, message", [
    (["--stop-at", "78"], "--stop-at 78.0: accepted: an accuracy in (0, 1]"),
    (["--test-subset", "0"], "--test-subset 0: accepted: 1 to 10,000 (the first N test images"),
    (["--targets", "94@45"], "--targets '94@45': accepted: ACCURACY@MINUTES"),
    (["--run", "fast=airbench_cpu_s", "--set", "x:optimizer=muon"],
     "--set for x: no --run has that label"),
    (["--final-tta-threshold", "1.5"], "--final-tta-threshold 1.5: accepted: a probability in [0, 1]"),
    (["--final-tta-threshold", "0.5", "--save", "m"], "--final-tta-threshold with --save"),
    (["--final-tta-threshold", "0.5", "--run", "seed=seed_v1_3"],
     "--final-tta-threshold: no test-time augmentation to apply selectively in seed_v1_3"),
])
def test_bad_options_are_refused_before_training(args, message):
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "time_to_accuracy.py"), *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert message in proc.stderr


def _script():
    return load_benchmark("time_to_accuracy.py")


def _specs(*argv):
    import argparse

    ns = argparse.Namespace(run=[], set=[], epochs=None, seed=None, train_subset=None,
                            label_suffix="")
    for flag, value in zip(argv[::2], argv[1::2]):
        getattr(ns, flag).append(value)
    return _script().run_specs(ns)


def test_runs_get_labels_and_their_own_recipe_changes():
    from wic.training import recipes

    runs = _specs("run", "fast:2=airbench_cpu_s", "run", "muon2@fast:2=airbench_cpu_s",
                  "set", "muon2:optimizer=muon,batch_size=512", "set", "muon2:seed=3")
    (l1, m1, r1, n1), (l2, m2, r2, n2) = runs
    assert (l1, m1, l2, m2) == ("fast_2ep", "airbench_cpu_s", "muon2", "airbench_cpu_s")
    assert n1 == n2 == "fast"  # the named recipe each run's changes are recorded against
    assert r1 == recipes.FAST.with_(epochs=2)  # the plain run is untouched
    assert r2.changes(r1) == {"optimizer": "muon", "batch_size": 512, "seed": 3}


def test_the_csv_keeps_what_each_run_trained():
    """time_to_accuracy.py's record of a run: the named recipe, the seed and every other change,
    written as --set takes them, so run_record gives back the recipe the run trained."""
    from wic.training import recipes

    recipe = recipes.FAST94.with_(epochs=8, optimizer="muon", crop_size=24, crop_epochs=2.0, seed=2)
    record = _script().recipe_record(recipe, "fast94")
    assert record == {"named_recipe": "fast94", "seed": 2,
                      "changes": "optimizer=muon epochs=8 crop_size=24 crop_epochs=2.0"}
    back = results.run_record([{"recipe": "r", "epoch": "final", **record}], "r")
    assert recipes.FAST94.with_text(back["changes"]).with_(seed=back["seed"]) == recipe


@pytest.mark.parametrize("argv, message", [
    (("run", "fast=airbench_cpu_s", "set", "other:optimizer=muon"),
     "--set for other: no --run has that label (labels: fast)"),
    (("run", "fast=airbench_cpu_s", "set", "fast:optimizer"),
     "--set fast: 'optimizer': accepted: NAME=VALUE"),
    (("run", "fast=airbench_cpu_s", "set", "optimizer=muon"), "accepted: LABEL:FIELD=VALUE"),
    (("run", "fast=airbench_cpu_s", "set", "fast:optimiser=muon"), "optimiser"),
    (("run", "fast=airbench_cpu_s", "set", "fast:batch_size=many"), "batch_size"),
    (("run", "@fast=airbench_cpu_s",), "an empty LABEL before '@'"),
    (("run", "fast",), "accepted: [LABEL@]RECIPE[:EPOCHS]=MODEL"),
])
def test_bad_run_specs_are_refused_by_name(argv, message):
    with pytest.raises(ValueError, match=__import__("re").escape(message)):
        _specs(*argv)
