"""Anatomy of a built model: parameter counts, the layer table, receptive fields, multiply-adds.

Notebook 02 derives each of these by formula and checks it against Keras; they work on any
Keras model (no registry needed).
"""

from __future__ import annotations

import numpy as np


def parameter_counts(model) -> dict[str, int]:
    """Total / trainable / non-trainable parameter counts, as ``model.summary()`` prints them."""

    trainable = int(sum(np.prod(w.shape) for w in model.trainable_weights))
    non_trainable = int(sum(np.prod(w.shape) for w in model.non_trainable_weights))
    return {"total": trainable + non_trainable, "trainable": trainable,
            "non_trainable": non_trainable}


def layer_table(model) -> list[dict]:
    """One row per layer: name, type, output shape, parameters (the seed's summary table)."""
    rows = []
    for layer in model.layers:
        shape = tuple(layer.output.shape)
        rows.append({"name": layer.name, "type": type(layer).__name__,
                     "output_shape": shape, "params": int(layer.count_params())})
    return rows


def receptive_fields(model) -> list[dict]:
    """Receptive field (pixels) and jump of each conv/pool layer's output, from the input."""
    rf, jump, rows = 1, 1, []
    for layer in model.layers:
        k = getattr(layer, "kernel_size", None) or getattr(layer, "pool_size", None)
        if k is None:
            continue
        s = getattr(layer, "strides", (1, 1))
        rf += (k[0] - 1) * jump
        jump *= s[0]
        rows.append({"name": layer.name, "kernel": k[0], "stride": s[0], "receptive_field": rf,
                     "jump": jump})
    return rows


def multiply_adds(model) -> list[dict]:
    """Multiply-accumulate operations per image for each Conv2D / Dense layer."""

    rows = []
    for layer in model.layers:
        kind = type(layer).__name__
        if kind not in ("Conv2D", "Dense", "DepthwiseConv2D"):
            continue
        out = layer.output.shape
        kernel = layer.kernel.shape  # conv: (kh, kw, cin, cout); dense: (cin, cout)
        positions = int(np.prod(out[1:-1])) if len(out) > 2 else 1
        macs = positions * int(np.prod(kernel))
        if kind == "DepthwiseConv2D":
            macs = positions * int(np.prod(kernel[:2])) * int(out[-1])
        rows.append({"name": layer.name, "type": kind, "macs": macs})
    return rows
