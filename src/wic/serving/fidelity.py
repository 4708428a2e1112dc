"""Do uploads score like the test set? The measurement behind ``benchmarks/upload_gap.py``.

Each test image is upscaled (bicubic) to a random side of 200-600 px and saved as JPEG
(quality 85-95), PNG or WebP in turn; the bytes then go through exactly what an upload goes
through (:func:`~wic.serving.images.load_image` → :func:`~wic.serving.images.to_model_input`).
The gap is accuracy(raw arrays) - accuracy(upload path), in points.
"""

from __future__ import annotations

import io
import time

import numpy as np
from PIL import Image

from wic.serving.images import DOWNSCALE_FILTERS, to_model_input

FORMATS = ("JPEG", "PNG", "WEBP")


def photo_like(x_uint8: np.ndarray, seed: int = 0):
    """Yield (format, bytes) per image: bicubic upscale to 200-600 px, re-encoded."""
    rng = np.random.default_rng(seed)
    for i, img in enumerate(x_uint8):
        side = int(rng.integers(200, 601))
        fmt = FORMATS[i % len(FORMATS)]
        big = Image.fromarray(img).resize((side, side), Image.Resampling.BICUBIC)
        buf = io.BytesIO()
        if fmt == "JPEG":
            big.save(buf, fmt, quality=int(rng.integers(85, 96)))
        elif fmt == "WEBP":
            big.save(buf, fmt, quality=90)
        else:
            big.save(buf, fmt)
        yield fmt, buf.getvalue()


def variant(name: str) -> dict:
    """``"box"`` → plain reduction; ``"box+restore"`` → reduction, then the enlargement's blur
    undone (:func:`wic.serving.images.restore_enlargement`); any filter of DOWNSCALE_FILTERS."""
    base, _, extra = name.partition("+")
    if base not in DOWNSCALE_FILTERS or extra not in ("", "restore"):
        raise ValueError(f"upload path variant {name!r}; accepted: a filter of "
                         f"{', '.join(DOWNSCALE_FILTERS)}, optionally with '+restore'")
    return {"downscale": base, "restore": extra == "restore"}


def measure(clf, x, y, filters, seed: int = 0) -> list[dict]:
    """Per variant (see :func:`variant`) and format: raw vs upload-path accuracy, the gap.

    The bytes are decoded as the page and ``wic predict`` decode them (``Classifier``'s limits
    and its reduced-scale JPEG decoding), then reduced with each variant.
    """
    raw = clf.predict_arrays(x).argmax(1)
    encoded = list(photo_like(x, seed))
    fmts = np.array([f for f, _ in encoded])
    rows = []
    for name in filters:
        how = variant(name)
        t0 = time.perf_counter()
        xs = np.stack([to_model_input(clf.decode(b), **how) for _, b in encoded])
        pred = clf.predict_arrays(xs).argmax(1)
        secs = time.perf_counter() - t0
        for fmt in ("all", *FORMATS):
            m = np.ones(len(y), bool) if fmt == "all" else fmts == fmt
            acc_raw, acc_up = float((raw[m] == y[m]).mean()), float((pred[m] == y[m]).mean())
            rows.append({"model": clf.name, "filter": name, "format": fmt, "n": int(m.sum()),
                         "raw_accuracy": round(acc_raw, 4), "upload_accuracy": round(acc_up, 4),
                         "gap_points": round(100 * (acc_raw - acc_up), 2),
                         "agreement": round(float((pred[m] == raw[m]).mean()), 4),
                         "seconds": round(secs, 1)})
    return rows
