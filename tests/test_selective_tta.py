"""Selective test-time augmentation: TTA only where the plain net is unsure (the 2025 record's
ingredient), its threshold rule, and its benchmark."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from benchtools import ROOT, run_benchmark

from wic.evaluation import metrics

TINY = {"widths": (8, 16, 16)}


def _probs(rows):
    return np.asarray(rows, np.float32)


def test_curve_takes_the_tta_prediction_below_the_threshold_only():
    plain = _probs([[0.9, 0.1], [0.55, 0.45], [0.4, 0.6], [0.3, 0.7]])
    full = _probs([[0.2, 0.8], [0.1, 0.9], [0.7, 0.3], [0.6, 0.4]])
    y = np.array([0, 1, 0, 1])
    curve = metrics.selective_tta_curve(plain, full, y, [0.0, 0.5, 0.56, 0.65, 1.01])
    assert [r["rerun_fraction"] for r in curve] == [0.0, 0.0, 0.25, 0.5, 1.0]
    # plain is right on images 0 and 3, TTA on 1 and 2; the least sure first: 1 (0.55), 2 (0.6)
    assert [r["accuracy"] for r in curve] == [0.5, 0.5, 0.75, 1.0, 0.5]
    assert metrics.choose_tta_threshold(curve, full_accuracy=0.5) == 0.0  # plain already ties
    assert metrics.choose_tta_threshold(curve, full_accuracy=0.75) == 0.56  # cheapest that keeps it
    assert metrics.choose_tta_threshold(curve, full_accuracy=1.0) == 0.65
    assert metrics.choose_tta_threshold(curve, full_accuracy=1.01) is None


def test_curve_refuses_scores_of_different_images():
    with pytest.raises(ValueError, match="same non-empty set"):
        metrics.selective_tta_curve(_probs([[1, 0]]), _probs([[1, 0], [0, 1]]), [0], [0.5])
    with pytest.raises(ValueError, match="same non-empty set"):
        metrics.selective_tta_curve(np.zeros((0, 2)), np.zeros((0, 2)), [], [0.5])


@pytest.fixture(scope="module")
def tta_model():
    pytest.importorskip("keras")
    from wic import models

    return models.build("airbench_cpu_s", tta=2, **TINY)


def test_selective_scores_again_only_the_unsure_images(tta_model):
    from wic.models.airbench import tta_disabled

    x = np.random.default_rng(0).integers(0, 256, (40, 32, 32, 3)).astype(np.uint8)
    full = metrics.predict_proba(tta_model, x)
    with tta_disabled(tta_model):
        plain = metrics.predict_proba(tta_model, x)
    assert not np.allclose(plain, full, atol=1e-5)  # TTA changes the scores of this net
    threshold = float(np.median(plain.max(1)))
    probs, rerun = metrics.predict_proba_selective(tta_model, x, threshold, batch_size=16)
    assert np.array_equal(rerun, plain.max(1) < threshold) and 0 < rerun.sum() < len(x)
    assert np.allclose(probs[rerun], full[rerun], atol=1e-5)
    assert np.allclose(probs[~rerun], plain[~rerun], atol=1e-5)
    # the extremes: none scored again is the plain net, every one is full TTA
    p0, r0 = metrics.predict_proba_selective(tta_model, x, 0.0)
    p1, r1 = metrics.predict_proba_selective(tta_model, x, 1.01)
    assert not r0.any() and np.allclose(p0, plain, atol=1e-5)
    assert r1.all() and np.allclose(p1, full, atol=1e-5)
    # the model is left with its TTA on
    assert np.allclose(metrics.predict_proba(tta_model, x), full, atol=1e-5)


def test_tta_disabled_restores_the_layers_even_after_an_error(tta_model):
    from wic.models.airbench import set_tta, tta_disabled

    x = np.random.default_rng(1).random((2, 32, 32, 3), dtype=np.float32)
    with_tta = np.asarray(tta_model(x))
    with pytest.raises(RuntimeError), tta_disabled(tta_model):
        assert not np.allclose(np.asarray(tta_model(x)), with_tta, atol=1e-5)
        raise RuntimeError("boom")
    assert np.allclose(np.asarray(tta_model(x)), with_tta, atol=1e-5)
    set_tta(tta_model, False)  # already off before: stays off after
    try:
        with tta_disabled(tta_model):
            pass
        assert not np.allclose(np.asarray(tta_model(x)), with_tta, atol=1e-5)
    finally:
        set_tta(tta_model, True)


def test_selective_refuses_bad_thresholds_and_nets_without_tta(tta_model):
    from wic import models

    x = np.zeros((2, 32, 32, 3), np.uint8)
    for bad in (-0.1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="threshold must be a probability"):
            metrics.predict_proba_selective(tta_model, x, bad)
    with pytest.raises(ValueError, match="no test-time augmentation"):
        metrics.predict_proba_selective(models.build("airbench_cpu_s", tta=0, **TINY), x, 0.5)
    with pytest.raises(ValueError, match="no test-time augmentation"):
        metrics.predict_proba_selective(models.build("seed_v1_3"), x, 0.5)


@pytest.mark.skipif(not os.environ.get("WIC_DATA_DIR"), reason="WIC_DATA_DIR is not set (CI sets it)")
def test_benchmark_chooses_on_held_out_images_and_times_the_selective_pass(tmp_path, tta_model):
    from wic import cards, models, training

    path = models.save(tta_model, tmp_path / "tiny_tta.keras")
    cards.write_card(path, {"recipe": training.FAST.with_(validation_split=0.02).to_dict()})
    models.save(models.build("airbench_cpu_s", tta=0, **TINY), tmp_path / "plain.keras")
    cards.write_card(tmp_path / "plain.keras", {"recipe": training.FAST.to_dict()})
    table, curve = tmp_path / "s.csv", tmp_path / "c.csv"
    out, rows = run_benchmark("selective_tta.py", tmp_path, table, str(path),
                              str(tmp_path / "plain.keras"), "--test-images", "300",
                              "--csv", str(table), "--curve-csv", str(curve))
    assert "plain: no test-time augmentation; skipped" in out
    [row] = rows
    assert row["model"] == "tiny_tta" and int(row["held_out_images"]) == 1000  # 2% of 50,000
    # the threshold met full TTA's held-out accuracy at the fewest images scored again
    assert float(row["held_out_selective"]) >= float(row["held_out_full"])
    assert 0 <= float(row["rerun_test"]) <= 1 and float(row["selective_s"]) > 0
    with open(curve) as fh:
        lines = fh.read().splitlines()
    assert lines[0] == "threshold,rerun_held_out,held_out_accuracy,rerun_test,test_accuracy"
    first, last = lines[1].split(","), lines[-1].split(",")
    assert float(first[1]) == 0.0 and float(last[1]) == 1.0  # from the plain net to full TTA
    assert float(last[2]) == pytest.approx(float(row["held_out_full"]), abs=1e-4)
    assert float(first[4]) == pytest.approx(float(row["test_plain"]), abs=1e-4)
    assert row["threshold_from"] == "held-out"
    # a threshold fixed beforehand is used as given, not chosen
    out, [row] = run_benchmark("selective_tta.py", tmp_path, table, str(path), "--test-images",
                               "300", "--threshold", "0.37", "--csv", str(table), "--curve-csv",
                               str(curve))
    assert "threshold fixed at 0.37 (--threshold), not chosen on these models" in out
    assert (float(row["threshold"]), row["threshold_from"]) == (0.37, "fixed")


@pytest.mark.parametrize("bad", ["1.5", "-0.1", "nan"])
def test_benchmark_refuses_a_fixed_threshold_that_is_not_a_probability(bad):
    proc = subprocess.run([sys.executable, "benchmarks/selective_tta.py", "any_model",
                           "--threshold", bad], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2
    assert f"--threshold must be a probability from 0 to 1, not {float(bad)}" in proc.stderr


def _bench_rows():
    base = {"cpu": "test CPU", "held_out_images": 5000, "test_images": 10000, "threshold": 0.56,
            "rerun_held_out": 0.2, "held_out_plain": 0.9, "held_out_full": 0.91,
            "held_out_selective": 0.91}
    return [{**base, "model": "a", "rerun_test": 0.2, "test_plain": 0.90, "test_full": 0.92,
             "test_selective": 0.921, "plain_s": 1.0, "full_s": 6.0, "selective_s": 2.4},
            {**base, "model": "b", "rerun_test": 0.3, "test_plain": 0.93, "test_full": 0.94,
             "test_selective": 0.939, "plain_s": 2.0, "full_s": 10.0, "selective_s": 5.0}]


def test_summary_table_and_figure_are_the_csv(tmp_path):
    from wic.evaluation import plots
    from wic.experiments import results

    path = results.write_rows(tmp_path / "selective_tta.csv", _bench_rows())
    s = results.selective_tta_summary(path)
    assert (s["models"], s["threshold"], s["held_out_images"], s["test_images"]) == (2, 0.56, 10000, 10000)
    assert s["rerun_test"] == pytest.approx(0.25) and s["rerun_test_range"] == (0.2, 0.3)
    assert s["test_selective"] == pytest.approx(0.93) and s["test_full"] == pytest.approx(0.93)
    assert s["diff_points"] == pytest.approx(0.0) and s["diff_range"] == pytest.approx((-0.1, 0.1))
    assert s["time_ratio"] == pytest.approx(0.45) and s["time_ratio_range"] == pytest.approx((0.4, 0.5))
    assert s["plain_time_ratio"] == pytest.approx((1 / 6 + 0.2) / 2)
    table = results.selective_tta_table(path)
    assert "| `a` | 5,000 | 20.0% | 90.00% | 92.00% | 92.10% | +0.10 | 1.0 | 6.0 | 2.4 | x0.40 |" in table
    assert "| `b` |" in table and "-0.10" in table
    block = results.render(tmp_path)
    assert "threshold 0.56" in block and "10,000 held-out images of the 2 models" in block
    # by hand: 92.10 - 92.00 and 93.90 - 94.00 points; 2.4 / 6 and 5 / 10 of full TTA's time
    assert results.selective_tta_sentence(s) == (
        "Mean of the 2 models: selective **93.00%** against full TTA's 93.00% (+0.00 points; "
        "-0.10 to +0.10 by model) and the plain net's 91.50%; 25% of the test images scored "
        "again (20%–30%), in x0.45 of full TTA's time (x0.40–x0.50).")
    assert "at a threshold fixed beforehand" not in block
    fixed = [{**r, "threshold": 0.5, "threshold_from": "fixed"} for r in _bench_rows()[:1]]
    results.write_rows(tmp_path / "selective_tta_fixed.csv", fixed)
    block = results.render(tmp_path)
    assert results.selective_tta_summary(tmp_path / "selective_tta_fixed.csv")["threshold_from"] == "fixed"
    assert s["threshold_from"] == "held-out"  # a CSV older than the column chose its threshold
    assert ("threshold 0.5, given with `--threshold`, not chosen on these 1 models" in block
            and "Mean of the 1 models: selective **92.10%** against full TTA's 92.00% (+0.10" in block)
    curve = [{"threshold": t, "rerun_held_out": f, "held_out_accuracy": 0.9 + f / 100,
              "rerun_test": f, "test_accuracy": 0.9 + f / 50} for t, f in ((0.0, 0.0), (0.56, 0.25), (1.01, 1.0))]
    plots.selective_tta(curve, results.read_rows(path), path=tmp_path / "f.png")
    assert (tmp_path / "f.png").stat().st_size > 10_000


def test_summary_refuses_an_empty_csv(tmp_path):
    from wic.experiments import results

    path = tmp_path / "s.csv"
    path.write_text("cpu,model,threshold\n")
    with pytest.raises(ValueError, match="no rows"):
        results.selective_tta_summary(path)
