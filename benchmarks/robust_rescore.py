"""How far can a CIFAR-10-C mean on 300 images be off? The benchmark again, on more test images.

Every card's CIFAR-10-C (regenerated) mean was measured on the first 300 test images (``wic
evaluate --robustness --robustness-subset 300``): fast enough to run for every model, but a
sample. When a claim rests on a small margin (a recipe "meets the 85% target with every seed"),
this script scores the same models on the first ``--images`` test images (default 2,000) and
reports, for both sizes, the mean with its standard error over images
(``corruptions.standard_error``: the test images are the sample; the corruptions' random draws
are fixed by their seed). The clean test accuracy gets its standard error too (10,000 images,
binomial). Cards are not changed: every card keeps the same 300 images, so cards stay
comparable with each other.

    WIC_DATA_DIR=/path/to/folder-with-cifar-10-batches-py python benchmarks/robust_rescore.py \\
        airbench94_cpu_robust_v9 airbench94_cpu_robust_v9_s1 airbench94_cpu_robust_v9_s2
    python benchmarks/robust_rescore.py   # no names: redraw the figure from the CSV

One row per model in ``benchmarks/results/robust_rescore.csv`` (a model already there is
replaced), drawn in ``figures/robust_rescore.png`` (every number with ± two standard errors);
the results block of ``benchmarks/FAST_RECIPE.md`` renders the CSV (``python
benchmarks/report.py``) and notebook 05 shows the figure. Where two recipes (told apart by
``robust_study.csv``) were rescored with several seeds each, their means are compared against
their seed spreads (``results.rescore_recipes_sentence``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = ["cpu", "model", "seed", "test_accuracy", "test_images", "test_se", "card_mean",
           "card_images", "first_mean", "first_se", "corruption_mean", "corruption_images",
           "corruption_se", "seconds"]


def row(name: str, x, y, cpu: str) -> dict:
    """The benchmark on ``x``/``y`` for one model, with the first ``card_images`` of them scored
    apart: the images its card's mean was measured on."""
    from wic import cards
    from wic.evaluation import corruptions, metrics
    from wic.serving import Classifier, resolve_model_path

    try:
        path = resolve_model_path(name)
    except ValueError as err:  # not found: the message lists the shipped models
        raise SystemExit(f"{name}: {err}") from None
    card = cards.read_card(path)
    rob = card.get("robustness") or {}
    if not rob.get("n_images"):
        raise SystemExit(f"{name}: its card has no robustness benchmark to check; run wic evaluate "
                         f"--model {name} --robustness --robustness-subset 300 --write-card")
    first = int(rob["n_images"])
    if first >= len(x):
        raise SystemExit(f"{name}: its card's benchmark already used {first} images; --images must "
                         f"be more than that (got {len(x)})")
    clf = Classifier.load(path)
    t0 = time.perf_counter()
    rows = corruptions.benchmark(clf.predict_arrays, x, y, keep_correct=True)
    seconds = time.perf_counter() - t0
    head = [{**r, "correct": r["correct"][:first]} for r in rows]
    acc, n_test = float(card["test_accuracy"]), int(card["test_examples"])
    return {"cpu": cpu, "model": path.stem, "seed": (card.get("recipe") or {}).get("seed", ""),
            "test_accuracy": acc, "test_images": n_test,
            "test_se": round(metrics.accuracy_standard_error(acc, n_test), 5),
            "card_mean": round(float(rob["mean_accuracy"]), 4), "card_images": first,
            "first_mean": round(float(corruptions.image_scores(head).mean()), 4),
            "first_se": round(corruptions.standard_error(head), 4),
            "corruption_mean": round(corruptions.mean_accuracy(rows), 4),
            "corruption_images": len(x),
            "corruption_se": round(corruptions.standard_error(rows), 4),
            "seconds": round(seconds, 1)}


def _summary(csv: Path, study: Path) -> str:
    """What the CSV says in words: about the targets, then, where recipes were rescored with
    several seeds each, whether one is more robust than another."""
    from wic.experiments import results

    return "\n".join(filter(None, (results.robust_rescore_sentence(csv),
                                    results.rescore_recipes_sentence(csv, study))))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("names", nargs="*",
                    help="shipped model or finished run names (none: redraw the figure from the "
                         "CSV, measuring nothing)")
    ap.add_argument("--images", type=int, default=2000,
                    help="score the first N test images (default 2,000; all: 10,000)")
    ap.add_argument("--csv", type=Path,
                    default=ROOT / "benchmarks" / "results" / "robust_rescore.csv")
    ap.add_argument("--figure", type=Path, default=ROOT / "figures" / "robust_rescore.png")
    ap.add_argument("--study", type=Path,
                    default=ROOT / "benchmarks" / "results" / "robust_study.csv",
                    help="robust_study.csv, whose rows tell which runs repeat one recipe: recipes "
                         "rescored with several seeds are compared (default: the committed one)")
    args = ap.parse_args(argv)
    if not 2 <= args.images <= 10_000:
        ap.error(f"--images must be from 2 to 10,000 (the test set), not {args.images}")
    from wic import config, data
    from wic.evaluation import plots
    from wic.experiments import results

    if not args.names:
        if not args.csv.is_file():
            ap.error(f"no model names and no {args.csv} to redraw: name the models to score")
        plots.robust_rescore(results.read_rows(args.csv), args.figure)
        print(f"redrew {args.figure} from {args.csv}")
        print(_summary(args.csv, args.study))
        return 0
    cpu = config.describe_cpu()
    print(f"CPU: {cpu}; load {os.getloadavg()[0]:.2f}", flush=True)
    ds = data.load_cifar10()
    x, y = ds.x_test[:args.images], ds.y_test[:args.images]
    new = []
    for i, name in enumerate(args.names, start=1):
        r = row(name, x, y, cpu)
        new.append(r)
        print(f"[{i}/{len(args.names)}] {r['model']}: CIFAR-10-C mean {r['corruption_mean']:.2%} "
              f"± {r['corruption_se']:.2%} on {r['corruption_images']:,} images; on its card's "
              f"first {r['card_images']}: {r['first_mean']:.2%} ± {r['first_se']:.2%} (the card "
              f"says {r['card_mean']:.2%}); clean {r['test_accuracy']:.2%} ± {r['test_se']:.2%}; "
              f"{r['seconds'] / 60:.1f} min", flush=True)
    old = results.read_rows(args.csv) if args.csv.is_file() else []
    kept = [r for r in old if r["model"] not in {n["model"] for n in new}]
    results.write_rows(args.csv, [*kept, *new], COLUMNS)
    plots.robust_rescore(results.read_rows(args.csv), args.figure)
    print(f"wrote {args.csv} and {args.figure}")
    print(_summary(args.csv, args.study))
    return 0


if __name__ == "__main__":
    sys.exit(main())
