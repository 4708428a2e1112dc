"""Train → evaluate → save model + card + figures into ``runs/``; promote into ``models/``.

Experiments never overwrite what is shipped: :func:`train_and_save` writes
``runs/<name>/<name>.keras``, its card ``<name>.json`` and its figures beside it. Shipping is one
explicit step, :func:`promote` (``wic models promote NAME``), which copies a finished model and
its card into ``models/`` — the folder the README table, the page and ``wic predict`` read.

When the recipe holds out training images (``validation_split > 0``), the card also gets a
**temperature** fitted on them (:mod:`wic.evaluation.calibration`), which every place that shows
probabilities applies; the card records the ECE before and after.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from wic import backend, cards, config, data, models
from wic.evaluation import calibration, metrics
from wic.training.recipe import Recipe
from wic.training.recipes import SEED
from wic.training.trainer import TrainResult, fit, training_arrays


@dataclass
class TrainedModel:
    path: Path
    card: dict
    result: TrainResult
    evaluation: metrics.Evaluation


def run_folder(name: str) -> Path:
    """Where a training run named ``name`` writes everything: ``runs/<name>/``."""
    return config.runs_dir() / name


def train_and_save(
    model_name: str,
    recipe: Recipe = SEED,
    out_name: str | None = None,
    *,
    dataset: data.Cifar10 | None = None,
    run_dir: Path | None = None,
    resume: bool = True,
    verbose="auto",
    model_kwargs: dict | None = None,
    figures: bool = True,
    callbacks: list | None = None,
    test_subset: int | None = None,
) -> TrainedModel:
    """Train a registry model, evaluate it on the test set, save ``.keras`` + card + figures
    into its run folder (``runs/<out_name>/``, or ``run_dir``). ``test_subset`` scores only the
    first N test images (smoke runs; the card records ``test_subset`` and :func:`promote`
    refuses such a model)."""
    out_name = out_name or model_name
    t0 = time.perf_counter()
    dataset = dataset or data.load_cifar10()
    load_s = time.perf_counter() - t0
    run_dir = Path(run_dir) if run_dir else run_folder(out_name)
    result = fit(model_name, dataset, recipe, run_dir=run_dir, resume=resume, verbose=verbose,
                 model_kwargs=model_kwargs, callbacks=callbacks)
    t1 = time.perf_counter()
    x_test, y_test = dataset.test_split(test_subset)
    ev = metrics.evaluate_model(result.model, x_test, y_test, dataset.class_names)
    eval_s = time.perf_counter() - t1
    calib = None
    if result.held_out is not None:
        held_probs = metrics.predict_proba(result.model, result.held_out[0])
        calib = {**calibration.calibration_summary(held_probs, result.held_out[1], ev.probs,
                                                    y_test), "held_out": True}

    path = models.save(result.model, run_dir / f"{out_name}.keras")
    val_acc = result.history.get("val_accuracy")
    card = {
        "name": out_name,
        "registry_model": model_name,
        "keras_name": result.model.name,
        "model_kwargs": model_kwargs or {},
        "parameters": models.parameter_counts(result.model),
        **ev.to_card(),
        **({"test_subset": test_subset} if test_subset is not None else {}),
        **({"calibration": calib} if calib else {}),
        "epochs_run": result.epochs_run,
        "stopped_early": result.stopped_early,
        # None when the recipe holds out no validation images
        "best_val_accuracy": round(max(val_acc), 5) if val_acc else None,
        "train_wall_time_s": round(result.wall_time_s, 1),
        "data_load_s": round(load_s, 2),
        "test_eval_s": round(eval_s, 2),
        "train_examples": result.train_examples,
        "held_out_examples": 0 if result.held_out is None else int(len(result.held_out[1])),
        "batch_size": recipe.batch_size,
        "recipe": recipe.to_dict(),
        "precision_used": recipe.resolved_precision(),
        # TensorFlow's oneDNN ops (wic.backend turns them on where TensorFlow leaves them off)
        "onednn_ops": backend.onednn_enabled(),
        "input": "float32 RGB in [0, 1], 32x32 (NHWC)",
        "data": {"source": "CIFAR-10 python batches", "checksums_sha256": dataset.checksums()},
        "command": cards.command_line(),
        "libraries": cards.library_versions(),
        "machine": cards.machine(),
    }
    cards.write_card(path, card)
    if figures:
        from wic.evaluation import plots

        plots.training_curves(result.history, title=f"{out_name}: loss and accuracy per epoch",
                              path=run_dir / f"{out_name}_curves.png")
        plots.confusion_matrix(ev.confusion, dataset.class_names,
                               title=f"{out_name}: confusion matrix (test accuracy {ev.accuracy:.3f})",
                               path=run_dir / f"{out_name}_confusion.png")
    return TrainedModel(path, cards.read_card(path), result, ev)


def promote(name_or_path: str | Path, *, models_dir: Path | None = None,
            force: bool = False) -> Path:
    """Ship a finished model and its card from its run folder into ``models/``.

    ``name_or_path`` is a run name (``runs/<name>/<name>.keras``) or a ``.keras`` path. A model
    without a card, or one whose card has no test accuracy, is refused; an existing shipped
    model of the same name is replaced only with ``force``.

    The shipped file has the run's weights and not its optimiser's state: a shipped model only
    predicts, and the optimiser's slots (momentum, lookahead's slow weights) are as large as the
    weights again. Resuming a run reads its run folder's ``last.keras``, which keeps them."""
    src = Path(name_or_path)
    if src.suffix != ".keras":
        src = run_folder(str(name_or_path)) / f"{name_or_path}.keras"
    if not src.is_file():
        raise ValueError(f"no finished model at {src}; accepted: a run name in "
                         f"{config.runs_dir()} or a .keras path")
    card = cards.read_card(src)
    if card.get("test_accuracy") is None:
        raise ValueError(f"{src.name} has no card with a measured test accuracy "
                         f"({cards.card_path(src).name}); train it with wic train first")
    if card.get("test_subset") is not None:
        raise ValueError(f"{src.name} was scored on the first {card['test_subset']:,} test images "
                         "only (wic train --test-subset, a smoke run); a shipped model's card is "
                         "for the whole test set: train it again without --test-subset")
    dest_dir = Path(models_dir) if models_dir else config.models_dir()
    dest = dest_dir / src.name
    if dest.exists() and not force:
        raise ValueError(f"{dest} is already shipped; pass --force to replace it")
    models.save(models.load(src), dest)  # loaded uncompiled: saved without the optimiser
    shutil.copy2(cards.card_path(src), cards.card_path(dest))
    return dest


def held_out_images(card: dict, dataset: data.Cifar10):
    """The (x, y) training images a saved model's run held out, rebuilt exactly as its recipe
    (``card["recipe"]``: subset, seed, ``validation_split``) split them; None if it held none."""
    return training_arrays(dataset, Recipe.from_dict(card.get("recipe", {})))[1]


def calibrate(path: str | Path, dataset: data.Cifar10, *, fallback_images: int = 5000,
              test_probs=None) -> dict:
    """Fit and store the temperature of an already saved model (its card's ``calibration``).

    The images are the ones its recipe held out (``validation_split``), rebuilt exactly as the
    run split them. A model trained on all 50,000 training images has none: then the first
    ``fallback_images`` training images are used and the card says so (``held_out: false``) —
    they were seen in training, so the temperature is a weaker estimate (the model is more
    accurate and surer on them than on new pictures). Never the test set."""
    path = Path(path)
    card = cards.read_card(path)
    model = models.load(path)
    held = held_out_images(card, dataset)
    if held is not None:
        x_cal, y_cal, seen = held[0], held[1], False
    else:
        x_cal, y_cal, seen = (dataset.x_train[:fallback_images],
                              dataset.y_train[:fallback_images], True)
    cal_probs = metrics.predict_proba(model, x_cal)
    if test_probs is None:
        test_probs = metrics.predict_proba(model, dataset.x_test)
    summary = calibration.calibration_summary(cal_probs, y_cal, test_probs, dataset.y_test)
    summary["held_out"] = not seen
    if seen:
        summary["fitted_on"] = (f"{len(y_cal)} training images the model was trained on "
                                "(it held none out)")
    card["calibration"] = summary
    card["expected_calibration_error"] = summary["test_ece_after"]
    card["expected_calibration_error_uncalibrated"] = summary["test_ece_before"]
    cards.write_card(path, card)
    return summary
