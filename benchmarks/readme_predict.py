"""Rewrite the README's ``wic predict`` example from a real run with the page's default model.

    WIC_DATA_DIR=... python benchmarks/readme_predict.py [--check]

Makes ``cat.png`` and ``truck.png`` — the first cat and the first truck of the CIFAR-10 test
set, upscaled to 256x256 (bicubic) — and a ``notes.txt`` in a temporary folder (nothing is kept
in the repository), runs ``wic predict`` on the three there, and writes what it printed, its exit
code and the model it used between ``<!-- predict-example:begin -->`` and ``:end -->``.
``--check`` prints the block instead of writing it.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- predict-example:begin -->", "<!-- predict-example:end -->"
SIDE = 256


def pictures(folder: Path) -> list[str]:
    """The three files of the example, written into ``folder``; their names in order."""
    from PIL import Image

    from wic import data

    ds = data.load_cifar10()
    for name in ("cat", "truck"):
        i = int((ds.y_test == ds.class_names.index(name)).argmax())
        Image.fromarray(ds.x_test[i]).resize((SIDE, SIDE), Image.BICUBIC).save(folder / f"{name}.png")
    (folder / "notes.txt").write_text("Meeting notes: bring the slides.\n")
    return ["cat.png", "truck.png", "notes.txt"]


def block() -> str:
    """Run the example; the README block (command, output, exit code, and which model)."""
    from wic.serving.classifier import resolve_model_path

    model = resolve_model_path(None).stem
    with tempfile.TemporaryDirectory() as tmp:
        files = pictures(Path(tmp))
        proc = subprocess.run([sys.executable, "-m", "wic.cli", "predict", *files], cwd=tmp,
                              capture_output=True, text=True, timeout=600)
    shown = (proc.stdout + proc.stderr).rstrip("\n")
    lines = shown.splitlines()
    said = {lines[k][:-len(".png:")]: lines[k + 1].split(":")[0].strip().lower()
            for k in range(len(lines) - 1) if lines[k].endswith(".png:")}
    wrong = [name for name, top in said.items() if top != name]
    verdict = (f"The {' and the '.join(wrong)} {'is one' if len(wrong) == 1 else 'are'} of the "
               "model's mistakes. " if wrong else "Both are right. ")
    note = textwrap.fill(
        f"(Written by `benchmarks/readme_predict.py` from a real run with the default model "
        f"`{model}` and its card's temperature: `cat.png` and `truck.png` are the first cat and "
        f"truck of the CIFAR-10 test set, upscaled to {SIDE}×{SIDE} (bicubic) and kept out of the "
        f"repository. {verdict}A calibrated model is right about as often as it says *on "
        "average*, not on every picture. Probabilities print as `>99.9%` / `<0.1%` at the ends, "
        "never a rounded 100.0% or 0.0%.)", width=100, break_on_hyphens=False)
    return "\n".join([
        "```text", f"$ wic predict {' '.join(files)}", shown, "$ echo $?", str(proc.returncode),
        "```", "", note])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="print the block, do not write it")
    args = ap.parse_args(argv)
    text = block()
    if args.check:
        print(text)
        return 0
    from wic import cards

    changed = cards.replace_block(ROOT / "README.md", BEGIN, END, text)
    print(f"README.md: predict example {'rewritten' if changed else 'already up to date'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
