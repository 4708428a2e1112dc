"""Write small synthetic datasets in CIFAR-10's python-batch layout (for unit tests).

Images are class-dependent colour patterns, so a model can learn them in a few steps.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

NAMES = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse",
         b"ship", b"truck"]


def synthetic_images(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 10
    rng.shuffle(labels)
    base = np.stack([np.full((32, 32, 3), [(c * 25) % 256, (c * 70) % 256, (255 - c * 25) % 256])
                     for c in range(10)]).astype(np.float32)
    x = base[labels] + rng.normal(0, 20, (n, 32, 32, 3))
    return np.clip(x, 0, 255).astype(np.uint8), labels.astype(np.int64)


def write_batch(path: Path, x: np.ndarray, y: np.ndarray) -> None:
    flat = x.transpose(0, 3, 1, 2).reshape(len(x), -1)  # NHWC -> channel-major rows
    with open(path, "wb") as fh:
        pickle.dump({b"batch_label": b"synthetic", b"labels": [int(v) for v in y],
                     b"data": flat, b"filenames": [b"x.png"] * len(x)}, fh)


def write_fake_cifar(root: Path, per_batch: int = 100, seed: int = 0) -> Path:
    """root/cifar-10-batches-py/ with 5 train batches + test batch of ``per_batch`` images."""
    folder = Path(root) / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(1, 6):
        write_batch(folder / f"data_batch_{i}", *synthetic_images(per_batch, seed + i))
    write_batch(folder / "test_batch", *synthetic_images(per_batch, seed + 99))
    with open(folder / "batches.meta", "wb") as fh:
        pickle.dump({b"label_names": NAMES, b"num_cases_per_batch": per_batch,
                     b"num_vis": 3072}, fh)
    return folder
