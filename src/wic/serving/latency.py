"""Single-image latency of a :class:`~wic.serving.Classifier`, and writing it into its card.

``latency_ms_p50`` in a card is the end-to-end p50 (640x480 JPEG bytes → decode → crop/resize
→ top-3), the number a person waiting for an answer experiences; the default model is chosen
among models that have one. Measure with ``python benchmarks/predict_latency.py``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from wic import cards
from wic.serving.classifier import Classifier, ModelError
from wic.serving.images import INPUT_SIDE, reference_jpeg


def _percentiles(times_s: list[float]) -> dict[str, float]:
    ms = np.asarray(times_s) * 1e3
    return {"p50": round(float(np.percentile(ms, 50)), 3),
            "p90": round(float(np.percentile(ms, 90)), 3)}


def _timed(fn, n: int, warmup: int) -> dict[str, float]:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return _percentiles(times)


def measure_latency(classifier: Classifier, n: int = 200, *, warmup: int = 10,
                    n_predict: int | None = None) -> dict:
    """Single-image latency of the paths we could use, in ms (p50/p90).

    For the Keras backend also ``model.predict`` (what the seed did) and an eager
    ``model(x, training=False)``; for every backend our call and end to end.
    """
    x = np.random.default_rng(0).random((1, INPUT_SIDE, INPUT_SIDE, 3), dtype=np.float32)
    model = classifier.model
    n_predict = n_predict or max(10, n // 4)  # predict is slow: fewer rounds say enough
    jpeg = reference_jpeg()
    result = {}
    if model is not None:
        result["predict_ms"] = _timed(lambda: model.predict(x, verbose=0), n_predict,
                                      min(warmup, 3))
        result["eager_call_ms"] = _timed(lambda: np.asarray(model(x, training=False)), n, warmup)
    result["ours_ms"] = _timed(lambda: classifier._predict(x), n, warmup)
    result["end_to_end_ms"] = _timed(lambda: classifier.top_k(jpeg, k=3), n, warmup)
    if model is not None:
        result["ratio_predict_over_ours_p50"] = round(
            result["predict_ms"]["p50"] / max(result["ours_ms"]["p50"], 1e-9), 1)
    result["latency_ms_p50"] = result["end_to_end_ms"]["p50"]
    method = ("tf.function, input (None, 32, 32, 3)" if classifier.backend == "keras"
              else "ONNX Runtime")
    result.update(n=n, n_predict=n_predict, backend=classifier.backend, method=method,
                  reference_input="640x480 JPEG, quality 90", cpu_count=os.cpu_count(),
                  measured_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    return result


def write_latency_card(classifier: Classifier, result: dict) -> Path:
    """Record ``latency_ms_p50`` (and the details) in the classifier's model card."""
    if classifier.path is None:
        raise ModelError("this classifier was not loaded from a file: no card to write")
    card = cards.read_card(classifier.path)
    card["latency_ms_p50"] = result["latency_ms_p50"]
    card["latency"] = {k: v for k, v in result.items() if k != "latency_ms_p50"}
    written = cards.write_card(classifier.path, card)
    classifier.card = cards.read_card(classifier.path)
    return written
