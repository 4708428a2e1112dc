"""Small notebook utilities: strip outputs that must not be committed.

Cells tagged ``dataset-images`` show CIFAR-10 pictures; their outputs are removed before a
notebook is committed (the dataset and images cut from it stay out of the repository), and
saved widget state (which can embed uploaded files) is dropped.
"""

from __future__ import annotations

from pathlib import Path

STRIP_TAG = "dataset-images"


def strip_for_commit(src: Path, dst: Path | None = None) -> Path:
    import nbformat

    nb = nbformat.read(src, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code" and STRIP_TAG in cell.get("metadata", {}).get("tags", []):
            cell.outputs = []
            cell.execution_count = None
    nb.metadata.pop("widgets", None)
    dst = Path(dst or src)
    nbformat.write(nb, dst)
    return dst
