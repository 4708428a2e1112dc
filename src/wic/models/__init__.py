"""The nets: a registry of builders, the seed, the airbench-style nets, one load/save.

Importing this package imports Keras, registers every builder (the registry is complete) and
every custom layer (so ``keras.models.load_model`` reads a saved fast net). It knows no recipe:
nothing here imports training, serving or experiments.

    from wic import models
    net = models.build("airbench94_cpu")          # or models.available()
    models.save(net, "runs/try/try.keras"); models.load("runs/try/try.keras")
"""

from wic.models import airbench, seed  # noqa: F401 - each registers its builders
from wic.models.io import ModelError, load, save
from wic.models.registry import (
    INPUT_SHAPE,
    NUM_CLASSES,
    ModelSpec,
    available,
    build,
    register,
    spec,
)
from wic.models.summary import layer_table, multiply_adds, parameter_counts, receptive_fields

__all__ = [
    "INPUT_SHAPE", "NUM_CLASSES", "ModelError", "ModelSpec", "available", "build", "layer_table",
    "load", "multiply_adds", "parameter_counts", "receptive_fields", "register", "save", "spec",
]
