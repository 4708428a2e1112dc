"""CIFAR-10: find, load, validate and subset the python batches (no TensorFlow here).

Sources, in order: an explicit ``path`` → ``$WIC_DATA_DIR`` → Keras' own cache
(``~/.keras/datasets/cifar-10-batches-py``) → Keras' download (only if ``download=True``).
Whatever is read is validated (files present, shapes, dtype, label range, counts); a problem
raises :class:`DataError` naming the path and what is wrong.

Images stay ``uint8`` NHWC ``(N, 32, 32, 3)`` in memory (150 MB for the whole set); the
conversion to ``float32`` in ``[0, 1]`` — the input convention of every model in the
registry — happens batch by batch in :mod:`wic.data.pipeline` (or :func:`to_float`).
"""

from __future__ import annotations

import hashlib
import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from wic import CLASS_NAMES, config

BATCH_DIR = "cifar-10-batches-py"
TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILE = "test_batch"
META_FILE = "batches.meta"
ROWS_PER_BATCH = 10_000
TEST_IMAGES = ROWS_PER_BATCH  # test_batch is one batch: the whole test set
IMAGE_SHAPE = (32, 32, 3)
NUM_CLASSES = 10


class DataError(ValueError):
    """The dataset could not be found or failed validation (message names path and problem)."""


@dataclass
class Cifar10:
    x_train: np.ndarray  # uint8 (50000, 32, 32, 3)
    y_train: np.ndarray  # int64 (50000,)
    x_test: np.ndarray  # uint8 (10000, 32, 32, 3)
    y_test: np.ndarray  # int64 (10000,)
    class_names: tuple[str, ...] = CLASS_NAMES
    source: Path | None = None
    _checksums: dict[str, str] | None = field(default=None, repr=False)

    def checksums(self) -> dict[str, str]:
        """SHA-256 of every file read (for model cards); computed once, on demand."""
        if self._checksums is None:
            self._checksums = file_checksums(self.source) if self.source else {}
        return self._checksums

    def test_split(self, first: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The test images and labels, or only the first ``first`` of them (smoke runs and tests:
        scoring all 10,000 through a test-time-augmented net takes minutes on a small CPU).
        A count outside 1..len(test set) is refused with a ValueError naming what is accepted."""
        if first is None:
            return self.x_test, self.y_test
        check_test_subset(first, "test subset", len(self.y_test))
        return self.x_test[:first], self.y_test[:first]

    def summary(self) -> str:
        return (
            f"CIFAR-10 from {shown_location(self.source)}: train {self.x_train.shape} {self.x_train.dtype}, "
            f"test {self.x_test.shape}, {len(self.class_names)} classes"
        )


def check_test_subset(value, name: str = "--test-subset", images: int = TEST_IMAGES) -> int | None:
    """``value`` if it is None (all test images) or a whole number from 1 to ``images``; anything
    else is refused with a ValueError naming ``name`` and what is accepted. For options checked
    before any data is loaded (``wic train --test-subset``, the benchmarks)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) \
            or not 1 <= value <= images:
        raise ValueError(f"{name} {value!r}: accepted: 1 to {images:,} (the first N test images; "
                         "leave it out for all of them)")
    return int(value)


# ----------------------------------------------------------------------------- locating


def shown_location(source) -> str:
    """``source`` as printed in logs and notebook outputs: relative to ``$WIC_DATA_DIR`` when it
    lies there, so committed outputs name the configuration, not one machine's folder."""
    env = os.environ.get("WIC_DATA_DIR")
    if env and source is not None:
        try:
            rel = Path(source).resolve().relative_to(Path(env).expanduser().resolve())
        except (ValueError, OSError):
            return str(source)
        return "$WIC_DATA_DIR" + ("" if str(rel) == "." else f"/{rel.as_posix()}")
    return str(source)


def _as_batch_dir(path: Path) -> Path:
    """Accept either the ``cifar-10-batches-py`` folder or a folder that contains it."""
    path = Path(path).expanduser()
    if (path / BATCH_DIR).is_dir():
        return path / BATCH_DIR
    return path


def keras_cache_dir() -> Path:
    base = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras"))
    return base / "datasets" / BATCH_DIR


def find_dataset(path: str | os.PathLike | None = None, *, download: bool = False) -> Path:
    """Resolve where CIFAR-10 lives, following the documented source order."""
    if path is not None:
        resolved = _as_batch_dir(Path(path))
        if not resolved.is_dir():
            raise DataError(
                f"CIFAR-10 folder {resolved} does not exist; pass the folder that holds "
                f"'{BATCH_DIR}/' (or that folder itself)"
            )
        return resolved
    env = config.data_dir()
    if env is not None:
        resolved = _as_batch_dir(env)
        if not (resolved / TEST_FILE).exists() and not (resolved / TRAIN_FILES[0]).exists():
            raise DataError(
                f"WIC_DATA_DIR={env} holds neither '{BATCH_DIR}/' nor the CIFAR-10 batch files "
                f"({', '.join(TRAIN_FILES[:1])}…, {TEST_FILE}); point it at the folder that "
                f"contains '{BATCH_DIR}/'"
            )
        return resolved
    cache = keras_cache_dir()
    if cache.is_dir():
        return cache
    if download:
        import keras

        keras.datasets.cifar10.load_data()  # downloads into the Keras cache
        if cache.is_dir():
            return cache
    raise DataError(
        "CIFAR-10 not found: set WIC_DATA_DIR to the folder holding "
        f"'{BATCH_DIR}/' (e.g. export WIC_DATA_DIR=/path/to/data), or place it in {cache}, "
        "or allow a download (download=True / --download) on a connected machine"
    )


# ----------------------------------------------------------------------------- reading


def _read_batch(file: Path) -> tuple[np.ndarray, np.ndarray]:
    if not file.is_file():
        raise DataError(f"missing file {file} (expected the CIFAR-10 python-batch layout)")
    try:
        with open(file, "rb") as fh:
            # The batches are pickles by the dataset's own format; only read trusted folders.
            d = pickle.load(fh, encoding="bytes")
    except (EOFError, pickle.UnpicklingError, ValueError, TypeError, AttributeError,
            ImportError, IndexError, MemoryError) as exc:
        raise DataError(f"{file} is truncated or corrupt ({type(exc).__name__}: {exc})") from exc
    if not isinstance(d, dict) or b"data" not in d or b"labels" not in d:
        raise DataError(f"{file} has the wrong layout: expected a dict with b'data' and b'labels'")
    data = np.asarray(d[b"data"])
    labels = np.asarray(d[b"labels"])
    if data.dtype != np.uint8:
        raise DataError(f"{file}: pixel dtype is {data.dtype}, expected uint8")
    if data.ndim != 2 or data.shape[1] != 3072:
        raise DataError(f"{file}: data shape is {data.shape}, expected (N, 3072)")
    if labels.shape != (data.shape[0],):
        raise DataError(f"{file}: {labels.shape[0] if labels.ndim else 0} labels for {data.shape[0]} images")
    if labels.size and (labels.min() < 0 or labels.max() >= NUM_CLASSES):
        raise DataError(f"{file}: labels outside 0..{NUM_CLASSES - 1} (found {labels.min()}..{labels.max()})")
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)  # channel-major -> NHWC
    return np.ascontiguousarray(images), labels.astype(np.int64)


def _read_class_names(folder: Path) -> tuple[str, ...]:
    meta = folder / META_FILE
    if not meta.is_file():
        return CLASS_NAMES
    try:
        with open(meta, "rb") as fh:
            d = pickle.load(fh, encoding="bytes")
        names = tuple(n.decode() if isinstance(n, bytes) else str(n) for n in d[b"label_names"])
    except Exception as exc:  # noqa: BLE001 - any failure here is a corrupt meta file
        raise DataError(f"{meta} is truncated or corrupt ({type(exc).__name__})") from exc
    if len(names) != NUM_CLASSES:
        raise DataError(f"{meta}: {len(names)} class names, expected {NUM_CLASSES}")
    return names


def load_cifar10(path: str | os.PathLike | None = None, *, download: bool = False,
                 expect_full: bool = True) -> Cifar10:
    """Load and validate CIFAR-10 as uint8 NHWC arrays plus class names."""
    folder = find_dataset(path, download=download)
    parts = [_read_batch(folder / name) for name in TRAIN_FILES]
    x_train = np.concatenate([p[0] for p in parts])
    y_train = np.concatenate([p[1] for p in parts])
    x_test, y_test = _read_batch(folder / TEST_FILE)
    if expect_full:
        for name, n, want in (("training", len(x_train), 5 * ROWS_PER_BATCH),
                              ("test", len(x_test), ROWS_PER_BATCH)):
            if n != want:
                raise DataError(f"{folder}: {n} {name} images, expected {want}")
    return Cifar10(x_train, y_train, x_test, y_test, _read_class_names(folder), folder)


def load_test_split(path: str | os.PathLike | None = None):
    """Only the 10,000 test images (uint8 NHWC), their labels and the class names — for
    demos that should not read the 50,000 training images."""
    folder = find_dataset(path)
    x, y = _read_batch(folder / TEST_FILE)
    return x, y, _read_class_names(folder)


def file_checksums(folder: Path) -> dict[str, str]:
    out = {}
    for name in (*TRAIN_FILES, TEST_FILE, META_FILE):
        f = Path(folder) / name
        if f.is_file():
            h = hashlib.sha256()
            with open(f, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
            out[name] = h.hexdigest()
    return out


# ----------------------------------------------------------------------------- shaping


def stratified_subset(x: np.ndarray, y: np.ndarray, n: int | None, seed: int = 0):
    """``n`` examples with (as near as possible) equal counts per class; ``None`` = all."""
    if n is None or n >= len(y):
        return x, y
    if n <= 0:
        raise ValueError(f"subset size must be positive, got {n}")
    rng = np.random.default_rng(seed)
    classes = np.unique(y)
    per = [n // len(classes) + (1 if i < n % len(classes) else 0) for i in range(len(classes))]
    idx = np.concatenate([rng.permutation(np.flatnonzero(y == c))[:k] for c, k in zip(classes, per)])
    idx = rng.permutation(idx)
    return x[idx], y[idx]


def split_validation(x: np.ndarray, y: np.ndarray, fraction: float):
    """Hold out the *last* ``fraction`` of the arrays, as Keras' ``validation_split`` does."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"validation fraction must be in [0, 1), got {fraction}")
    if fraction == 0:
        return (x, y), None
    cut = int(len(x) * (1.0 - fraction))
    return (x[:cut], y[:cut]), (x[cut:], y[cut:])


def to_float(x: np.ndarray) -> np.ndarray:
    """uint8 pixels -> float32 in [0, 1] (the registry's input convention)."""
    return np.asarray(x, dtype=np.float32) / 255.0


def channel_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std of uint8 images, on the [0, 1] scale."""
    xf = np.asarray(x, dtype=np.float64) / 255.0
    return xf.mean(axis=(0, 1, 2)), xf.std(axis=(0, 1, 2))
