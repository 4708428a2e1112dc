"""wic.evaluation.calibration on synthetic probabilities whose right answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from wic.evaluation import calibration, metrics


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


@pytest.fixture(scope="module")
def world():
    """Logits ``z`` and labels drawn from ``softmax(z)``: a model reporting softmax(z) is
    calibrated by construction."""
    rng = np.random.default_rng(0)
    z = rng.normal(0.0, 2.5, (20000, 10))
    p = softmax(z)
    y = (p.cumsum(axis=1) > rng.random((len(z), 1))).argmax(axis=1)
    return z, y


@pytest.mark.parametrize("true_t", [0.5, 2.0])
def test_fit_temperature_recovers_a_known_temperature(world, true_t):
    z, y = world
    reported = softmax(z * true_t)  # softmax(log(reported) / T) == softmax(z) exactly at T = true_t
    t = calibration.fit_temperature(reported, y)
    assert t == pytest.approx(true_t, rel=0.05)
    assert calibration.nll(calibration.apply_temperature(reported, t), y) < calibration.nll(reported, y)


def test_apply_temperature_keeps_the_arg_max_and_sums_to_one(world):
    z, _ = world
    probs = softmax(z[:500]).astype(np.float32)
    assert calibration.apply_temperature(probs, None) is probs
    assert calibration.apply_temperature(probs, 1.0) is probs
    for t in (0.25, 0.7, 1.5, 4.0):
        scaled = calibration.apply_temperature(probs, t)
        assert scaled.dtype == np.float32 and scaled.shape == probs.shape
        np.testing.assert_allclose(scaled.sum(axis=1), 1.0, atol=1e-5)
        assert (scaled.argmax(axis=1) == probs.argmax(axis=1)).all()
        sharper = scaled.max(axis=1) > probs.max(axis=1)
        assert sharper.all() if t < 1 else not sharper.any()


def test_temperature_scaling_fixes_under_confident_probabilities(world):
    z, y = world
    soft = softmax(z / 2.0)  # under-confident, as label smoothing and TTA make the fast nets
    fit, test = slice(0, 10000), slice(10000, None)
    before = calibration.expected_calibration_error(soft[test], y[test])
    t = calibration.fit_temperature(soft[fit], y[fit])  # fitted on other images than scored
    after = calibration.expected_calibration_error(calibration.apply_temperature(soft[test], t), y[test])
    assert t < 1 and before > 0.1 and after < 0.02 and after < before / 5, (t, before, after)
    acc = (soft[test].argmax(1) == y[test]).mean()
    assert (calibration.apply_temperature(soft[test], t).argmax(1) == y[test]).mean() == acc

    summary = calibration.calibration_summary(soft[fit], y[fit], soft[test], y[test])
    assert summary["temperature"] == round(t, 4)
    assert summary["fitted_on"] == "10000 held-out training images"
    assert summary["test_ece_before"] == round(before, 5) and summary["test_ece_after"] == round(after, 5)
    assert summary["held_out_ece_after"] < summary["held_out_ece_before"]
    alone = calibration.calibration_summary(soft[fit], y[fit])
    assert "test_ece_before" not in alone and alone["temperature"] == summary["temperature"]
    with pytest.raises(ValueError, match="at least one held-out image"):
        calibration.fit_temperature(soft[:0], y[:0])


def test_ece_and_reliability_bins(world):
    z, y = world
    calibrated = softmax(z)
    assert calibration.expected_calibration_error(calibrated, y) < 0.015
    edges, conf, acc, counts = calibration.calibration_bins(calibrated, y)
    assert len(edges) == calibration.N_BINS + 1 and counts.sum() == len(y)
    assert (np.abs(conf - acc)[counts > 500] < 0.03).all()
    one_hot_wrong = np.eye(10)[(y + 1) % 10]  # certain and always wrong: the largest error
    assert calibration.expected_calibration_error(one_hot_wrong, y) == pytest.approx(1.0)
    assert calibration.expected_calibration_error(np.zeros((0, 10)), np.zeros(0)) == 0.0
    # the metrics report the same number
    assert metrics.evaluate_probs(calibrated, y).ece == calibration.expected_calibration_error(calibrated, y)
