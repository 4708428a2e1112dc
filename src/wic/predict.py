"""Untrusted image in → top-k CIFAR-10 classes out: the inference path of the CLI, widgets and app.

The image half lives in :mod:`wic.images`: everything a person can upload passes through its
``load_image`` (limits, format sniffing, SVG fences, RGB) and ``to_model_input`` (the uint8
32x32 array). Its public names are re-exported here, so ``from wic.predict import ImageError,
load_image, to_model_input`` keeps working. This module is the model half:

Models (``resolve_model_path``, ``load_model``, ``Classifier``)
    ``None`` picks the default model: best card ``test_accuracy`` among models whose card
    ``latency_ms_p50`` is ≤ ``LATENCY_BUDGET_MS`` (or not measured). Loaded models are cached
    by path + mtime + size, so a page or widget does not reload per request. Inference goes
    through one ``tf.function`` with input signature ``(None, 32, 32, 3)``, traced once per
    model. Measured for seed_v1_3 on this 2-core machine (a training run busy on it, n=300):
    p50 1.6 ms, against 12.0 ms for an eager ``model(x)`` and 47.6 ms for ``model.predict`` (the
    seed's way, 29x slower); end to end, 640x480 JPEG bytes → top-3, p50 4.6 ms. Re-measure
    with ``python benchmarks/predict_latency.py [--model NAME] [--write-card]``.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import sys
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from PIL import Image

from wic import CLASS_NAMES, cards, config
from wic.data import to_float
from wic.images import (
    ACCEPTED,
    INPUT_SIDE,
    MAX_ASPECT_RATIO,
    MAX_BYTES,
    MAX_PIXELS,
    SVG_MAX_BYTES,
    SVG_MAX_DEPTH,
    SVG_MAX_ELEMENTS,
    SVG_RENDER_SIDE,
    ImageError,
    _short,
    load_image,
    reference_jpeg,
    to_model_input,
)

# The image names are re-exported: callers keep importing them from here.
__all__ = [
    "ACCEPTED", "INPUT_SIDE", "LATENCY_BUDGET_MS", "MAX_ASPECT_RATIO", "MAX_BYTES", "MAX_PIXELS",
    "PREVIEW_SIDE", "SVG_MAX_BYTES", "SVG_MAX_DEPTH", "SVG_MAX_ELEMENTS", "SVG_RENDER_SIDE",
    "Classifier", "ImageError", "ModelError", "clear_model_cache", "load_image", "load_model",
    "measure_latency", "quiet_native_logs", "reference_jpeg", "resolve_model_path",
    "to_model_input", "write_latency_card",
]

PREVIEW_SIDE = 512
LATENCY_BUDGET_MS = 20.0


class ModelError(ValueError):
    """A model file that is missing, corrupt, or not a 10-class CIFAR classifier."""


# ----------------------------------------------------------------------------- models


def _available_models(folder: Path) -> str:
    names = [r["name"] for r in cards.catalogue(folder)] if folder.is_dir() else []
    return ", ".join(names) if names else "none (train one with: wic train)"


def resolve_model_path(name_or_path: str | os.PathLike | None) -> Path:
    """``None`` → the default model; a name → ``models/<name>.keras``; a path → that path."""
    folder = config.models_dir()
    if name_or_path is None:
        rows = cards.catalogue(folder) if folder.is_dir() else []
        if not rows:
            raise ModelError(f"no models in {folder}; train one with: wic train "
                             "(or pass --model PATH)")
        fast = [r for r in rows if r["latency_ms_p50"] is None
                or r["latency_ms_p50"] <= LATENCY_BUDGET_MS]
        if fast:
            return fast[0]["path"]  # the catalogue is sorted best test accuracy first
        # Nothing within the budget: the fastest one is the closest to it.
        return min(rows, key=lambda r: r["latency_ms_p50"])["path"]
    text = os.fspath(name_or_path)
    as_path = Path(text).expanduser()
    looks_like_path = (isinstance(name_or_path, os.PathLike) or "/" in text or os.sep in text
                       or as_path.suffix == ".keras")
    if looks_like_path:
        path = as_path
        if not path.exists() and as_path.parent == Path(".") and (folder / as_path.name).exists():
            path = folder / as_path.name
    else:
        path = folder / f"{text}.keras"
    if not path.is_file():
        what = "is a folder, not a .keras file" if path.is_dir() else "not found"
        raise ModelError(f"model {text!r} {what} ({path}); models in {folder}: "
                         f"{_available_models(folder)}")
    return path.absolute()


_CACHE: OrderedDict[tuple, tuple] = OrderedDict()
_CACHE_SIZE = 4
_CACHE_LOCK = threading.Lock()


def _load_entry(path) -> tuple:
    """(model, compiled call) for ``path``, cached by path + mtime + size."""
    path = Path(path).expanduser().resolve()
    try:
        st = path.stat()
    except OSError:
        raise ModelError(f"model file not found: {path}") from None
    key = (str(path), st.st_mtime_ns, st.st_size)
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
        entry = _load_uncached(path)
        _CACHE[key] = entry
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
        return entry


def _load_uncached(path: Path) -> tuple:
    import keras

    note = ""
    try:
        from wic import fastnet  # noqa: F401 - registers the custom layers of the fast nets
    except ImportError as exc:
        note = f"; wic.fastnet failed to import ({exc})"
    if path.suffix != ".keras":
        raise ModelError(f"{path} is not a .keras file; accepted: models saved by Keras 3 "
                         "in the native .keras format")
    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:  # noqa: BLE001 - corrupt zip, unknown layer, bad config, …
        raise ModelError(f"cannot load model {path}: {_short(exc)}{note}") from None
    try:
        in_shape = tuple(model.inputs[0].shape)[1:]
        out_shape = tuple(model.outputs[0].shape)[1:]
    except (AttributeError, IndexError, TypeError):
        in_shape = out_shape = None
    want_in = (INPUT_SIDE, INPUT_SIDE, 3)
    if in_shape != want_in or out_shape != (len(CLASS_NAMES),):
        raise ModelError(f"{path.name} is not a CIFAR-10 classifier: input {in_shape}, output "
                         f"{out_shape}; expected input {want_in} and {len(CLASS_NAMES)} outputs")
    call = _compile_call(model)
    try:  # trace the compiled call now, not on a user's first request
        call(np.zeros((1, INPUT_SIDE, INPUT_SIDE, 3), np.float32))
    except Exception as exc:  # noqa: BLE001 - whatever the graph raises, the model is unusable
        raise ModelError(f"{path.name} fails on a test input: {_short(exc)}") from None
    return model, call


# TensorFlow >= 2.20 logs through absl before absl::InitializeLog, which TF_CPP_MIN_LOG_LEVEL no
# longer silences: INFO/WARNING lines and, on a CPU-only machine, a failed CUDA probe.
_NATIVE_NOISE = re.compile(
    r"WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|[IW]\d{4} [\d:.]+\s+\d+ \S+\] "
    r"|E\d{4} [\d:.]+\s+\d+ \S+\] failed call to cuInit")


@contextlib.contextmanager
def quiet_native_logs():
    """Hide TensorFlow's C++ start-up chatter on stderr; anything else written is replayed.

    For command-line use (``wic predict`` promises one clear line per bad file). It swaps file
    descriptor 2, so it is a no-op where stderr has no real descriptor (e.g. some notebooks).
    """
    try:
        fd = sys.stderr.fileno()
        sys.stderr.flush()
        saved = os.dup(fd)
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        yield
        return
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), fd)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, fd)
            os.close(saved)
            tmp.seek(0)
            for line in tmp.read().decode(errors="replace").splitlines(keepends=True):
                if not _NATIVE_NOISE.match(line):
                    sys.stderr.write(line)
            sys.stderr.flush()


def _compile_call(model):
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec((None, INPUT_SIDE, INPUT_SIDE, 3), tf.float32)],
                 reduce_retracing=True)
    def call(x):
        return model(x, training=False)

    return call


def load_model(path):
    """The Keras model at ``path`` (cached; :class:`ModelError` when it is not a classifier)."""
    return _load_entry(path)[0]


def clear_model_cache() -> None:
    with _CACHE_LOCK:
        _CACHE.clear()


def _as_probabilities(out: np.ndarray) -> np.ndarray:
    out = np.asarray(out, dtype=np.float64)
    rows_ok = np.all((out >= 0) & (out <= 1), axis=-1) & (np.abs(out.sum(-1) - 1) < 1e-3)
    if not np.all(rows_ok):  # a model that ends in logits: softmax them
        z = out - out.max(-1, keepdims=True)
        e = np.exp(z)
        out = e / e.sum(-1, keepdims=True)
    return out.astype(np.float32)


class Classifier:
    """A loaded model plus the untrusted-image path in front of it.

    Two public names serve code that already has arrays (the widgets, notebooks): ``model`` is
    the Keras model itself (e.g. for :class:`wic.explain.Explainer`), and :meth:`predict_arrays`
    gives probabilities for a uint8 batch (N, 32, 32, 3) through the compiled call, with no
    image decoding in between.
    """

    def __init__(self, model, *, name: str, path: Path | None = None, card: dict | None = None,
                 call=None, max_bytes: int = MAX_BYTES, max_pixels: int = MAX_PIXELS):
        self.model = model
        self.name = name
        self.path = path
        self.card = dict(card or {})
        self.class_names = tuple(CLASS_NAMES)
        self.max_bytes = max_bytes
        self.max_pixels = max_pixels
        self._call = call or _compile_call(model)

    @classmethod
    def load(cls, name_or_path: str | os.PathLike | None = None, **limits) -> Classifier:
        path = resolve_model_path(name_or_path)
        model, call = _load_entry(path)
        return cls(model, name=path.stem, path=path, card=cards.read_card(path), call=call,
                   **limits)

    def __repr__(self) -> str:
        acc = self.card.get("test_accuracy")
        return f"Classifier({self.name!r}" + (f", test_accuracy={acc}" if acc else "") + ")"

    # -- images
    def _image(self, src) -> Image.Image:
        return load_image(src, max_bytes=self.max_bytes, max_pixels=self.max_pixels,
                          draft=PREVIEW_SIDE)

    def preview(self, src) -> tuple[Image.Image, np.ndarray]:
        """(the RGB image as decoded, the uint8 32x32 array the model sees) for a UI.

        Big JPEGs come back at a reduced DCT scale (sides ≥ ``PREVIEW_SIDE``), enough to show.
        """
        img = self._image(src)
        return img, to_model_input(img)

    # -- model
    def predict_arrays(self, x_uint8: np.ndarray) -> np.ndarray:
        """Probabilities (N, 10) for uint8 images (N, 32, 32, 3)."""
        return _as_probabilities(self._call(to_float(x_uint8)).numpy())

    def probabilities(self, src) -> np.ndarray:
        return self.predict_arrays(to_model_input(self._image(src))[None])[0]

    def _top(self, probs: np.ndarray, k: int) -> list[tuple[str, float]]:
        order = np.argsort(-probs, kind="stable")[:k]
        return [(self.class_names[i], float(probs[i])) for i in order]

    def top_k(self, src, k: int = 3) -> list[tuple[str, float]]:
        """The ``k`` most likely classes, most likely first, as (name, probability)."""
        k = _check_k(k)
        return self._top(self.probabilities(src), k)

    def top_k_batch(self, srcs: Iterable, k: int = 3, *, batch_size: int = 256
                    ) -> list[list[tuple[str, float]] | ImageError]:
        """``top_k`` for many images with batched model calls; a bad image gives its ImageError."""
        k = _check_k(k)
        results: list = []
        pending: list[tuple[int, np.ndarray]] = []

        def flush():
            if pending:
                probs = self.predict_arrays(np.stack([x for _, x in pending]))
                for (i, _), p in zip(pending, probs, strict=True):
                    results[i] = self._top(p, k)
                pending.clear()

        for src in srcs:
            results.append(None)
            try:
                pending.append((len(results) - 1, to_model_input(self._image(src))))
            except ImageError as exc:
                results[-1] = exc
            if len(pending) >= batch_size:
                flush()
        flush()
        return results


def _check_k(k) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    return min(int(k), len(CLASS_NAMES))


# ----------------------------------------------------------------------------- latency


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

    ``model.predict`` (what the seed did), an eager ``model(x, training=False)``, our compiled
    call, and end to end: 640x480 JPEG bytes → decode → crop/resize → top-3. ``latency_ms_p50``
    is the end-to-end p50, the number a person waiting for an answer experiences.
    """
    x = np.random.default_rng(0).random((1, INPUT_SIDE, INPUT_SIDE, 3), dtype=np.float32)
    model = classifier.model
    n_predict = n_predict or max(10, n // 4)  # predict is slow: fewer rounds say enough
    jpeg = reference_jpeg()
    result = {
        "predict_ms": _timed(lambda: model.predict(x, verbose=0), n_predict, min(warmup, 3)),
        "eager_call_ms": _timed(lambda: np.asarray(model(x, training=False)), n, warmup),
        "ours_ms": _timed(lambda: classifier._call(x).numpy(), n, warmup),
        "end_to_end_ms": _timed(lambda: classifier.top_k(jpeg, k=3), n, warmup),
    }
    result["ratio_predict_over_ours_p50"] = round(
        result["predict_ms"]["p50"] / max(result["ours_ms"]["p50"], 1e-9), 1)
    result["latency_ms_p50"] = result["end_to_end_ms"]["p50"]
    result.update(n=n, n_predict=n_predict, method="tf.function, input (None, 32, 32, 3)",
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
