"""The registry of named model builders: ``register``, ``build``, ``available``, ``spec``.

Every model takes float32 RGB images in ``[0, 1]``, NHWC ``(None, 32, 32, 3)``, and returns
10 softmax probabilities. Builders register themselves in their own module of this package
(:mod:`wic.models.seed`, :mod:`wic.models.airbench`); ``wic/models/__init__.py`` imports both,
so the registry is complete as soon as ``wic.models`` is imported.
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
    return sorted(_REGISTRY)


def spec(name: str) -> ModelSpec:
    if name not in _REGISTRY:
        raise KeyError(f"unknown model {name!r}; accepted: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def build(name: str, **overrides):
    """Build a registered model, with any of its builder's arguments overridden."""
    s = spec(name)
    kwargs = {**s.defaults, **overrides}
    return s.builder(**kwargs)
