"""The seed: ``pycrafters_team_model_v1.3``, reproduced exactly (layer stack, names, output
shapes, 187,402 parameters); its ablation switches are arguments of the same builder.

Where the seed's published summary is silent we decided, and say so here:
- activations are ReLU (the seed's README names he_normal, the initialiser made for ReLU);
- ``conv2d_2`` uses ``padding="same"`` (its output stays 14x14 in the summary), the others
  ``valid``;
- the last pooling is ``MaxPooling2D(5)``: the summary goes 5x5 → 1x1, and a 5x5 window is
  the only size that sees the whole map;
- dropout rates 0.25 / 0.25 / 0.5 (the summary shows where dropout is, not its rate).
"""

from __future__ import annotations

from wic.backend import keras
from wic.models.registry import INPUT_SHAPE, NUM_CLASSES, register

layers = keras.layers


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


