"""Untrusted image in → calibrated top-k CIFAR-10 classes out: the inference path of
``wic predict``, the widget app and the page. ``from wic.serving import Classifier``.

Models (``resolve_model_path``, ``Classifier.load``)
    ``None`` picks the default model by the rule the README states (:func:`default_model`):
    among shipped models whose card has a *measured* latency within ``LATENCY_BUDGET_MS``, the
    most accurate. A model without a measured latency is never picked by default (an
    experiment cannot silently become the model the page serves).

Backends
    ``keras`` — the ``.keras`` file through one ``tf.function`` with input signature
    ``(None, 32, 32, 3)``, traced once per model (cached by path + mtime + size, so a page does
    not reload per request); ``onnx`` — the model exported to ONNX (``wic export``) run by ONNX
    Runtime, which never imports TensorFlow (what the page's per-visitor kernels use).

Probabilities
    are calibrated: the temperature in the model's card (fitted on held-out training images,
    :mod:`wic.evaluation.calibration`) is applied to every probability returned or shown.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from PIL import Image

from wic import cards, config
from wic.cards import ModelError
from wic.config import CLASS_NAMES
from wic.data.cifar10 import to_float
from wic.evaluation.calibration import apply_temperature
from wic.serving.images import (
    INPUT_SIDE,
    MAX_BYTES,
    MAX_PIXELS,
    ImageError,
    load_image,
    to_model_input,
)

PREVIEW_SIDE = 512
LATENCY_BUDGET_MS = 20.0
ACCURACY_TOLERANCE = 0.005  # the default may give up at most half a point of clean accuracy ...
# ... for robustness (default_model, step 4)
ECE_BUDGET = 0.02  # held-out expected calibration error for believable percentages (issue 12)
BACKENDS = ("keras", "onnx")


# ----------------------------------------------------------------------------- choosing


def _available_models(folder: Path) -> str:
    names = [r["name"] for r in cards.catalogue(folder)] if folder.is_dir() else []
    return ", ".join(names) if names else "none (train one with: wic train, then wic models promote)"


def believable(card: dict) -> bool:
    """Are the model's percentages to be believed? Its temperature was fitted on training
    images it did not train on, and on those its calibration error (15 bins) is within
    ``ECE_BUDGET``. Judged on held-out training images, never on the test set."""
    calib = card.get("calibration") or {}
    held_out = calib.get("held_out", (card.get("held_out_examples") or 0) > 0)
    ece = calib.get("held_out_ece_after")
    return bool(held_out) and isinstance(ece, (int, float)) and ece <= ECE_BUDGET


def default_model(rows: list[dict]) -> dict | None:
    """The page's default among catalogue ``rows``, by one rule:

    1. only models whose card has a measured single-image latency p50 within
       ``LATENCY_BUDGET_MS`` (a model nobody timed never becomes what the page serves);
    2. among those, the models whose percentages are believable (:func:`believable`) — if
       there is none, all of step 1's;
    3. among those, the ones within ``ACCURACY_TOLERANCE`` of the most accurate (test
       accuracy, from the card);
    4. of them the most robust (the CIFAR-10-C (regenerated) mean its card records; a model
       never benchmarked counts as the least robust), ties going to the more accurate.

    Why step 4: photos from phones and the web are blurred, noisy and JPEG-compressed, so a
    model that keeps its accuracy on them serves visitors better, but never at the price of
    more than half a point on clean pictures.

    None when no model passes step 1."""
    timed = [r for r in rows if isinstance(r.get("latency_ms_p50"), (int, float))]
    fast = [r for r in timed if r["latency_ms_p50"] <= LATENCY_BUDGET_MS]
    if not fast:
        return None
    pool = [r for r in fast if believable(r.get("card") or {})] or fast
    best = max(r["test_accuracy"] or 0.0 for r in pool)
    close = [r for r in pool if (r["test_accuracy"] or 0.0) >= best - ACCURACY_TOLERANCE]
    return max(close, key=lambda r: (robustness_mean(r.get("card") or {}),
                                     r["test_accuracy"] or 0.0))


def robustness_mean(card: dict) -> float:
    """The CIFAR-10-C (regenerated) mean a card records, or -1 when it was never run."""
    value = (card.get("robustness") or {}).get("mean_accuracy")
    return float(value) if isinstance(value, (int, float)) else -1.0


def resolve_model_path(name_or_path: str | os.PathLike | None) -> Path:
    """``None`` → the default model; a name → ``models/<name>.keras`` (else the finished run
    ``runs/<name>/<name>.keras``); a path → that path."""
    folder = config.models_dir()
    if name_or_path is None:
        rows = cards.catalogue(folder) if folder.is_dir() else []
        if not rows:
            raise ModelError(f"no models in {folder}; ship one with: wic models promote NAME "
                             "(or pass --model PATH)")
        chosen = default_model(rows)
        if chosen is None:
            measured = [r for r in rows if isinstance(r.get("latency_ms_p50"), (int, float))]
            why = ("the measured ones are all slower" if measured else "none is measured")
            raise ModelError(f"no model in {folder} has a measured latency within "
                             f"{LATENCY_BUDGET_MS:.0f} ms ({why}), so none is the default; measure "
                             "one with benchmarks/predict_latency.py --write-card or pass --model NAME")
        return chosen["path"]
    text = os.fspath(name_or_path)
    as_path = Path(text).expanduser()
    looks_like_path = (isinstance(name_or_path, os.PathLike) or "/" in text or os.sep in text
                       or as_path.suffix in (".keras", ".onnx"))
    if looks_like_path:
        path = as_path
        if not path.exists() and as_path.parent == Path(".") and (folder / as_path.name).exists():
            path = folder / as_path.name
    else:
        path = folder / f"{text}.keras"
        run = config.runs_dir() / text / f"{text}.keras"
        if not path.is_file() and run.is_file():
            path = run  # a finished training run, asked for by name (the course's notebooks)
    if not path.is_file():
        what = "is a folder, not a model file" if path.is_dir() else "not found"
        raise ModelError(f"model {text!r} {what} ({path}); models in {folder}: "
                         f"{_available_models(folder)}")
    return path.absolute()


# ----------------------------------------------------------------------------- backends

_CACHE: OrderedDict[tuple, tuple] = OrderedDict()
_CACHE_SIZE = 4
_CACHE_LOCK = threading.Lock()


def _cached(path: Path, backend: str, loader):
    path = Path(path).expanduser().resolve()
    try:
        st = path.stat()
    except OSError:
        raise ModelError(f"model file not found: {path}") from None
    key = (str(path), backend, st.st_mtime_ns, st.st_size)
    with _CACHE_LOCK:
        if key not in _CACHE:
            _CACHE[key] = loader(path)
            while len(_CACHE) > _CACHE_SIZE:
                _CACHE.popitem(last=False)
        _CACHE.move_to_end(key)
        return _CACHE[key]


def _keras_backend(path: Path) -> tuple:
    """(Keras model, compiled float32 → probabilities call); imports TensorFlow."""
    from wic import models
    from wic.backend import tf

    model = models.load(path)

    @tf.function(input_signature=[tf.TensorSpec((None, INPUT_SIDE, INPUT_SIDE, 3), tf.float32)],
                 reduce_retracing=True)
    def call(x):
        return model(x, training=False)

    def predict(x, batch: int = 500):
        # in slices: 10,000 images through a test-time-augmented net in one call asked oneDNN
        # for more memory than there is (std::bad_alloc, a crash no Python code can catch)
        if len(x) <= batch:
            return call(x).numpy()
        return np.concatenate([call(x[i:i + batch]).numpy() for i in range(0, len(x), batch)])

    try:  # trace the compiled call now, not on a visitor's first request
        predict(np.zeros((1, INPUT_SIDE, INPUT_SIDE, 3), np.float32))
    except Exception as exc:  # noqa: BLE001 - whatever the graph raises, the model is unusable
        raise ModelError(f"{path.name} fails on a test input: {exc}") from None
    return model, predict


def _onnx_backend(path: Path) -> tuple:
    """(None, ONNX Runtime call): no TensorFlow in this process."""
    from wic.serving.onnx_backend import OnnxModel

    onnx_path = path if path.suffix == ".onnx" else path.with_suffix(".onnx")
    if not onnx_path.is_file():
        raise ModelError(f"no ONNX export of {path.stem} ({onnx_path}); write one with: "
                         f"wic export {path.stem} --format onnx")
    model = OnnxModel(onnx_path)
    return None, model.predict


def _as_probabilities(out: np.ndarray) -> np.ndarray:
    out = np.asarray(out, dtype=np.float64)
    rows_ok = np.all((out >= 0) & (out <= 1), axis=-1) & (np.abs(out.sum(-1) - 1) < 1e-3)
    if not np.all(rows_ok):  # a model that ends in logits: softmax them
        z = out - out.max(-1, keepdims=True)
        e = np.exp(z)
        out = e / e.sum(-1, keepdims=True)
    return out.astype(np.float32)


# ----------------------------------------------------------------------------- the classifier


def top_classes(probs: np.ndarray, class_names=CLASS_NAMES, k: int = 3) -> list[tuple[str, float]]:
    """The ``k`` most likely classes of one probability vector, most likely first."""
    order = np.argsort(-np.asarray(probs), kind="stable")[:k]
    return [(class_names[i], float(probs[i])) for i in order]


def percent(p: float) -> str:
    """A probability as people read it: ``93.4%``; never a rounded ``100.0%`` or ``0.0%`` —
    a calibrated model is almost never certain, so the ends read ``>99.9%`` and ``<0.1%``."""
    if p >= 0.9995:
        return ">99.9%"
    if p < 0.0005:
        return "<0.1%"
    return f"{100.0 * p:.1f}%"


def check_k(k) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    return min(int(k), len(CLASS_NAMES))


class Classifier:
    """A loaded model plus the untrusted-image path in front of it.

    ``predict_arrays`` gives calibrated probabilities for a uint8 batch (N, 32, 32, 3);
    ``top_k``/``top_k_batch`` take anything a person can upload. ``model`` is the Keras model
    (None with the ONNX backend; :meth:`keras_model` loads it on demand, e.g. for the
    explanations, which need gradients).
    """

    def __init__(self, predict, *, name: str, path: Path | None = None, card: dict | None = None,
                 model=None, backend: str = "keras", max_bytes: int = MAX_BYTES,
                 max_pixels: int = MAX_PIXELS, calibrated: bool = True):
        self._predict = predict
        self.model = model
        self.name = name
        self.path = path
        self.backend = backend
        self.card = dict(card or {})
        self.class_names = tuple(CLASS_NAMES)
        self.max_bytes = max_bytes
        self.max_pixels = max_pixels
        self.temperature = (self.card.get("calibration") or {}).get("temperature") if calibrated \
            else None

    @classmethod
    def load(cls, name_or_path: str | os.PathLike | None = None, *, backend: str = "keras",
             calibrated: bool = True, **limits) -> Classifier:
        if backend not in BACKENDS:
            raise ModelError(f"backend {backend!r} is not one of {', '.join(BACKENDS)}")
        path = resolve_model_path(name_or_path)
        if path.suffix == ".onnx":
            backend = "onnx"
        keras_path = path.with_suffix(".keras")
        loader = _onnx_backend if backend == "onnx" else _keras_backend
        # the cache is keyed on the file the backend reads (a re-export is picked up)
        read = path.with_suffix(".onnx") if backend == "onnx" and path.with_suffix(".onnx").is_file() \
            else path
        model, predict = _cached(read, backend, loader)
        return cls(predict, name=path.stem, path=keras_path, card=cards.read_card(keras_path),
                   model=model, backend=backend, calibrated=calibrated, **limits)

    @classmethod
    def from_model(cls, model, *, name: str | None = None, card: dict | None = None
                   ) -> Classifier:
        """A classifier around a Keras model already in memory (notebooks, tests)."""
        from wic.backend import tf

        @tf.function(reduce_retracing=True)
        def call(x):
            return model(x, training=False)

        return cls(lambda x: call(x).numpy(), name=name or model.name, card=card, model=model)

    def keras_model(self):
        """The Keras model (loaded now if this classifier runs on ONNX)."""
        if self.model is None:
            if self.path is None or not self.path.is_file():
                raise ModelError(f"{self.name}: no .keras file to load for explanations")
            self.model, _ = _cached(self.path, "keras", _keras_backend)
        return self.model

    def __repr__(self) -> str:
        acc = self.card.get("test_accuracy")
        return (f"Classifier({self.name!r}, backend={self.backend!r}"
                + (f", test_accuracy={acc}" if acc else "") + ")")

    # -- images
    def decode(self, src) -> Image.Image:
        """The upload as an RGB image, decoded with this classifier's limits (big JPEGs at a
        reduced DCT scale): the first step of every path from a file to the model."""
        return load_image(src, max_bytes=self.max_bytes, max_pixels=self.max_pixels,
                          draft=PREVIEW_SIDE)

    def preview(self, src) -> tuple[Image.Image, np.ndarray]:
        """(the RGB image as decoded, the uint8 32x32 array the model sees) for a UI.

        Big JPEGs come back at a reduced DCT scale (sides ≥ ``PREVIEW_SIDE``), enough to show.
        """
        img = self.decode(src)
        return img, to_model_input(img)

    # -- model
    def predict_arrays(self, x_uint8: np.ndarray) -> np.ndarray:
        """Calibrated probabilities (N, 10) for uint8 images (N, 32, 32, 3)."""
        probs = _as_probabilities(self._predict(to_float(x_uint8)))
        return apply_temperature(probs, self.temperature)

    def probabilities(self, src) -> np.ndarray:
        return self.predict_arrays(to_model_input(self.decode(src))[None])[0]

    def top_k(self, src, k: int = 3) -> list[tuple[str, float]]:
        """The ``k`` most likely classes, most likely first, as (name, probability)."""
        return top_classes(self.probabilities(src), self.class_names, check_k(k))

    def top_k_batch(self, srcs: Iterable, k: int = 3, *, batch_size: int = 256
                    ) -> list[list[tuple[str, float]] | ImageError]:
        """``top_k`` for many images with batched model calls; a bad image gives its ImageError."""
        k = check_k(k)
        results: list = []
        pending: list[tuple[int, np.ndarray]] = []

        def flush():
            if pending:
                probs = self.predict_arrays(np.stack([x for _, x in pending]))
                for (i, _), p in zip(pending, probs, strict=True):
                    results[i] = top_classes(p, self.class_names, k)
                pending.clear()

        for src in srcs:
            results.append(None)
            try:
                pending.append((len(results) - 1, to_model_input(self.decode(src))))
            except ImageError as exc:
                results[-1] = exc
            if len(pending) >= batch_size:
                flush()
        flush()
        return results
