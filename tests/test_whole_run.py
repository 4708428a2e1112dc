"""benchmarks/whole_run.py: whole `wic train` runs per setting of the fast kernels, and their summary."""

from __future__ import annotations

import csv
import json
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from wic.experiments import results
from wic.models import airbench

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import whole_run  # noqa: E402  (a script of benchmarks/, importable from there)


def test_every_setting_runs_in_every_position_once_in_three_repeats():
    settings = ["on", "no-xla", "off"]
    orders = [whole_run.rotated(settings, r) for r in range(3)]
    assert orders == [["on", "no-xla", "off"], ["no-xla", "off", "on"], ["off", "on", "no-xla"]]
    for pos in range(3):
        assert sorted(o[pos] for o in orders) == sorted(settings)


def test_each_settings_environment_turns_the_packages_switches_as_named():
    parent = {"PATH": "/bin", "TF_ENABLE_ONEDNN_OPTS": "0", "WIC_FAST_KERNELS": "0"}
    for setting in whole_run.SETTINGS:
        env = whole_run.setting_env(setting, parent)
        assert env["PATH"] == "/bin" and env["TF_CPP_MIN_LOG_LEVEL"] == "2"
        assert airbench.fast_kernels_from_env(env) == (setting != "off"), setting
        xla = setting in ("on", "onednn-off", "held")
        assert airbench.fast_kernels_from_env(env, name="WIC_XLA_GELU") == xla, setting
        # TensorFlow's oneDNN ops: off only where asked; otherwise wic.backend decides, so a
        # value the parent process holds is not passed on
        assert env.get("TF_ENABLE_ONEDNN_OPTS") == ("0" if setting == "onednn-off" else None)
    assert parent["TF_ENABLE_ONEDNN_OPTS"] == "0"  # the parent's own environment is untouched


def test_the_held_setting_adds_its_recipe_field_after_every_runs_own():
    common = {"optimizer": "muon", "batch_size": "512"}
    assert whole_run.recipe_set(common, "on") == common
    held = whole_run.recipe_set(common, "held")
    assert held == {**common, "whiten_bias_epochs": "0.001"} and common == {"optimizer": "muon",
                                                                           "batch_size": "512"}
    args = whole_run.argparse.Namespace(model="airbench_cpu_xs", recipe="fast", epochs=1, seed=0,
                                        train_subset=None)
    cmd = whole_run.train_command(args, "r", Path("/tmp/r"), held)
    sets = [cmd[i + 1] for i, a in enumerate(cmd) if a == "--set"]
    assert sets == ["optimizer=muon", "batch_size=512", "whiten_bias_epochs=0.001"]
    assert "--train-subset" not in cmd and cmd[cmd.index("--epochs") + 1] == "1"


def test_a_row_reads_the_fields_a_trained_models_card_holds():
    card = json.loads((ROOT / "models" / "airbench94_cpu_v2.json").read_text())
    row = whole_run.row_from_card(card)
    assert row["train_wall_time_s"] == card["train_wall_time_s"] > 0
    assert 0 < row["test_accuracy"] <= 1 and row["precision_used"] == card["precision_used"]
    del card["test_eval_s"]
    with pytest.raises(ValueError, match="card has no test_eval_s"):
        whole_run.row_from_card(card)


def write_runs(path: Path, runs: list[tuple[int, str, float, float]], epochs: int = 3,
               cpu: str = "CPU X", fields: str | None = None) -> None:
    """A whole_run.py CSV; with ``fields``, the ``set`` column (every run's ``--set`` fields) that
    files written before that option lack."""
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["cpu", "model", "recipe", "epochs", "seed", "train_images", "repeat",
                    "position", "setting", *(["set"] if fields is not None else []),
                    "train_wall_time_s", "data_load_s", "test_eval_s",
                    "test_accuracy", "epochs_run", "precision_used", "process_s", "load_before"])
        for rep, setting, train_s, acc in runs:
            w.writerow([cpu, "net", "fast", epochs, 0, "all", rep, 0, setting,
                        *([fields] if fields is not None else []), train_s, 2.0, 20.0,
                        acc, 3, "bfloat16", train_s + 60, 0.1])


def test_the_summary_pairs_each_setting_with_all_fast_kernels_within_a_repeat(tmp_path):
    path = tmp_path / "whole_run_x.csv"
    write_runs(path, [(0, "no-xla", 110.0, 0.85), (0, "on", 100.0, 0.86), (0, "off", 150.0, 0.85),
                      (1, "on", 120.0, 0.86), (1, "no-xla", 126.0, 0.85), (1, "off", 168.0, 0.85),
                      (2, "on", 90.0, 0.86), (2, "no-xla", 108.0, 0.85)])  # repeat 2 cut short
    w = results.whole_run(path)
    assert w["settings"] == ["on", "no-xla", "off"] and w["repeats"] == 3
    assert w["run"] == "net, fast recipe, 3 epochs"
    assert w["ratios"]["no-xla"] == pytest.approx([1.10, 1.05, 1.20])
    assert w["ratios"]["off"] == pytest.approx([1.50, 1.40])  # only the repeats that ran both
    assert w["gain"] == pytest.approx({"no-xla": 1.10, "off": 1.45})
    assert w["median"]["on"] == {"train_s": 100.0, "process_s": 160.0}
    table = results.whole_run_table(path)
    assert "--recipe fast --epochs 3 --seed 0`, all training images; 3 repeat(s)" in table
    assert "| all fast kernels | 100.0 | 160.0 | 86.00% | – |" in table
    assert "| fast kernels, GELU not compiled | 110.0 | 170.0 | 85.00% | **x1.100** (1.050–1.200) |" \
        in table
    assert "| Keras' ops | 159.0 | 219.0 | 85.00% | **x1.450** (1.400–1.500) |" in table
    (tmp_path / "empty.csv").write_text("cpu,setting\n")
    with pytest.raises(ValueError, match="empty.csv: no rows"):
        results.whole_run(tmp_path / "empty.csv")


def test_the_onednn_setting_is_named_and_explained_in_the_table(tmp_path):
    path = tmp_path / "whole_run_y.csv"
    write_runs(path, [(0, "on", 100.0, 0.86), (0, "onednn-off", 160.0, 0.86),
                      (1, "onednn-off", 150.0, 0.86), (1, "on", 96.0, 0.86)])
    w = results.whole_run(path)
    assert w["gain"]["onednn-off"] == pytest.approx(statistics.median([1.6, 150 / 96]))
    table = results.whole_run_table(path)
    assert "| all fast kernels, TensorFlow's oneDNN ops off | 155.0 |" in table
    assert "wic turns them on there" in table
    write_runs(path, [(0, "on", 100.0, 0.86), (0, "off", 160.0, 0.86)])
    assert "oneDNN" not in results.whole_run_table(path)  # said only where it was measured


def test_a_held_run_and_every_runs_recipe_fields_are_named_in_the_table(tmp_path):
    path = tmp_path / "whole_run_h.csv"
    write_runs(path, [(0, "on", 60.0, 0.81), (0, "held", 57.0, 0.79),
                      (1, "held", 56.0, 0.79), (1, "on", 58.0, 0.81)], epochs=1,
               cpu="AMD EPYC (AuthenticAMD, family 25 model 1)", fields="optimizer=muon batch_size=512")
    w = results.whole_run(path)
    assert w["ratios"]["held"] == pytest.approx([57 / 60, 56 / 58])
    # the figure's title and heading: one epoch, and the CPU's generation named
    assert w["run"] == "net, fast recipe, 1 epoch" and w["cpu"].startswith("AMD EPYC Zen 3 (")
    assert w["command"].startswith("`wic train --model net --recipe fast --epochs 1 --seed 0 "
                                   "--set optimizer=muon --set batch_size=512`")
    table = results.whole_run_table(path)
    assert table.startswith("CPU: **AMD EPYC Zen 3 (AuthenticAMD, family 25 model 1)**; ")
    assert "| all fast kernels, whitening bias held | 56.5 |" in table
    held = whole_run.SETTING_SET["held"]["whiten_bias_epochs"]  # the note names what the script sets
    assert f"`--set whiten_bias_epochs={held}`" in table and "oneDNN" not in table
    write_runs(path, [(0, "on", 100.0, 0.86), (0, "off", 160.0, 0.86)])  # no set column: none
    assert "--epochs 3 --seed 0`, all training images" in results.whole_run_table(path)
    assert "whitening" not in results.whole_run_table(path)


@pytest.mark.parametrize("args, said", [
    (["--settings", "no-xla", "off"], "--settings must hold 'on' and at least one other"),
    (["--settings", "on", "on"], "--settings must hold 'on' and at least one other"),
    (["--epochs", "0"], "--epochs and --repeats must be at least 1"),
    (["--model", "airbench94_cpu_widee"], "--model: not a registered net: airbench94_cpu_widee"),
    (["--set", "lookahead"], "--set 'lookahead': accepted: NAME=VALUE"),
    (["--settings", "on", "held", "--set", "whiten_bias_epochs=0.2"],
     "--set whiten_bias_epochs: the setting 'held' sets it itself"),
    # wic train --dry-run refuses it (no data loaded), before the first timed run
    (["--settings", "on", "held", "--set", "lookahed=false"], "unknown recipe field(s) lookahed"),
])
def test_bad_settings_or_nets_are_refused_before_anything_runs(tmp_path, args, said):
    out = tmp_path / "w.csv"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "whole_run.py"), *args,
                           "--csv", str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and said in proc.stderr, proc.stderr[-800:]
    assert not out.exists()
