"""Small notebook utilities: strip outputs that must not be committed.

Cells tagged ``dataset-images`` show CIFAR-10 pictures. A reader without a kernel should see
a handful of small thumbnails (sample images, near-duplicate pairs, one augmented batch), but
the repository must never carry the dataset: such a cell keeps at most
``THUMBNAIL_FIGURES`` PNG figures of at most ``THUMBNAIL_BYTES`` each, and its text, and loses
every other rich output (a larger figure, HTML, other images). Saved widget state (which can embed uploaded
files) is dropped, and TensorFlow's native start-up log lines are removed from stderr outputs.
Widget outputs go too: without their state they can never render again, and a reader would
see a progress bar frozen at its first frame ("50% 12/24") or a ``VBox(children=...)`` repr.

Cells tagged ``ci-only`` run only the smoke profile's checks; the rendered course
(:mod:`wic.experiments.book`) leaves them out.
"""

from __future__ import annotations

import re
from pathlib import Path

STRIP_TAG = "dataset-images"
CI_ONLY_TAG = "ci-only"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
#: A ``dataset-images`` cell keeps at most this many PNG figures, each at most this many bytes
#: (decoded): a grid of a few dozen 32x32 thumbnails, never a dump of the dataset.
THUMBNAIL_FIGURES = 2
THUMBNAIL_BYTES = 150_000
TEXT_MIMES = {"text/plain", "text/markdown"}
#: TensorFlow's C++ start-up lines (absl logging: CUDA probing on a CPU machine, oneDNN
#: notices) that ipykernel captures into cells; noise for a reader, dropped on publish.
NATIVE_NOISE = re.compile(r"^(?:[IWE]\d{4} [\d:.]+\s+\d+ \S+:\d+\] .*|WARNING: All log messages "
                          r"before absl::InitializeLog\(\) is called are written to STDERR"
                          r"|To enable the following instructions: .*)$")


def _drop_native_noise(outputs: list) -> list:
    kept = []
    for out in outputs:
        if WIDGET_VIEW in out.get("data", {}):  # its state is dropped below: it can never render
            continue
        if out.get("output_type") == "stream" and out.get("name") == "stderr":
            lines = [ln for ln in out.get("text", "").splitlines(keepends=True)
                     if not NATIVE_NOISE.match(ln.rstrip("\n"))]
            if not "".join(lines).strip():
                continue
            out["text"] = "".join(lines)
        kept.append(out)
    return kept


def _png_bytes(out: dict) -> int | None:
    png = out.get("data", {}).get("image/png")
    if png is None:
        return None
    import base64

    return len(base64.b64decode("".join(png) if isinstance(png, list) else png))


def _keep_thumbnails(outputs: list) -> list:
    """A ``dataset-images`` cell's outputs: text and the first few small PNG figures."""
    kept, figures = [], 0
    for out in outputs:
        data = out.get("data", {})
        if out.get("output_type") == "stream" or (data and set(data) <= TEXT_MIMES):
            kept.append(out)  # printed text, or Markdown rendered from the cell's numbers
            continue
        size = _png_bytes(out)
        if size is not None and size <= THUMBNAIL_BYTES and figures < THUMBNAIL_FIGURES:
            figures += 1
            out["data"] = {k: v for k, v in out["data"].items() if k in ("image/png", "text/plain")}
            kept.append(out)
    return kept


def strip_for_commit(src: Path, dst: Path | None = None) -> Path:
    import nbformat

    nb = nbformat.read(src, as_version=4)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        cell.outputs = _drop_native_noise(cell.outputs)
        if STRIP_TAG in cell.get("metadata", {}).get("tags", []):
            cell.outputs = _keep_thumbnails(cell.outputs)
    nb.metadata.pop("widgets", None)
    # papermill's record of one machine's run: absolute paths, timestamps, durations
    nb.metadata.pop("papermill", None)
    for cell in nb.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
    dst = Path(dst or src)
    nbformat.write(nb, dst)
    return dst


def shown_text(cell) -> str:
    """What a reader sees of a cell without a kernel: a Markdown cell's source, or a code
    cell's printed text and rendered Markdown (what tests compare with the numbers behind it)."""
    if cell.get("cell_type") == "markdown":
        return cell.get("source", "")
    parts = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            parts.append(out.get("text", ""))
        else:
            parts.append(out.get("data", {}).get("text/markdown", ""))
    return "".join(parts)
