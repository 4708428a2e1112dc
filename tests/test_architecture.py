"""The package's layering, checked from the source: every import, module level and inside
functions, parsed with ``ast``; and, in fresh processes, what classifying an image and
``import wic`` actually load.

Imports point one way (``wic/__init__.py``): config/values/files/cards → data → models →
evaluation → training → serving → experiments → cli. The graph built here has an edge
``A → B`` when running A's imports runs B's module code:

- ``import a.b`` / ``from a.b import name`` → ``a.b``, plus each package above it that is not
  already a package of A (those are being imported when A runs);
- ``from pkg import sub`` where ``sub`` is a submodule → ``pkg.sub`` (and ``pkg`` only if it is
  not a package of A); ``from pkg import name`` where ``name`` is defined in ``pkg/__init__``
  → ``pkg`` itself, *even* when A lives inside ``pkg``: A then needs ``pkg``'s ``__init__``
  finished, so an ``__init__`` that imports A is a real cycle.

A package's ``__init__`` importing its own submodules is an ordinary edge (no cycle by itself).
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
SUBPACKAGES = ("data", "models", "training", "evaluation", "serving", "experiments")
OLD_FLAT_MODULES = ("data", "explore", "models", "fastnet", "fastnet_layers", "train", "workflow",
                    "evaluate", "plots", "explain", "images", "predict", "widgets", "sweep",
                    "pipeline", "ablation", "results", "record", "nbtools", "params")


# ----------------------------------------------------------------------------- the graph


def module_files(src: Path, package: str) -> dict[str, Path]:
    """Dotted module name → file, for every ``.py`` under ``src/package``."""
    out = {}
    for path in sorted((src / package).rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _packages_of(name: str, files: dict[str, Path]) -> set[str]:
    """The packages ``name`` lives in (its ancestors): being imported whenever it runs."""
    parts = name.split(".")
    own = {".".join(parts[:i]) for i in range(1, len(parts))}
    if files.get(name, Path()).name == "__init__.py":
        own.add(name)  # a package's __init__ runs inside its own import
    return own


def _with_ancestors(target: str) -> list[str]:
    parts = target.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def _edges(name: str, target: str, files: dict[str, Path], own: set[str],
           needs_init: bool = False) -> set[str]:
    """The modules whose code importing ``target`` from ``name`` runs (see the docstring)."""
    return {mod for mod in _with_ancestors(target)
            if mod in files and mod != name and (mod not in own or (needs_init and mod == target))}


def import_graph(src: Path, package: str) -> dict[str, set[str]]:
    """``{module: {modules of ours whose code its imports run}}`` (see the module docstring)."""
    files = module_files(src, package)
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        own = _packages_of(name, files)
        current_pkg = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    edges |= _edges(name, alias.name, files, own)
            elif isinstance(node, ast.ImportFrom):
                if node.level:  # relative: from . / .. / .sub import x
                    base = current_pkg.split(".")
                    base = base[:len(base) - (node.level - 1)]
                    module = ".".join(base + ([node.module] if node.module else []))
                else:
                    module = node.module or ""
                if not (module == package or module.startswith(package + ".")):
                    continue
                for alias in node.names:
                    sub = f"{module}.{alias.name}"
                    if sub in files:  # a submodule: the package's __init__ need not be finished
                        edges |= _edges(name, sub, files, own)
                    else:  # a name defined in module (or its __init__): it must have run
                        edges |= _edges(name, module, files, own, needs_init=True)
        graph[name] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path ``[a, b, ..., a]``, or None."""
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for nxt in graph.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph(SRC, "wic")


def within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def modules_of(graph, package: str) -> list[str]:
    mods = [m for m in graph if within(m, package)]
    assert mods, f"no modules in {package}"
    return mods


# ----------------------------------------------------------------------------- the checker itself


def _write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_the_checker_sees_real_cycles_and_only_those(tmp_path):
    # a package __init__ importing its own submodules, which import siblings: no cycle
    ok = _write(tmp_path / "ok", {
        "p/__init__.py": "from p.a import f\nfrom p import b\n",
        "p/a.py": "from p import b\n\ndef f():\n    from p.c import g\n",
        "p/b.py": "X = 1\n", "p/c.py": "from . import b\ng = b.X\n",
    })
    g = import_graph(ok, "p")
    assert g == {"p": {"p.a", "p.b"}, "p.a": {"p.b", "p.c"}, "p.b": set(), "p.c": {"p.b"}}
    assert find_cycle(g) is None
    # a submodule taking a *name* from its package's __init__, which imports it: a cycle
    bad = _write(tmp_path / "bad", {
        "p/__init__.py": "from p.a import f\nNAME = 1\n",
        "p/a.py": "def f():\n    from p import NAME\n",
    })
    assert find_cycle(import_graph(bad, "p")) == ["p", "p.a", "p"]
    # a relative import inside a function, two modules apart
    rel = _write(tmp_path / "rel", {
        "p/__init__.py": "", "p/q/__init__.py": "", "p/q/x.py": "from ..r import y\n",
        "p/r/__init__.py": "", "p/r/y.py": "def h():\n    from p.q import x\n",
    })
    g = import_graph(rel, "p")
    assert g["p.q.x"] == {"p.r", "p.r.y"} and g["p.r.y"] == {"p.q", "p.q.x"}
    assert find_cycle(g) in (["p.q.x", "p.r.y", "p.q.x"], ["p.r.y", "p.q.x", "p.r.y"])


def test_the_graph_sees_function_level_imports(graph):
    # wic.cli imports its commands' modules inside the command functions
    assert {"wic.training", "wic.serving", "wic.experiments.sweep", "wic.models.export"} <= graph["wic.cli"]
    # the Keras backend of the classifier loads models on demand, inside a function
    assert "wic.models" in graph["wic.serving.classifier"]


# ----------------------------------------------------------------------------- the rules


def test_the_subpackages_exist_and_the_flat_modules_are_gone():
    for name in SUBPACKAGES:
        assert (SRC / "wic" / name / "__init__.py").is_file(), f"wic.{name} is not a package"
    left = [m for m in OLD_FLAT_MODULES if (SRC / "wic" / f"{m}.py").exists()]
    assert not left, f"old flat modules still there: {left}"


def test_no_import_cycles(graph):
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_root_package_imports_only_config(graph):
    assert reachable(graph, "wic") == {"wic.config"}


def test_data_imports_nothing_of_ours_but_config(graph):
    allowed = {"wic", "wic.config"}  # wic: the root, which only re-exports CLASS_NAMES
    for mod in modules_of(graph, "wic.data"):
        extra = {m for m in reachable(graph, mod) if not within(m, "wic.data")} - allowed
        assert not extra, f"{mod} imports {sorted(extra)}"


@pytest.mark.parametrize("package, forbidden", [
    ("wic.models", ("wic.training", "wic.serving", "wic.experiments", "wic.cli")),
    ("wic.serving", ("wic.training", "wic.experiments", "wic.cli")),
    ("wic.evaluation", ("wic.training", "wic.serving", "wic.experiments", "wic.cli")),
    ("wic.training", ("wic.serving", "wic.experiments", "wic.cli")),
])
def test_layers_never_import_the_layers_above(graph, package, forbidden):
    for mod in modules_of(graph, package):
        bad = sorted(m for m in reachable(graph, mod) if any(within(m, f) for f in forbidden))
        assert not bad, f"{mod} imports (directly or through others) {bad}"


def test_nothing_imports_the_cli(graph):
    importers = sorted(m for m, deps in graph.items() if "wic.cli" in deps)
    assert importers == [], importers


# ----------------------------------------------------------------------------- fresh processes


def _python(code: str, **env) -> str:
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, env={**os.environ, **env}, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


CLASSIFY = """
import io, json, sys
import numpy as np
from PIL import Image
from wic.serving import Classifier
buf = io.BytesIO()
Image.fromarray(np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(buf, "PNG")
clf = Classifier.load("seed_v1_3")
top = clf.top_k(buf.getvalue(), k=3)
print(json.dumps({"top": top, "modules": sorted(m for m in sys.modules if m.startswith("wic"))}))
"""


@pytest.mark.timeout(300)
def test_classifying_an_image_loads_no_training_or_experiment_code():
    models = ROOT / "models"
    if not (models / "seed_v1_3.keras").is_file():
        pytest.fail("models/seed_v1_3.keras is committed and missing")
    out = json.loads(_python(CLASSIFY, WIC_MODELS_DIR=str(models)).strip().splitlines()[-1])
    assert len(out["top"]) == 3 and all(isinstance(p, float) for _, p in out["top"])
    assert "wic.serving.classifier" in out["modules"] and "wic.models" in out["modules"]
    loaded = [m for m in out["modules"]
              if within(m, "wic.training") or within(m, "wic.experiments") or m == "wic.cli"]
    assert loaded == [], f"classifying an image imported {loaded}"


@pytest.mark.parametrize("module", ["wic", "wic.config", "wic.values", "wic.files", "wic.cards",
                                    "wic.data", "wic.evaluation.calibration", "wic.serving"])
def test_cheap_imports_do_not_import_tensorflow(module):
    code = (f"import sys, {module}; heavy = [m for m in ('tensorflow', 'keras') if m in sys.modules]; "
            "print(heavy)")
    assert _python(code).strip().splitlines()[-1] == "[]", f"import {module} imports TensorFlow/Keras"
