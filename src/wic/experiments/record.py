"""Record a named metric from a notebook: ``record("test_accuracy", 0.7132)``.

A recorded value leaves the kernel two ways, so it survives whichever part of a run does:

1. When ``WIC_METRICS_FILE`` is set (``wic sweep`` sets it for every run's kernel), one JSON
   line ``{"name": ..., "value": ..., "time": ...}`` is appended and flushed per call. The
   sweep reads this file into its runs table, even when a later cell of the run failed.
2. Inside a Jupyter kernel a display output is added to the cell: MIME type
   ``application/vnd.wic.metric+json`` (read back from a saved ``.ipynb`` with
   :func:`read_notebook`) plus a plain ``name = value`` line that JupyterLab shows.

Run by hand in JupyterLab (no sweep) only the second happens; in a plain script neither
prints anything unless asked. Values: numbers, strings, booleans, None, and lists/dicts of
them; NumPy scalars and arrays are converted. Recording a name twice keeps both lines; tables
use the last. Importing this module imports neither TensorFlow nor IPython.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

ENV_VAR = "WIC_METRICS_FILE"
MIME = "application/vnd.wic.metric+json"

__all__ = ["ENV_VAR", "MIME", "latest", "read_jsonl", "read_notebook", "record"]


def record(name: str, value, *, show: bool = True):
    """Record metric ``name`` = ``value``; returns ``value`` (converted to plain Python)."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"record(): the metric name must be a non-empty string, got {name!r}")
    value = _plain(value, name)
    entry = {"name": name, "value": value, "time": round(time.time(), 3)}
    path = os.environ.get(ENV_VAR)
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry) + "\n")
            fh.flush()
    if show:
        _display(entry)
    return value


def _plain(value, name: str):
    """``value`` as JSON-ready Python (NumPy scalars/arrays and tuples converted)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "tolist") and hasattr(value, "dtype"):  # NumPy scalar or array
        return _plain(value.tolist(), name)
    if isinstance(value, (list, tuple)):
        return [_plain(v, name) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v, name) for k, v in value.items()}
    if hasattr(value, "__float__"):  # e.g. a 0-d tensor
        return float(value)
    raise TypeError(f"record({name!r}, ...): cannot record a {type(value).__name__}; accepted: "
                    "numbers, strings, booleans, None, and lists/dicts of them")


def _display(entry: dict) -> None:
    if "IPython" not in sys.modules:  # not in a kernel or IPython shell: stay quiet
        return
    from IPython import get_ipython
    from IPython.display import display

    if get_ipython() is None:
        return
    value = entry["value"]
    # what a reader sees: floats to 4 significant digits (the JSON keeps the full value)
    shown = f"{value:.4g}" if isinstance(value, float) else repr(value)
    text = f"{entry['name']} = {shown}"
    display({MIME: entry, "text/plain": text}, raw=True)


# ----------------------------------------------------------------------------- reading back


def read_jsonl(path: str | os.PathLike) -> list[dict]:
    """Entries of a metrics file, in order; a torn last line (a killed kernel) is skipped."""
    path = Path(path)
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(entry, dict) and "name" in entry:
            out.append(entry)
    return out


def read_notebook(nb) -> list[dict]:
    """Entries recorded in an executed notebook (a path or an nbformat node), in cell order."""
    if isinstance(nb, (str, os.PathLike)):
        nb = json.loads(Path(nb).read_text(encoding="utf-8"))
    out = []
    for cell in nb.get("cells", []):
        for output in cell.get("outputs", []) or []:
            entry = (output.get("data") or {}).get(MIME)
            if isinstance(entry, dict) and "name" in entry:
                out.append(dict(entry))
    return out


def latest(entries: list[dict]) -> dict:
    """``{name: value}`` keeping the last value recorded under each name."""
    return {e["name"]: e.get("value") for e in entries}
