"""Fixtures shared by the whole test suite (keep this file small; module fixtures stay local)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory) -> Path:
    """An *untrained* ``seed_v1_3`` saved as ``.keras``: real shapes, meaningless answers."""
    from wic import config, models

    config.set_seed(0)
    path = tmp_path_factory.mktemp("tiny_models") / "seed_v1_3.keras"
    models.build("seed_v1_3").save(path)
    return path


@pytest.fixture
def models_dir(tmp_path, monkeypatch) -> Path:
    """An empty models folder that ``wic.config.models_dir()`` (and subprocesses) will use."""
    folder = tmp_path / "models"
    folder.mkdir()
    monkeypatch.setenv("WIC_MODELS_DIR", str(folder))
    return folder


@pytest.fixture(scope="session")
def cifar_dir() -> Path:
    """The real CIFAR-10 folder from ``WIC_DATA_DIR``; skips only when it is unset."""
    value = os.environ.get("WIC_DATA_DIR")
    if not value:
        pytest.skip("WIC_DATA_DIR is not set (CI sets it)")
    return Path(value)
