"""Train → evaluate → save model + card + figures: the one sequence the CLI and notebooks share."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from wic import cards, config, data, evaluate, models, plots, train


@dataclass
class TrainedModel:
    path: Path
    card: dict
    result: train.TrainResult
    evaluation: evaluate.Evaluation


def train_and_save(
    model_name: str,
    recipe: train.Recipe = train.SEED_RECIPE,
    out_name: str | None = None,
    *,
    dataset: data.Cifar10 | None = None,
    run_dir: Path | None = None,
    resume: bool = True,
    verbose="auto",
    model_kwargs: dict | None = None,
    figures: bool = True,
    models_dir: Path | None = None,
    callbacks: list | None = None,
    test_subset: int | None = None,
) -> TrainedModel:
    """Train a registry model, evaluate it on the test set, save ``.keras`` + card + curves."""
    out_name = out_name or model_name
    t0 = time.perf_counter()
    dataset = dataset or data.load_cifar10()
    load_s = time.perf_counter() - t0
    run_dir = run_dir or config.runs_dir() / out_name
    result = train.fit(model_name, dataset, recipe, run_dir=run_dir, resume=resume,
                       verbose=verbose, model_kwargs=model_kwargs, callbacks=callbacks)
    t1 = time.perf_counter()
    x_test, y_test = dataset.x_test[:test_subset], dataset.y_test[:test_subset]
    ev = evaluate.evaluate_model(result.model, x_test, y_test, dataset.class_names)
    eval_s = time.perf_counter() - t1

    out_dir = Path(models_dir) if models_dir else config.models_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{out_name}.keras"
    result.model.save(path)
    card = {
        "name": out_name,
        "registry_model": model_name,
        "keras_name": result.model.name,
        "model_kwargs": model_kwargs or {},
        "parameters": models.parameter_counts(result.model),
        **ev.to_card(),
        "epochs_run": result.epochs_run,
        "stopped_early": result.stopped_early,
        # None when the recipe holds out no validation images (the fast recipe trains on all)
        "best_val_accuracy": max(val_acc) if (val_acc := result.history.get("val_accuracy")) else None,
        "train_wall_time_s": round(result.wall_time_s, 1),
        "data_load_s": round(load_s, 2),
        "test_eval_s": round(eval_s, 2),
        "train_examples": result.train_examples,
        "batch_size": recipe.batch_size,
        "recipe": recipe.to_dict(),
        "input": "float32 RGB in [0, 1], 32x32 (NHWC)",
        "data": {"source": "CIFAR-10 python batches", "checksums_sha256": dataset.checksums()},
        "command": cards.command_line(),
        "libraries": cards.library_versions(),
        "machine": cards.machine(),
    }
    cards.write_card(path, card)
    if figures:
        fig_dir = config.figures_dir()
        plots.training_curves(result.history, title=f"{out_name}: loss and accuracy per epoch",
                              path=fig_dir / f"{out_name}_curves.png")
        plots.confusion_matrix(ev.confusion, dataset.class_names,
                               title=f"{out_name}: confusion matrix (test accuracy {ev.accuracy:.3f})",
                               path=fig_dir / f"{out_name}_confusion.png")
    return TrainedModel(path, cards.read_card(path), result, ev)
