"""One way in and out of a ``.keras`` file: :func:`load` and :func:`save`.

Every model the project reads or writes goes through here, so the checks live once: the file
is a Keras 3 native ``.keras`` archive, loads in Keras' safe mode, and is a CIFAR-10
classifier (input ``(32, 32, 3)``, 10 outputs); a save is atomic (a killed process never
leaves half a model where a finished one was). Importing this package registers the custom
layers, so a fast net loads with no other import.
"""

from __future__ import annotations

import os
from pathlib import Path

from wic.backend import keras
from wic.cards import ModelError
from wic.files import atomic_replace, short_error
from wic.models.registry import INPUT_SHAPE, NUM_CLASSES


def load(path: str | os.PathLike, *, compile: bool = False):
    """The Keras model saved at ``path``; :class:`ModelError` names what is wrong otherwise.

    ``compile=False`` (inference) needs nothing but this package; ``compile=True`` restores the
    optimiser too (resuming a training run, which imports :mod:`wic.training` for its schedule).
    """
    path = Path(path)
    if path.suffix != ".keras":
        raise ModelError(f"{path} is not a .keras file; accepted: models saved by Keras 3 "
                         "in the native .keras format")
    if not path.is_file():
        raise ModelError(f"model file not found: {path}")
    try:
        model = keras.saving.load_model(path, compile=compile, safe_mode=True)
    except Exception as exc:  # noqa: BLE001 - corrupt zip, unknown layer, bad config, …
        raise ModelError(f"cannot load model {path}: {short_error(exc)}") from None
    try:
        in_shape = tuple(model.inputs[0].shape)[1:]
        out_shape = tuple(model.outputs[0].shape)[1:]
    except (AttributeError, IndexError, TypeError):
        in_shape = out_shape = None
    if in_shape != INPUT_SHAPE or out_shape != (NUM_CLASSES,):
        raise ModelError(f"{path.name} is not a CIFAR-10 classifier: input {in_shape}, output "
                         f"{out_shape}; expected input {INPUT_SHAPE} and {NUM_CLASSES} outputs")
    return model


def save(model, path: str | os.PathLike) -> Path:
    """Save ``model`` to ``path`` (``.keras``) atomically; returns the path."""
    path = Path(path)
    if path.suffix != ".keras":
        raise ModelError(f"{path}: a model is saved as a .keras file")
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_replace(path) as tmp:
        model.save(tmp)
    return path
