"""Run a script of ``benchmarks/`` the way a user does, its outputs kept under a test folder; or
load it as a module to test its functions."""

from __future__ import annotations

import csv
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_benchmark(script: str, out: Path, table: Path, *args: str) -> tuple[str, list[dict]]:
    """``python benchmarks/SCRIPT ARGS`` with models, figures and runs under ``out``; fails the
    test with the end of stderr if it fails; returns its stdout and the rows of the CSV
    ``table`` it wrote."""
    env = {**os.environ, "WIC_MODELS_DIR": str(out / "models"),
           "WIC_FIGURES_DIR": str(out / "figures"), "WIC_RUNS_DIR": str(out / "runs")}
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args], env=env,
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    with open(table) as fh:
        return proc.stdout, list(csv.DictReader(fh))


def load_benchmark(script: str):
    """``benchmarks/SCRIPT`` as a module (the scripts are not a package), its functions callable."""
    path = ROOT / "benchmarks" / script
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
