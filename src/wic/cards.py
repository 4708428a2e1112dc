"""Model cards: the JSON written beside every saved model, and the catalogue of models.

A card holds only numbers measured by the code that wrote it: what data (checksums), which
command, how long, how many epochs, what test accuracy. :func:`catalogue` lists the models
in a folder with their cards, best test accuracy first (used by ``wic predict`` and the app).
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import sys
import time
from pathlib import Path

from wic import config
from wic.files import atomic_write_text


class ModelError(ValueError):
    """A model file that is missing, corrupt, or not a 10-class CIFAR classifier."""


def card_path(model_path: Path) -> Path:
    return Path(model_path).with_suffix(".json")


def library_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in ("wic", "tensorflow", "keras", "numpy", "scikit-learn", "pillow"):
        with contextlib.suppress(PackageNotFoundError):
            out[pkg] = version(pkg)
    return out


def machine() -> dict:
    return {"platform": platform.platform(), "processor": platform.machine(),
            "cpu_count": os.cpu_count()}


def command_line() -> str:
    """The command that produced this run: ``$WIC_COMMAND`` when a runner set it (the notebook
    pipeline does, since inside a kernel ``sys.argv`` is only ipykernel's launcher), else argv."""
    if os.environ.get("WIC_COMMAND"):
        return os.environ["WIC_COMMAND"]
    argv = [Path(sys.argv[0]).name, *sys.argv[1:]] if sys.argv and sys.argv[0] else []
    if argv and argv[0] == "ipykernel_launcher.py":
        return "a Jupyter kernel (interactive notebook session)"
    if argv and Path(sys.argv[0]).resolve() == Path(__file__).with_name("cli.py").resolve():
        argv[0] = "wic"  # python -m wic.cli is the wic command: record what a reader can type
    return " ".join(argv)


def write_card(model_path: Path, card: dict) -> Path:
    card = {"model_file": Path(model_path).name, "written_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            **card}
    path = card_path(model_path)
    return atomic_write_text(path, json.dumps(card, indent=2, sort_keys=False) + "\n")


def read_card(model_path: Path) -> dict:
    path = card_path(model_path)
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def catalogue(folder: Path | None = None) -> list[dict]:
    """Every ``*.keras`` in ``folder`` (default: the models folder) with its card."""
    folder = Path(folder) if folder else config.models_dir()
    rows = []
    for f in sorted(folder.glob("*.keras")):
        card = read_card(f)
        rows.append({"name": f.stem, "path": f, "card": card,
                     "test_accuracy": card.get("test_accuracy"),
                     "latency_ms_p50": card.get("latency_ms_p50")})
    rows.sort(key=lambda r: -(r["test_accuracy"] or 0))
    return rows


def _fmt(value, spec: str, missing: str = "n/a") -> str:
    return format(value, spec) if isinstance(value, (int, float)) else missing


def markdown_table(rows: list[dict]) -> str:
    """The README's model table, every number read from a card (written by the code that
    measured it): test accuracy, calibration error before/after the card's temperature, the
    CIFAR-10-C (regenerated) mean, latency, training time."""
    lines = ["| model | test accuracy | ECE raw → calibrated | CIFAR-10-C mean | epochs | "
             "training time | parameters | latency p50 | command |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        c = r["card"]
        secs = c.get("train_wall_time_s")
        if secs is None:
            lines.append(f"| `{r['name']}` | (no card) | | | | | | | |")
            continue
        cal = c.get("calibration") or {}
        ece = (f"{cal['test_ece_before']:.3f} → {cal['test_ece_after']:.3f}"
               + ("" if cal.get("held_out", True) else r"\*")
               if "test_ece_after" in cal else _fmt(c.get("expected_calibration_error"), ".3f"))
        rob = c.get("robustness") or {}
        robust = (f"{rob['mean_accuracy']:.3f} (n={rob.get('n_images', '?')})"
                  if "mean_accuracy" in rob else "n/a")
        lat = c.get("latency_ms_p50")
        lines.append(
            f"| `{r['name']}` | {_fmt(c.get('test_accuracy'), '.4f')} | {ece} | {robust} | "
            f"{c.get('epochs_run', '?')} | {secs / 60:.1f} min | "
            f"{c.get('parameters', {}).get('total', 0):,} | "
            f"{f'{lat:.1f} ms' if lat is not None else 'n/a'} | `{c.get('command', '?')}` |")
    if any(not (r["card"].get("calibration") or {}).get("held_out", True) for r in rows):
        lines.append("")
        lines.append("\\* temperature fitted on training images the model was trained on "
                     "(it held none out): a weaker estimate than held-out images.")
    return "\n".join(lines)


README_BEGIN, README_END = "<!-- models:begin -->", "<!-- models:end -->"


def replace_block(doc: Path, begin: str, end: str, body: str) -> bool:
    """Replace the text between the ``begin`` and ``end`` marker lines of ``doc`` with ``body``;
    True if the file changed."""
    text = Path(doc).read_text()
    if begin not in text or end not in text:
        raise ValueError(f"{doc} has no {begin} … {end} markers")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    new = f"{head}{begin}\n{body}\n{end}{tail}"
    Path(doc).write_text(new)
    return new != text


def update_readme(readme: Path, rows: list[dict]) -> bool:
    """Replace the README's model table (between the markers) with one read from the cards."""
    return replace_block(readme, README_BEGIN, README_END, markdown_table(rows))
