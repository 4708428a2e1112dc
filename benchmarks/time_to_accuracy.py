"""Time to accuracy: test accuracy against wall-clock seconds for one or more training recipes.

Each recipe runs under the same wall-clock budget. The clock starts before the dataset is
loaded and runs through training (data pipeline, XLA compilation, whitening initialisation,
per-epoch checkpoint files — everything ``wic.training.fit`` does). At the end of every epoch the
model is evaluated on the 10,000 test images; that evaluation is *not* charged to the later
checkpoints, but each checkpoint's ``elapsed_s`` includes its own evaluation — the moment you
would have had that test accuracy had you stopped there. ``train_s`` is the clock without any
checkpoint evaluation; ``eval_s`` is the evaluation itself. By default checkpoint evaluations
of a model with test-time augmentation use it (``--checkpoint-tta off`` switches it off for
the intermediate checkpoints: cheaper, slightly lower accuracy; the final one always uses it, on
every test image unless ``--final-tta-threshold P`` keeps it for the images whose plain top
probability is below P). Each run's final row also records what it trained: ``named_recipe``,
``seed`` and ``changes`` (the recipe's other differences from the named one, as ``FIELD=VALUE``
words that ``--set`` accepts), so a CSV says which runs share a seed without parsing labels.

A recipe whose full run is unaffordable can be read from a finished run instead:
``--history seed=benchmarks/results/seed_v1_3_train.log`` takes per-epoch seconds and validation accuracy from
a ``wic train`` log (Keras' one-line-per-epoch output), and ``models/seed_v1_3.json`` for the
final test accuracy; those rows are marked ``source=recorded`` (validation accuracy on the
seed's 10,000 held-out training images, not test accuracy).

    WIC_DATA_DIR=/path/to/folder-with-cifar-10-batches-py .venv/bin/python benchmarks/time_to_accuracy.py \\
        --run fast=airbench_cpu_s --history seed=benchmarks/results/seed_v1_3_train.log --budget-s 720 \\
        --save fast_cpu_v1

Writes ``benchmarks/results/time_to_accuracy.csv`` and ``figures/time_to_accuracy.png``, and
prints each recipe's time to 78%, 85%, 90% (and 94%) and the ratios to the first recipe listed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

from wic import config, values
from wic.data import check_test_subset
from wic.evaluation.metrics import TIME_TO_ACCURACY_THRESHOLDS as THRESHOLDS
from wic.evaluation.metrics import time_to_threshold as time_to
from wic.evaluation.plots import time_to_accuracy as plot
from wic.experiments import results


def checkpoint_callback(rows: list, label: str, t0: float, dataset, budget_s: float | None,
                        tta: bool, every: int = 1, epochs: int = 0, stop_at: float | None = None,
                        test_subset: int | None = None):
    """Keras callback: test accuracy at each epoch end (on the first ``test_subset`` test images
    if given); stops when the budget is spent (or, with ``stop_at``, at the first checkpoint whose
    test accuracy reaches it)."""
    from wic.backend import keras
    from wic.evaluation import metrics
    from wic.models.airbench import set_tta

    x_test, y_test = dataset.test_split(test_subset)

    class CheckpointEval(keras.callbacks.Callback):
        eval_total = 0.0

        def on_epoch_end(self, epoch, logs=None):
            train_s = time.perf_counter() - t0 - self.eval_total
            if (epoch + 1) % every and epoch + 1 != epochs:
                if budget_s and train_s >= budget_s:
                    self.model.stop_training = True
                return
            t1 = time.perf_counter()
            set_tta(self.model, tta)
            acc = metrics.evaluate_model(self.model, x_test, y_test).accuracy
            set_tta(self.model, True)
            eval_s = time.perf_counter() - t1
            self.eval_total += eval_s
            rows.append({"recipe": label, "epoch": epoch + 1, "train_s": round(train_s, 1),
                         "eval_s": round(eval_s, 1), "elapsed_s": round(train_s + eval_s, 1),
                         "test_accuracy": round(acc, 4), "test_images": len(x_test), "tta": tta,
                         "source": "measured"})
            print(f"[{label}] epoch {epoch + 1}: test accuracy {acc:.4f} at {train_s:.0f} s "
                  f"of training (+{eval_s:.0f} s evaluation{', TTA' if tta else ''})", flush=True)
            if budget_s and train_s >= budget_s:
                self.model.stop_training = True
            if stop_at and acc >= stop_at:
                print(f"[{label}] reached {stop_at:.2%}: stopping (--stop-at)", flush=True)
                self.model.stop_training = True

        def on_train_batch_end(self, batch, logs=None):
            if budget_s and time.perf_counter() - t0 - self.eval_total >= budget_s:
                self.model.stop_training = True

    return CheckpointEval()


def recipe_record(recipe, named: str) -> dict:
    """What a run trained, for its CSV row: the named recipe it started from, its seed, and its
    other ``changes`` from the named recipe as ``FIELD=VALUE`` words (what ``--set`` accepts;
    :func:`wic.experiments.results.run_record` reads them back)."""
    from wic import training

    changes = recipe.changes(training.recipe_named(named))
    changes.pop("seed", None)
    return {"named_recipe": named, "seed": recipe.seed,
            "changes": " ".join(f"{k}={v}" for k, v in changes.items())}


def run_recipe(label: str, model_name: str, recipe, named: str, budget_s: float | None,
               args) -> list[dict]:
    from wic import cards, data, training
    from wic.evaluation import metrics
    from wic.models.airbench import set_tta

    rows: list[dict] = []
    t0 = time.perf_counter()
    dataset = data.load_cifar10()
    load_s = time.perf_counter() - t0
    recipe = recipe.with_(time_budget_s=None)
    cb = checkpoint_callback(rows, label, t0, dataset, budget_s, args.checkpoint_tta == "on",
                             args.checkpoint_every, recipe.epochs, args.stop_at, args.test_subset)
    x_test, y_test = dataset.test_split(args.test_subset)
    run_dir = Path(args.runs_dir) / f"tta_{label}"
    if args.save and label == args.save_recipe:
        out = training.train_and_save(model_name, recipe, args.save, dataset=dataset,
                                      run_dir=run_dir, resume=False, verbose=args.verbose,
                                      callbacks=[cb], test_subset=args.test_subset)
        model, acc, eval_s = out.result.model, out.evaluation.accuracy, out.card["test_eval_s"]
    else:
        res = training.fit(model_name, dataset, recipe, run_dir=run_dir, resume=False,
                           verbose=args.verbose, callbacks=[cb])
        t1 = time.perf_counter()
        model = res.model
        set_tta(model, True)
        if args.final_tta_threshold is None:
            acc = metrics.evaluate_model(model, x_test, y_test).accuracy
        else:  # TTA only where the plain net is unsure (benchmarks/selective_tta.py)
            probs, _ = metrics.predict_proba_selective(model, x_test, args.final_tta_threshold)
            acc = metrics.evaluate_probs(probs, y_test).accuracy
        eval_s = time.perf_counter() - t1
        out = None
    train_s = time.perf_counter() - t0 - cb.eval_total - (eval_s if out is None else 0)
    if out is not None:  # train_and_save's own evaluation ran inside the clock: take it out
        train_s -= eval_s
    final = {"recipe": label, "epoch": "final", "train_s": round(train_s, 1),
             "eval_s": round(eval_s, 1), "elapsed_s": round(train_s + eval_s, 1),
             "test_accuracy": round(acc, 4), "test_images": len(y_test), "source": "measured",
             "tta": (True if args.final_tta_threshold is None
                     else f"selective (top probability < {args.final_tta_threshold:g})"),
             "data_load_s": round(load_s, 1), "checkpoint_eval_total_s": round(cb.eval_total, 1),
             # other work on the machine slows a run: the 1-minute load average at its end
             "load_avg_end": round(os.getloadavg()[0], 2),
             # minutes move with the machine: which CPU this run had
             "cpu": config.describe_cpu(),
             # the seed and the recipe's changes, which the label only abbreviates
             **recipe_record(recipe, named)}
    rows.append(final)
    print(f"[{label}] final: test accuracy {acc:.4f}, {train_s:.0f} s training (data loading "
          f"included) + {eval_s:.0f} s final evaluation = {train_s + eval_s:.0f} s "
          f"(checkpoint evaluations, not counted: {cb.eval_total:.0f} s)", flush=True)
    if out is not None:
        card = dict(out.card)
        card.update({
            "time_to_accuracy": {
                "total_s": final["elapsed_s"], "data_load_s": final["data_load_s"],
                "train_s_excluding_checkpoint_evals": final["train_s"],
                "final_test_eval_s": final["eval_s"],
                "checkpoint_eval_total_s": final["checkpoint_eval_total_s"],
                "note": "train_wall_time_s above includes the per-epoch test evaluations "
                        "of benchmarks/time_to_accuracy.py; total_s does not",
                "checkpoints": [{k: r[k] for k in ("epoch", "elapsed_s", "test_accuracy")}
                                for r in rows if r["epoch"] != "final"],
            }})
        card.pop("model_file", None)
        card.pop("written_at", None)
        cards.write_card(out.path, card)
        print(f"saved {out.path} and its card")
    return rows


EPOCH_RE = re.compile(r"^\d+/\d+ - (\d+)s .* val_accuracy: ([0-9.]+)")


def recorded_history(label: str, log: Path, card: Path | None) -> list[dict]:
    """Rows from a finished ``wic train`` log: cumulative epoch seconds, validation accuracy."""
    rows, elapsed, epoch = [], 0.0, 0
    for line in Path(log).read_text(errors="replace").splitlines():
        m = EPOCH_RE.match(line.strip())
        if m:
            epoch += 1
            elapsed += float(m.group(1))
            rows.append({"recipe": label, "epoch": epoch, "train_s": elapsed, "eval_s": 0.0,
                         "elapsed_s": elapsed, "test_accuracy": float(m.group(2)), "tta": False,
                         "source": "recorded (validation accuracy, from the log)"})
    if not rows:
        raise SystemExit(f"no per-epoch lines with val_accuracy found in {log}")
    if card and Path(card).is_file():
        c = json.loads(Path(card).read_text())
        if "test_accuracy" in c:
            total = float(c.get("train_wall_time_s", elapsed)) + float(c.get("data_load_s", 0))
            rows.append({"recipe": label, "epoch": "final", "train_s": total,
                         "eval_s": float(c.get("test_eval_s", 0)),
                         "elapsed_s": total + float(c.get("test_eval_s", 0)),
                         "test_accuracy": float(c["test_accuracy"]), "tta": False,
                         "source": f"recorded (test accuracy, {Path(card).name})"})
        for r in rows:
            r["model"] = c.get("registry_model", "")
    return rows


def run_specs(args) -> list[tuple[str, str, object, str]]:
    """``(label, registry model, recipe, named recipe)`` for each ``--run``: the recipe is the
    named one with the run's ``--set`` changes and the global ``--epochs`` / ``--seed`` /
    ``--train-subset`` applied; a bad spec, an unknown recipe, field or value, or a ``--set``
    for no run is refused with a ValueError naming it."""
    from wic import training

    changes: dict[str, dict[str, str]] = {}
    for spec in args.set:
        label, sep, pairs = spec.partition(":")
        if not label or not sep:
            raise ValueError(f"--set {spec!r}: accepted: LABEL:FIELD=VALUE[,FIELD=VALUE...]")
        changes.setdefault(label, {}).update(
            values.assignments(pairs.split(","), option=f"--set {label}:"))
    runs = []
    for spec in args.run:
        name, eq, model_name = spec.partition("=")
        if not eq or not model_name:
            raise ValueError(f"--run {spec!r}: accepted: [LABEL@]RECIPE[:EPOCHS]=MODEL")
        custom, at, name = name.rpartition("@")
        name, _, epochs = name.partition(":")
        named = name
        recipe = training.recipe_named(name)
        if epochs or args.epochs:
            recipe = recipe.with_(epochs=values.parse(epochs, int, f"--run {spec}: epochs")
                                  if epochs else args.epochs)
            name = f"{name}_{recipe.epochs}ep" if epochs else name
        if at and not custom:
            raise ValueError(f"--run {spec!r}: an empty LABEL before '@'")
        name = custom or name
        if name in changes:
            recipe = recipe.with_text(changes.pop(name))
        if args.seed is not None:
            recipe = recipe.with_(seed=args.seed)
        if args.train_subset:
            recipe = recipe.with_(train_subset=args.train_subset)
        runs.append((name + args.label_suffix, model_name, recipe, named))
    if changes:
        raise ValueError(f"--set for {', '.join(sorted(changes))}: no --run has that label "
                         f"(labels: {', '.join(r[0] for r in runs) or 'none'})")
    return runs


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--run", action="append", default=[], metavar="[LABEL@]RECIPE[:EPOCHS]=MODEL",
                   help="train this recipe (a wic.training.RECIPES name) with this registry model, "
                        "optionally with another schedule length (label RECIPE_EPOCHSep unless "
                        "LABEL@ names it); repeatable, run in order (e.g. fast=airbench_cpu_s "
                        "fast:3=airbench_cpu_s muon2@fast:2=airbench_cpu_s)")
    p.add_argument("--set", action="append", default=[], metavar="LABEL:FIELD=VALUE[,...]",
                   help="change recipe fields of the run labelled LABEL (as wic train --set), "
                        "e.g. muon2:optimizer=muon,batch_size=512")
    p.add_argument("--history", action="append", default=[], metavar="LABEL=LOG",
                   help="read a finished run from a 'wic train' log instead of training it")
    p.add_argument("--history-card", action="append", default=[], metavar="LABEL=CARD",
                   help="model card (.json) with the recorded run's final test accuracy")
    p.add_argument("--budget-s", type=float, default=720.0, help="wall-clock budget per recipe")
    p.add_argument("--epochs", type=int, help="override the recipe's epochs (the schedule length)")
    p.add_argument("--seed", type=int, help="override the recipe's seed")
    p.add_argument("--train-subset", type=int, help="train on this many images (smoke runs)")
    p.add_argument("--test-subset", type=int, metavar="N",
                   help="score every checkpoint and the final model on the first N test images "
                        "(smoke runs; the CSV's test_images says so); default: all 10,000")
    p.add_argument("--checkpoint-tta", choices=("on", "off"), default="on")
    p.add_argument("--checkpoint-every", type=int, default=1,
                   help="evaluate every N epochs (and after the last)")
    p.add_argument("--stop-at", type=float, metavar="ACC",
                   help="stop each trained recipe at its first checkpoint with test accuracy >= "
                        "ACC (time-to-target runs, e.g. 0.78 for the seed recipe)")
    p.add_argument("--final-tta-threshold", type=float, metavar="P",
                   help="score the final model with its TTA only on the test images whose plain "
                        "top probability is below P (selective TTA; benchmarks/selective_tta.py "
                        "measures what it saves and costs); default: TTA on every image")
    p.add_argument("--save", help="save the trained model of --save-recipe under this name")
    p.add_argument("--save-recipe", default="fast")
    p.add_argument("--label-suffix", default="", help="appended to recipe labels (repeat runs)")
    p.add_argument("--runs-dir", default="runs")
    p.add_argument("--csv", default="benchmarks/results/time_to_accuracy.csv")
    p.add_argument("--append", action="store_true", help="append to the CSV instead of replacing")
    p.add_argument("--plot", help="the figure (default: the CSV's name in the figures folder, so "
                                  "a race written to its own CSV never redraws another's figure)")
    p.add_argument("--plot-from-csv", action="store_true",
                   help="only redraw the plot and ratios from the CSV")
    p.add_argument("--targets", nargs="*", default=["0.90@12", "0.94@45"], metavar="ACC@MIN",
                   help="targets drawn on the plot (none: give the option without values)")
    p.add_argument("--title", help="plot title")
    p.add_argument("--verbose", type=int, default=2)
    args = p.parse_args(argv)
    args.plot = args.plot or str(config.figures_dir() / f"{Path(args.csv).stem}.png")
    for t in args.targets:
        if not re.fullmatch(r"0?\.\d+@\d+(\.\d+)?", t):
            p.error(f"--targets {t!r}: accepted: ACCURACY@MINUTES, e.g. 0.94@45")
    try:
        check_test_subset(args.test_subset)
    except ValueError as err:
        p.error(str(err))
    if args.stop_at is not None and not 0 < args.stop_at <= 1:
        p.error(f"--stop-at {args.stop_at}: accepted: an accuracy in (0, 1], e.g. 0.78")
    if args.final_tta_threshold is not None:
        if not 0 <= args.final_tta_threshold <= 1:
            p.error(f"--final-tta-threshold {args.final_tta_threshold}: accepted: a probability "
                    "in [0, 1], e.g. 0.5 (leave it out for TTA on every image)")
        if args.save:
            p.error("--final-tta-threshold with --save: a saved model's card records its accuracy "
                    "with TTA on every image; race without --save")
    try:  # every run's recipe is built (and checked) before anything trains
        runs = [] if args.plot_from_csv else run_specs(args)
    except ValueError as err:
        p.error(str(err))
    if args.final_tta_threshold is not None:  # refused now, not after a run has trained
        from wic import models
        from wic.models.airbench import tta_level

        no_tta = sorted({m for _, m, _, _ in runs if not tta_level(models.build(m))})
        if no_tta:
            p.error(f"--final-tta-threshold: no test-time augmentation to apply selectively in "
                    f"{', '.join(no_tta)}; accepted: nets with TTA (the airbench_cpu family)")

    print(f"CPU: {config.describe_cpu()}; load average {os.getloadavg()[0]:.2f}", flush=True)
    rows: list[dict] = []
    labels: list[str] = []
    csv_path = Path(args.csv)
    if (args.plot_from_csv or args.append) and csv_path.is_file():
        rows = results.read_rows(csv_path)
        labels = list(dict.fromkeys(r["recipe"] for r in rows))
    if not args.plot_from_csv:
        cards_by_label = dict(s.split("=", 1) for s in args.history_card)
        for spec in args.history:
            label, log = spec.split("=", 1)
            rows = [r for r in rows if r["recipe"] != label]
            rows += recorded_history(label, Path(log), cards_by_label.get(label))
            if label not in labels:
                labels.append(label)
        for label, model_name, recipe, named in runs:
            rows = [r for r in rows if r["recipe"] != label]
            rows += [{**r, "model": model_name}
                     for r in run_recipe(label, model_name, recipe, named, args.budget_s, args)]
            if label not in labels:
                labels.append(label)

    results.write_rows(csv_path, rows, [
        "recipe", "model", "epoch", "elapsed_s", "train_s", "eval_s", "test_accuracy", "test_images",
        "tta", "source",
        "data_load_s", "checkpoint_eval_total_s", "load_avg_end", "cpu",
        "named_recipe", "seed", "changes"])
    targets = [(float(a), 60 * float(m)) for a, m in (t.split("@") for t in args.targets)]
    # the budget line only matters when a run was cut by it (and not when a target marks it)
    cut = any(float(r["elapsed_s"]) >= 0.9 * args.budget_s for r in rows if str(r["epoch"]) == "final")
    shown_budget = args.budget_s if cut and all(abs(args.budget_s - sec) >= 1 for _, sec in targets) else None
    plot(rows, labels, Path(args.plot), shown_budget, targets=targets, title=args.title,
         names=results.run_names(rows))
    print(f"\nwrote {csv_path} and {args.plot}")
    if args.test_subset is not None:
        print(f"test accuracies are on the first {args.test_subset:,} test images (--test-subset): "
              "a smoke run, not a race")

    print("\ntime to accuracy (s, from start, data loading included; '-' = not reached):")
    print(f"  {'recipe':<24s}" + "".join(f"{100 * t:>8.0f}%" for t in THRESHOLDS)
          + "   final acc   at s")
    for label in labels:
        fin = [r for r in rows if r["recipe"] == label and str(r["epoch"]) == "final"]
        line = f"  {label:<24s}"
        for t in THRESHOLDS:
            v = time_to(rows, label, t)
            line += f"{v:>9.0f}" if v is not None else f"{'-':>9s}"
        if fin:
            line += f"   {fin[0]['test_accuracy']:.4f}   {fin[0]['elapsed_s']:.0f}"
        print(line)
    if len(labels) > 1:
        ref = next((lb for lb in labels if lb.startswith("seed")), labels[0])
        print(f"\nratio of times to accuracy, {ref} / other (x faster than {ref}):")
        best_ref = max((r["test_accuracy"] for r in rows if r["recipe"] == ref), default=0)
        for label in labels:
            if label == ref:
                continue
            parts = []
            for t in THRESHOLDS[:3]:
                a, b = time_to(rows, ref, t), time_to(rows, label, t)
                if a and b:
                    parts.append(f"{100 * t:.0f}%: x{a / b:.1f}")
                elif b and not a:
                    # the reference never got there: compare with its time to its best accuracy
                    a_best = time_to(rows, ref, best_ref)
                    parts.append(f"{100 * t:.0f}%: {ref} never reached it (best "
                                 f"{100 * best_ref:.1f}% at {a_best:.0f} s; x{a_best / b:.1f} "
                                 f"vs that)")
                else:
                    parts.append(f"{100 * t:.0f}%: -")
            print(f"  {label}: " + "; ".join(parts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
