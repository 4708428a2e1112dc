"""Fewer epochs to 94%: one ingredient at a time on the same budget, selected on held-out images.

Each run is ``wic train`` (a fresh process, resumable) with a tenth of the training images held
out: the variants are compared on **validation** accuracy (those held-out images, as Keras
evaluates them after the last epoch, with the net's TTA), never on the test set. The test accuracy
each card records is kept in the table but is not what ranks the variants.

    WIC_DATA_DIR=... python benchmarks/optimizer_study.py --model airbench_cpu_s --epochs 4 \\
        --variant nesterov= --variant muon=optimizer=muon --seeds 0 1 2

``--final`` trains the variants on all 50,000 training images (nothing held out) once the
choice is made: those rows have no validation accuracy and report only the test accuracy — the
number a recipe is quoted with (airbench's convention), never used to choose.

A variant is ``NAME=FIELD=VALUE[,FIELD=VALUE...]`` (recipe fields, as ``wic train --set``);
``NAME=`` is the recipe unchanged. Rows go to ``benchmarks/results/optimizer_study.csv``
(appended; a finished run is read back from its folder instead of being trained again), one
per run: the CPU, model, recipe, variant, seed, epochs, validation accuracy per epoch and at
the end, the card's test accuracy, the training seconds, the 1-minute load average when the row was
written, and the seconds from the ``wic train`` process's start to its end (Python and data
loading, training, the test set scored with TTA, the card written: the "from start" clock of
the time targets). Seconds are comparable only between runs on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = ["cpu", "model", "recipe", "variant", "changes", "seed", "epochs", "validation_split",
           "val_accuracy", "val_accuracy_per_epoch", "test_accuracy", "train_seconds",
           "load_avg", "run_dir", "process_seconds", "test_images"]


def parse_variant(text: str) -> tuple[str, list[str]]:
    name, sep, rest = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"variant {text!r}: expected NAME=FIELD=VALUE[,...] or NAME=")
    sets = [s for s in rest.split(",") if s]
    for s in sets:
        if "=" not in s:
            raise argparse.ArgumentTypeError(f"variant {text!r}: {s!r} is not FIELD=VALUE")
    return name, sets


def run_one(args, name: str, sets: list[str], seed: int) -> dict:
    out = f"{args.model}_{args.recipe}_e{args.epochs}_{name}_s{seed}" + ("_all" if args.final else "")
    run_dir = args.runs / out
    card = run_dir / f"{out}.json"
    split = 0.0 if args.final else args.validation_split
    process_s = ""  # unknown for a run read back from its folder
    if not card.is_file():
        cmd = [sys.executable, "-m", "wic.cli", "train", "--model", args.model, "--recipe",
               args.recipe, "--epochs", str(args.epochs), "--seed", str(seed),
               "--validation-split", str(split), "--run-dir", str(run_dir),
               "--out", out, "--verbose", "2"]
        for s in sets:
            cmd += ["--set", s]
        if args.test_subset is not None:
            cmd += ["--test-subset", str(args.test_subset)]
        print("$", " ".join(cmd[2:]), flush=True)
        started = time.perf_counter()
        subprocess.run(cmd, check=True)
        process_s = round(time.perf_counter() - started, 1)
    c = json.loads(card.read_text())
    hist = json.loads((run_dir / "state.json").read_text())["history"]
    val = hist.get("val_accuracy") or []
    from wic import config

    return {"cpu": config.describe_cpu(), "model": args.model, "recipe": args.recipe,
            "variant": name, "changes": ";".join(sets), "seed": seed, "epochs": args.epochs,
            "validation_split": split,
            "val_accuracy": round(val[-1], 4) if val else "",
            "val_accuracy_per_epoch": " ".join(f"{v:.4f}" for v in val),
            "test_accuracy": c.get("test_accuracy"), "test_images": c.get("test_examples", ""),
            "train_seconds": round(c.get("train_wall_time_s") or 0, 1),
            "load_avg": round(os.getloadavg()[0], 2), "run_dir": str(run_dir.relative_to(ROOT))
            if run_dir.is_relative_to(ROOT) else str(run_dir),
            "process_seconds": process_s}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="airbench_cpu_s")
    ap.add_argument("--recipe", default="fast")
    ap.add_argument("--epochs", type=int, required=True)
    ap.add_argument("--validation-split", type=float, default=0.1)
    ap.add_argument("--variant", type=parse_variant, action="append", required=True)
    ap.add_argument("--final", action="store_true",
                    help="train on all training images (no validation): the chosen variant's test")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--test-subset", type=int, metavar="N",
                    help="score each run on the first N test images (smoke runs; the row's "
                         "test_images says so); default: all 10,000")
    ap.add_argument("--runs", type=Path, default=ROOT / "runs" / "optimizer_study")
    ap.add_argument("--csv", type=Path, default=ROOT / "benchmarks" / "results" / "optimizer_study.csv")
    args = ap.parse_args(argv)
    if not args.final and not 0 < args.validation_split < 1:
        ap.error("--validation-split must be in (0, 1): variants are ranked on held-out images")
    from wic.data import check_test_subset

    try:
        check_test_subset(args.test_subset)
    except ValueError as err:
        ap.error(str(err))
    from wic import config

    print(f"CPU: {config.describe_cpu()}", flush=True)
    from wic.experiments import results

    for seed in args.seeds:  # seeds outer: every variant gets a first run before any a second
        for name, sets in args.variant:
            row = run_one(args, name, sets, seed)
            print(f"{name} seed {seed}: val {row['val_accuracy'] or '-'}, test "
                  f"{row['test_accuracy']}, {row['train_seconds']} s", flush=True)
            # read now, not at start: a run already in the table (also one another invocation
            # wrote meanwhile) is not appended twice. A run is its folder on its CPU: the runs
            # folder is not committed, so another machine trains the same folder name afresh
            rows = results.read_rows(args.csv) if args.csv.is_file() else []
            if (row["cpu"], row["run_dir"]) in {(r["cpu"], r["run_dir"]) for r in rows}:
                print(f"{row['run_dir']}: already in {args.csv.name} for this CPU, not appended",
                      flush=True)
            else:
                results.write_rows(args.csv, [*rows, row], COLUMNS)
    return 0


if __name__ == "__main__":
    sys.exit(main())
