"""Calibration: do the percentages mean what they say?

A model is *calibrated* when, of all the images it labels with 80% confidence, about 80% are
right. The **reliability diagram** bins predictions by confidence and compares each bin's mean
confidence with its accuracy; the **expected calibration error** (ECE) is the bin-size-weighted
mean gap (15 equal-width bins, as in Guo et al. 2017).

**Temperature scaling** (Guo et al., 2017) fixes most miscalibration with one number: divide the
logits by ``T`` before the softmax. ``T > 1`` softens an over-confident net, ``T < 1`` sharpens
an under-confident one — label smoothing (targets of 0.82 instead of 1) and averaging the
test-time-augmented views both pull probabilities toward the middle, so the fast nets need
``T < 1``. The arg-max never changes, so accuracy is untouched. ``T`` is fitted by minimising
the negative log-likelihood on images the model never trained on (held-out training images,
never the test set) and stored in the model's card; :func:`apply_temperature` applies it
wherever probabilities are shown.
"""

from __future__ import annotations

import numpy as np

N_BINS = 15


def calibration_bins(probs: np.ndarray, y_true: np.ndarray, n_bins: int = N_BINS):
    """Per confidence bin: edges, mean confidence, accuracy and count (reliability diagram)."""
    conf = probs.max(1)
    correct = probs.argmax(1) == np.asarray(y_true)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    idx = np.clip(np.digitize(conf, edges[1:-1]), 0, n_bins - 1)
    counts = np.bincount(idx, minlength=n_bins)
    conf_sum = np.bincount(idx, weights=conf, minlength=n_bins)
    acc_sum = np.bincount(idx, weights=correct, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        return edges, conf_sum / np.maximum(counts, 1), acc_sum / np.maximum(counts, 1), counts


def expected_calibration_error(probs: np.ndarray, y_true: np.ndarray, n_bins: int = N_BINS) -> float:
    if len(probs) == 0:
        return 0.0
    _, conf, acc, counts = calibration_bins(probs, y_true, n_bins)
    return float(np.sum(counts / counts.sum() * np.abs(acc - conf)))


def _log_probs(probs: np.ndarray) -> np.ndarray:
    # softmax(log p) == p, so log-probabilities are logits up to a per-row constant — all that
    # temperature scaling needs (the saved models end in a softmax)
    return np.log(np.clip(np.asarray(probs, dtype=np.float64), 1e-12, 1.0))


def apply_temperature(probs: np.ndarray, temperature: float | None) -> np.ndarray:
    """``softmax(log(probs) / T)``; ``None`` or 1 returns ``probs`` unchanged."""
    if temperature is None or float(temperature) == 1.0:
        return probs
    z = _log_probs(probs) / float(temperature)
    z -= z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


def nll(probs: np.ndarray, y_true: np.ndarray) -> float:
    p = np.clip(probs[np.arange(len(y_true)), np.asarray(y_true, dtype=int)], 1e-12, 1.0)
    return float(-np.mean(np.log(p)))


def fit_temperature(probs: np.ndarray, y_true: np.ndarray, lo: float = 0.05,
                    hi: float = 20.0) -> float:
    """The ``T`` minimising the NLL of ``y_true`` under ``softmax(log(probs)/T)``.

    The NLL is convex in ``1/T``; a golden-section search on ``log T`` finds it to 1e-4."""
    if len(y_true) == 0:
        raise ValueError("fit_temperature needs at least one held-out image")
    z = _log_probs(probs)
    y = np.asarray(y_true, dtype=int)

    def loss(log_t: float) -> float:
        s = z / np.exp(log_t)
        s -= s.max(axis=1, keepdims=True)
        return float(np.mean(np.log(np.exp(s).sum(axis=1)) - s[np.arange(len(y)), y]))

    a, b = np.log(lo), np.log(hi)
    g = (np.sqrt(5) - 1) / 2
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = loss(c), loss(d)
    while b - a > 1e-4:
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - g * (b - a)
            fc = loss(c)
        else:
            a, c, fc = c, d, fd
            d = a + g * (b - a)
            fd = loss(d)
    return float(np.exp((a + b) / 2))


def calibration_summary(probs_held_out, y_held_out, probs_test=None, y_test=None) -> dict:
    """Fit ``T`` on held-out images; ECE before/after on them and, if given, on the test set.

    The dict goes into the model card under ``calibration``."""
    t = fit_temperature(probs_held_out, y_held_out)
    out = {"method": "temperature scaling (Guo et al. 2017)", "temperature": round(t, 4),
           "fitted_on": f"{len(y_held_out)} held-out training images",
           "held_out_ece_before": round(expected_calibration_error(probs_held_out, y_held_out), 5),
           "held_out_ece_after": round(expected_calibration_error(
               apply_temperature(probs_held_out, t), y_held_out), 5)}
    if probs_test is not None:
        out["test_ece_before"] = round(expected_calibration_error(probs_test, y_test), 5)
        out["test_ece_after"] = round(expected_calibration_error(
            apply_temperature(probs_test, t), y_test), 5)
    return out
