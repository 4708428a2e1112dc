"""benchmarks/optimizer_study.py: one row per run, validation kept apart from test, the clock."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from benchtools import run_benchmark


def _study(tmp_path: Path) -> tuple[str, list[dict]]:
    return run_benchmark(
        "optimizer_study.py", tmp_path, tmp_path / "study.csv", "--model", "airbench_cpu_xs",
        "--recipe", "fast", "--epochs", "1", "--variant", "tiny=train_subset=600,batch_size=100",
        "--seeds", "0", "--test-subset", "500", "--runs", str(tmp_path / "runs"),
        "--csv", str(tmp_path / "study.csv"))


@pytest.mark.slow
@pytest.mark.integration
@pytest.mark.skipif(not os.environ.get("WIC_DATA_DIR"), reason="WIC_DATA_DIR is not set (CI sets it)")
def test_a_run_is_recorded_once_with_validation_test_and_its_process_clock(tmp_path):
    """On the real data: one epoch of the narrow net on 600 images, a tenth held out, scored on
    the first 500 test images."""
    stdout, rows = _study(tmp_path)
    assert len(rows) == 1
    row = rows[0]
    assert (row["model"], row["variant"], row["changes"]) == (
        "airbench_cpu_xs", "tiny", "train_subset=600;batch_size=100")
    assert float(row["validation_split"]) == 0.1
    assert row["val_accuracy_per_epoch"] == f"{float(row['val_accuracy']):.4f}"  # one epoch
    assert 0.0 <= float(row["val_accuracy"]) <= 1.0 and 0.0 < float(row["test_accuracy"]) < 1.0
    assert row["test_images"] == "500"  # scored on the first 500 test images (--test-subset)
    # the process clock holds the training and the test scoring: longer than training alone
    assert float(row["process_seconds"]) > float(row["train_seconds"]) > 0
    assert "tiny seed 0: val" in stdout

    # a finished run is read back from its folder, not trained again nor appended twice
    stdout, rows = _study(tmp_path)
    assert len(rows) == 1 and "$ wic.cli train" not in stdout
    assert "already in study.csv for this CPU, not appended" in stdout

    # the same folder name on another CPU (the runs folder is not committed) is another run
    from wic.experiments import results

    rows[0]["cpu"] = "another CPU"
    results.write_rows(tmp_path / "study.csv", rows, list(rows[0]))
    stdout, rows = _study(tmp_path)
    assert len(rows) == 2 and rows[0]["cpu"] == "another CPU"
    assert rows[1]["run_dir"] == rows[0]["run_dir"] and rows[1]["cpu"] != "another CPU"
