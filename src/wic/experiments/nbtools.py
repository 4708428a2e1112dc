"""Small notebook utilities: strip outputs that must not be committed.

Cells tagged ``dataset-images`` show CIFAR-10 pictures; their outputs are removed before a
notebook is committed (the dataset and images cut from it stay out of the repository), and
saved widget state (which can embed uploaded files) is dropped, and TensorFlow's native
start-up log lines are removed from stderr outputs.
"""

from __future__ import annotations

import re
from pathlib import Path

STRIP_TAG = "dataset-images"
#: TensorFlow's C++ start-up lines (absl logging: CUDA probing on a CPU machine, oneDNN
#: notices) that ipykernel captures into cells; noise for a reader, dropped on publish.
NATIVE_NOISE = re.compile(r"^(?:[IWE]\d{4} [\d:.]+\s+\d+ \S+:\d+\] .*|WARNING: All log messages "
                          r"before absl::InitializeLog\(\) is called are written to STDERR"
                          r"|To enable the following instructions: .*)$")


def _drop_native_noise(outputs: list) -> list:
    kept = []
    for out in outputs:
        if out.get("output_type") == "stream" and out.get("name") == "stderr":
            lines = [ln for ln in out.get("text", "").splitlines(keepends=True)
                     if not NATIVE_NOISE.match(ln.rstrip("\n"))]
            if not "".join(lines).strip():
                continue
            out["text"] = "".join(lines)
        kept.append(out)
    return kept


def strip_for_commit(src: Path, dst: Path | None = None) -> Path:
    import nbformat

    nb = nbformat.read(src, as_version=4)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if STRIP_TAG in cell.get("metadata", {}).get("tags", []):
            cell.outputs = []
            cell.execution_count = None
        else:
            cell.outputs = _drop_native_noise(cell.outputs)
    nb.metadata.pop("widgets", None)
    # papermill's record of one machine's run: absolute paths, timestamps, durations
    nb.metadata.pop("papermill", None)
    for cell in nb.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
    dst = Path(dst or src)
    nbformat.write(nb, dst)
    return dst
