"""A registry of named model builders.

Every model takes float32 RGB images in ``[0, 1]``, NHWC ``(None, 32, 32, 3)``, and returns
10 softmax probabilities. ``build("seed_v1_3")`` reproduces the original student model
``pycrafters_team_model_v1.3`` exactly (layer stack, names, output shapes, 187,402 params);
its ablation switches are arguments of the same builder, not copies of it.

Where the seed's published summary is silent we decided, and say so here:
- activations are ReLU (the seed's README names he_normal, the initialiser made for ReLU);
- ``conv2d_2`` uses ``padding="same"`` (its output stays 14x14 in the summary), the others
  ``valid``;
- the last pooling is ``MaxPooling2D(5)``: the summary goes 5x5 → 1x1, and a 5x5 window is
  the only size that sees the whole map;
- dropout rates 0.25 / 0.25 / 0.5 (the summary shows where dropout is, not its rate).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

INPUT_SHAPE = (32, 32, 3)
NUM_CLASSES = 10


@dataclass(frozen=True)
class ModelSpec:
    name: str
    builder: Callable
    description: str
    defaults: dict


_REGISTRY: dict[str, ModelSpec] = {}


def register(name: str, description: str, **defaults):
    """Register ``builder`` under ``name`` with default keyword arguments."""

    def wrap(builder):
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is already registered")
        _REGISTRY[name] = ModelSpec(name, builder, description, dict(defaults))
        return builder

    return wrap


def available() -> list[str]:
    _load_extra_builders()
    return sorted(_REGISTRY)


def spec(name: str) -> ModelSpec:
    _load_extra_builders()
    if name not in _REGISTRY:
        raise KeyError(f"unknown model {name!r}; accepted: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def build(name: str, **overrides):
    """Build a registered model, with any of its builder's arguments overridden."""
    s = spec(name)
    kwargs = {**s.defaults, **overrides}
    return s.builder(**kwargs)


def _load_extra_builders() -> None:
    # Builders that live in their own modules register themselves on import.
    from wic import fastnet  # noqa: F401


# ----------------------------------------------------------------------------- the seed


@register(
    "seed_v1_3",
    "The original pycrafters_team_model_v1.3: 4 convs 32-64-128-64 + BN, dropout, Dense 256",
)
def seed_cnn(
    *,
    initializer: str = "he_normal",
    output_initializer: str = "glorot_uniform",
    batch_norm: bool = True,
    dropout: tuple[float, float, float] = (0.25, 0.25, 0.5),
    name: str = "pycrafters_team_model_v1.3",
):
    """The seed's network; ``initializer``/``batch_norm``/``dropout`` are the ablation switches."""
    import keras
    from keras import layers

    d1, d2, d3 = (float(r) for r in dropout)
    for r in (d1, d2, d3):
        if not 0.0 <= r < 1.0:
            raise ValueError(f"dropout rates must be in [0, 1), got {dropout}")

    counters: dict[str, int] = {}

    def nm(base: str) -> str:  # Keras' default names, made explicit so summaries match the seed
        i = counters.get(base, 0)
        counters[base] = i + 1
        return base if i == 0 else f"{base}_{i}"

    def conv(filters, padding="valid"):
        out = [layers.Conv2D(filters, 3, padding=padding, activation="relu",
                             kernel_initializer=initializer, name=nm("conv2d"))]
        if batch_norm:
            out.append(layers.BatchNormalization(name=nm("batch_normalization")))
        return out

    stack = [
        keras.Input(INPUT_SHAPE),
        *conv(32),
        layers.Dropout(d1, name=nm("dropout")),
        *conv(64),
        layers.MaxPooling2D(2, name=nm("max_pooling2d")),
        *conv(128, padding="same"),
        layers.MaxPooling2D(2, name=nm("max_pooling2d")),
        *conv(64),
        layers.MaxPooling2D(5, name=nm("max_pooling2d")),
        layers.Dropout(d2, name=nm("dropout")),
        layers.Flatten(name=nm("flatten")),
        layers.Dense(256, activation="relu", kernel_initializer=initializer, name=nm("dense")),
        layers.Dropout(d3, name=nm("dropout")),
        layers.Dense(NUM_CLASSES, activation="softmax", kernel_initializer=output_initializer,
                     name=nm("dense")),
    ]
    return keras.Sequential(stack, name=name)


def parameter_counts(model) -> dict[str, int]:
    """Total / trainable / non-trainable parameter counts, as ``model.summary()`` prints them."""
    import numpy as np

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
    import numpy as np

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
