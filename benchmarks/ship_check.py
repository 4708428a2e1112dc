"""Score a candidate and the model it would replace on the images both held out (the ship rule).

Each model's card gives its recipe; the recipe gives its held-out images (the last tenth of the
training set for both here). The script checks both held out the same images (a hash of their
pixels), scores each model on them as the page does (its own test-time augmentation, the final
weights), counts the images only one of the two gets right, and writes one row per model with
its card's test accuracy (overall and per class), calibration, size, training time and latency
beside it, so the rows are enough to draw the comparison when the candidate does not ship. The
two rows replace the pair's earlier rows in the CSV and leave other pairs' rows as they are (one
pair a trial of :data:`wic.experiments.shipping.TRIALS` or a repeat of one, ``REPEATS``). The
rule that reads the rows is :mod:`wic.experiments.shipping`; the test set is not touched here.

    WIC_DATA_DIR=/path/to/folder-with-cifar-10-batches-py python benchmarks/ship_check.py \
        airbench94_cpu_wide_v2 airbench94_cpu_v2
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CSV = ROOT / "benchmarks" / "results" / "ship_check.csv"
FIELDS = ["model", "against", "net", "optimizer", "epochs", "held_out_images", "held_out_sha256",
          "held_out_accuracy", "gained", "lost", "test_accuracy", "held_out_ece_after",
          "test_ece_after", "parameters", "train_wall_time_s", "latency_ms_p50", "score_s", "cpu",
          "load_avg"]  # then one test_<class> column per class, from the card


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("candidate", help="the model that would ship (a name in models/ or runs/)")
    p.add_argument("incumbent", help="the shipped model it would replace")
    p.add_argument("--csv", type=Path, default=CSV)
    p.add_argument("--limit", type=int, default=None,
                   help="score only the first N held-out images (a quick check; the rule uses all)")
    args = p.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        p.error(f"--limit must be a positive number of images, got {args.limit}")
    if args.candidate == args.incumbent:
        p.error(f"the candidate and the incumbent are both {args.candidate!r}; name two models")

    from wic import cards, config, data, models
    from wic.evaluation import metrics
    from wic.experiments import results, shipping
    from wic.serving import resolve_model_path
    from wic.training.recipe import Recipe
    from wic.training.trainer import training_arrays

    cpu = config.describe_cpu()
    print(f"CPU: {cpu}; load {os.getloadavg()[0]:.2f}", flush=True)
    ds = data.load_cifar10()
    rows, right = [], {}
    for name, other in ((args.candidate, args.incumbent), (args.incumbent, args.candidate)):
        path = resolve_model_path(name)
        card = cards.read_card(path)
        _, held = training_arrays(ds, Recipe.from_dict(card["recipe"]))
        if held is None:
            p.error(f"{name} held out no training images (its recipe's validation_split is "
                    f"{card['recipe'].get('validation_split')!r}); the rule compares models on "
                    "images neither trained on")
        x, y = held[0][:args.limit], held[1][:args.limit]
        t0 = time.perf_counter()
        probs = metrics.predict_proba(models.load(path), x)
        score_s = time.perf_counter() - t0
        right[name] = probs.argmax(axis=1) == y
        calib = card.get("calibration") or {}
        rows.append({
            "model": name, "against": other, "net": card["registry_model"],
            "optimizer": card["recipe"]["optimizer"],
            "epochs": card["epochs_run"], "held_out_images": len(y),
            "held_out_sha256": hashlib.sha256(np.ascontiguousarray(x).tobytes()).hexdigest()[:16],
            "held_out_accuracy": round(float(right[name].mean()), 4),
            "test_accuracy": card["test_accuracy"],
            "held_out_ece_after": calib.get("held_out_ece_after"),
            "test_ece_after": calib.get("test_ece_after"),
            "parameters": card["parameters"]["total"], "train_wall_time_s": card["train_wall_time_s"],
            "latency_ms_p50": card.get("latency_ms_p50"), "score_s": round(score_s, 1), "cpu": cpu,
            "load_avg": round(os.getloadavg()[0], 2),
            **{f"test_{c}": a for c, a in card["per_class_accuracy"].items()}})
        print(f"{name}: {rows[-1]['held_out_accuracy']:.2%} on {len(y):,} held-out images "
              f"({score_s:.0f} s)", flush=True)
    a, b = right[args.candidate], right[args.incumbent]
    if len(a) == len(b):
        rows[0].update(gained=int((a & ~b).sum()), lost=int((~a & b).sum()))
        rows[1].update(gained=int((b & ~a).sum()), lost=int((~b & a).sum()))
    pair = {args.candidate, args.incumbent}
    kept = [r for r in (results.read_rows(args.csv) if args.csv.is_file() else [])
            if {r["model"], r["against"]} != pair]
    rows = kept + rows
    results.write_rows(args.csv, rows, FIELDS + [f"test_{c}" for c in ds.class_names])
    repeats = next((r.repeats for r in shipping.REPEATS if r.model == args.candidate), None)
    print(shipping.sentence(rows, args.candidate, args.incumbent, repeats=repeats))
    print(f"wrote {args.csv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
