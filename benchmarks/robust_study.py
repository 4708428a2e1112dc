"""What robustness augmentations buy and cost: one row per trained model, read from its card.

    python benchmarks/robust_study.py airbench94_cpu_v2 airbench94_cpu_robust_v1 [...]

Each NAME is a shipped model (``models/NAME.json``) or a finished run (``runs/NAME/NAME.json``)
whose card holds a CIFAR-10-C (regenerated) benchmark (``wic evaluate --model ... --robustness
--robustness-subset 300 --write-card``). The row records the recipe's augmentation fields (with
how many last epochs were clean), the share of training images held out, the epochs, the seed,
the training seconds, the clean test accuracy, the calibration error after the card's temperature,
the benchmark's mean and its mean per family, and the net. Rows go to
``benchmarks/results/robust_study.csv`` (a model already there is replaced in its place); the
table in ``benchmarks/FAST_RECIPE.md`` is rendered from it (``python benchmarks/report.py``), and
``figures/robust_tradeoff.png`` draws the models within ``--figure-min-accuracy`` of clean
accuracy (default 92%: the seed's 78% would squeeze the rest into a corner); when a recipe was
trained with several seeds (``wic train --seed N``), ``figures/robust_seeds.png`` shows how far
its runs lie apart, and the results block gets a line with their mean and range.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
AUGMENTATIONS = ("optimizer", "noise", "blur", "brightness", "contrast", "clean_epochs",
                 "clean_noisy_epochs")
COLUMNS = ["model", "net", *AUGMENTATIONS, "validation_split", "epochs", "seed", "train_seconds",
           "test_accuracy",
           "test_ece_calibrated", "corruption_mean", "corruption_images", "noise_family",
           "blur_family", "weather_family", "digital_family", "command"]


def _train_flags(command: str | None) -> dict[str, str] | None:
    """A ``wic train`` command's flags (as a card records it) by name; None when the command is
    not a ``wic train`` one."""
    words = (command or "").split()
    # the card records the program as it was called: wic, or wic's cli.py run by Python
    if len(words) < 2 or Path(words[0]).name not in ("wic", "cli.py") or words[1] != "train":
        return None
    return {a: b for a, b in zip(words, words[1:]) if a.startswith("--")}


def seed_of(command: str | None) -> int | str:
    """The seed a ``wic train`` command (as a card records it) trained with: its ``--seed``, else
    its recipe's default (``--recipe``, default the seed's). For rows written before the CSV had
    a seed column; '' when the command is not a ``wic train`` one."""
    from wic.training import recipe_named

    flag = _train_flags(command)
    if flag is None:
        return ""
    return int(flag["--seed"]) if "--seed" in flag else recipe_named(flag.get("--recipe", "seed")).seed


def net_of(command: str | None) -> str:
    """The registry net a ``wic train`` command trained (its ``--model``, else ``wic train``'s
    default, the seed's net). For rows written before the CSV had a net column; '' when the
    command is not a ``wic train`` one."""
    flag = _train_flags(command)
    return "" if flag is None else flag.get("--model", "seed_v1_3")


def row(name: str) -> dict:
    from wic import cards
    from wic.evaluation.corruptions import FAMILIES
    from wic.serving.classifier import resolve_model_path  # models/NAME, else runs/NAME/NAME

    try:
        card = cards.read_card(resolve_model_path(name))
    except ValueError as err:  # not found (the message lists the shipped models)
        raise SystemExit(f"{name}: {err}") from None
    rob = card.get("robustness") or {}
    if not rob.get("per_corruption"):
        raise SystemExit(f"{name}: its card has no robustness benchmark; run wic evaluate --model "
                         f"{name} --robustness --robustness-subset 300 --write-card")
    recipe = card.get("recipe") or {}
    fam: dict[str, list[float]] = {}
    for corruption, acc in rob["per_corruption"].items():
        fam.setdefault(FAMILIES[corruption], []).append(acc)
    # a card older than a field was trained without it (the fields default to off)
    return {"model": name, "net": card["registry_model"],
            **{k: recipe.get(k, 0) for k in AUGMENTATIONS},
            # the share of training images held out (to fit the temperature): not trained on
            "validation_split": recipe.get("validation_split", 0),
            "epochs": card.get("epochs_run"), "seed": recipe.get("seed", seed_of(card.get("command"))),
            "train_seconds": round(card["train_wall_time_s"], 1),
            "test_accuracy": card["test_accuracy"],
            "test_ece_calibrated": (card.get("calibration") or {}).get("test_ece_after", ""),
            "corruption_mean": round(rob["mean_accuracy"], 4),
            "corruption_images": rob.get("n_images"),
            **{f"{f}_family": round(sum(v) / len(v), 4) for f, v in fam.items()},
            "command": card.get("command", "")}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("names", nargs="+", help="shipped model or finished run names")
    ap.add_argument("--csv", type=Path, default=ROOT / "benchmarks" / "results" / "robust_study.csv")
    ap.add_argument("--figure", type=Path, default=ROOT / "figures" / "robust_tradeoff.png")
    ap.add_argument("--figure-min-accuracy", type=float, default=0.92)
    ap.add_argument("--seeds-figure", type=Path, default=ROOT / "figures" / "robust_seeds.png",
                    help="drawn when a recipe was trained with several seeds")
    args = ap.parse_args(argv)
    from wic.evaluation import metrics, plots
    from wic.experiments import results

    new = [row(n) for n in args.names]
    fresh = {r["model"]: r for r in new}
    old = results.read_rows(args.csv) if args.csv.is_file() else []
    for r in old:  # rows older than a column: what their command trained with
        if r.get("seed") in (None, ""):
            r["seed"] = seed_of(r.get("command"))
        if r.get("net") in (None, ""):
            r["net"] = net_of(r.get("command"))
    # a model already there is measured again in its place: the first run of a recipe stays first
    rows = [fresh.pop(r["model"], r) for r in old]
    results.write_rows(args.csv, [*rows, *fresh.values()], COLUMNS)
    shown = [r for r in results.read_rows(args.csv)
             if float(r["test_accuracy"]) >= args.figure_min_accuracy]
    plots.robustness_tradeoff(shown, args.figure)
    print(f"wrote {args.csv} and {args.figure} ({len(shown)} models drawn)")
    every = results.read_rows(args.csv)
    if metrics.robust_repeats(every):
        plots.robust_seeds(every, args.seeds_figure)
        print(f"wrote {args.seeds_figure}")
        for line in results.robust_repeats_lines(args.csv):
            print(line.replace("**", ""))
        if line := results.robust_recipes_sentence(args.csv):  # two recipes with seeds
            print(line)
    for r in new:
        print(f"{r['model']}: clean {r['test_accuracy']:.4f}, CIFAR-10-C mean "
              f"{r['corruption_mean']:.4f} (n={r['corruption_images']}), {r['epochs']} epochs, "
              f"{r['train_seconds'] / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
