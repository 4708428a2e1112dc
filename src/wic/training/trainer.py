"""Fit a registry model with a recipe, resumably: the training loop and its run folder.

A run lives in a *run folder* (``runs/<name>/`` by default). After every epoch it atomically
writes ``last.keras`` (weights and optimiser state), ``state.json`` (epoch, history, callback
counters, elapsed seconds) and ``history.csv``. Calling :func:`fit` again on the same folder
resumes after the last finished epoch, so a run killed half-way loses at most the epoch it was in.

Held-out images: with ``validation_split > 0`` the last fraction of the (sub)set is never
trained on; Keras reports ``val_loss``/``val_accuracy`` after every epoch (the curves that part
when a net starts to overfit), and the same images calibrate the model's probabilities when it
is shipped (:mod:`wic.training.ship`). The test set is not touched here.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from wic import config, data, models, values
from wic.backend import keras
from wic.data.pipeline import eval_pipeline, train_pipeline
from wic.files import atomic_replace, atomic_write_text
from wic.training.recipe import Recipe
from wic.training.recipes import SEED
from wic.training.schedules import HoldWhiteningBias, Lookahead, make_optimizer


def compile_model(model, recipe: Recipe, steps_per_epoch: int):
    model.compile(
        optimizer=make_optimizer(recipe, steps_per_epoch),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=recipe.label_smoothing),
        metrics=["accuracy"],
        jit_compile=recipe.jit_compile,
    )
    return model


# ----------------------------------------------------------------------------- callbacks


class _Resumable:
    """A Keras callback whose counters survive a restart (restored at train begin)."""

    keys: tuple[str, ...] = ()

    def __init__(self, *a, restore=None, **kw):
        super().__init__(*a, **kw)
        self._restore = restore or {}

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        for k, v in self._restore.items():
            setattr(self, k, v)

    def state(self) -> dict:
        return {k: _num(getattr(self, k)) if k == "best" else int(getattr(self, k))
                for k in self.keys}


class ResumableEarlyStopping(_Resumable, keras.callbacks.EarlyStopping):
    keys = ("wait", "best")


class ResumableReduceLR(_Resumable, keras.callbacks.ReduceLROnPlateau):
    keys = ("wait", "best", "cooldown_counter")


class RunCheckpoint(keras.callbacks.Callback):
    """After each epoch: last.keras + state.json + history.csv, each written atomically."""

    def __init__(self, run_dir: Path, state: dict, stateful: dict, started: float):
        super().__init__()
        self.run_dir, self.state, self.stateful = run_dir, state, stateful
        self.started = started

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        logs.setdefault("learning_rate", _current_lr(self.model))
        hist = self.state.setdefault("history", {})
        for k, v in logs.items():
            hist.setdefault(k, []).append(float(v))
        self.state["epoch"] = epoch + 1
        self.state["elapsed_s"] = self.state.get("elapsed_before_s", 0.0) + (
            time.perf_counter() - self.started)
        self.state["callbacks"] = {k: cb.state() for k, cb in self.stateful.items()}
        with atomic_replace(self.run_dir / "last.keras") as tmp:
            self.model.save(tmp)
        atomic_write_text(self.run_dir / "state.json", json.dumps(self.state, indent=1))
        _write_history_csv(self.run_dir / "history.csv", hist)


class TimeBudget(keras.callbacks.Callback):
    """Stop at the end of the batch where the wall-clock budget runs out."""

    def __init__(self, seconds: float, started: float, before: float):
        super().__init__()
        self.deadline = started + seconds - before

    def on_train_batch_end(self, batch, logs=None):
        if time.perf_counter() >= self.deadline:
            self.model.stop_training = True


def _num(x):
    x = float(x)
    return x if math.isfinite(x) else (1e30 if x > 0 else -1e30)


def _current_lr(model) -> float:
    opt = model.optimizer
    try:
        return float(np.asarray(opt.learning_rate))
    except TypeError:
        return float(np.asarray(opt._get_current_learning_rate()))


def _write_history_csv(path: Path, hist: dict) -> None:
    keys = sorted(hist)
    n = max((len(v) for v in hist.values()), default=0)
    with atomic_replace(path) as tmp, open(tmp, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["epoch", *keys])
        for i in range(n):
            w.writerow([i + 1, *(hist[k][i] if i < len(hist[k]) else "" for k in keys)])


def load_state(run_dir: Path) -> dict | None:
    f = Path(run_dir) / "state.json"
    if not f.is_file():
        return None
    return json.loads(f.read_text())


# ----------------------------------------------------------------------------- fit


@dataclass
class TrainResult:
    model: object
    history: dict
    epochs_run: int
    wall_time_s: float
    run_dir: Path
    recipe: Recipe
    model_name: str
    resumed_from_epoch: int = 0
    stopped_early: bool = False
    train_examples: int = 0
    held_out: tuple | None = None  # (x, y) uint8 images never trained on, or None
    extra: dict = field(default_factory=dict)


def training_arrays(dataset: data.Cifar10, recipe: Recipe):
    """(x_train, y_train), held-out (x, y) or None — the recipe's subset and split."""
    x, y = data.stratified_subset(dataset.x_train, dataset.y_train, recipe.train_subset,
                                  seed=recipe.seed)
    return data.split_validation(x, y, recipe.validation_split)


def fit(
    model_name: str,
    dataset: data.Cifar10,
    recipe: Recipe = SEED,
    *,
    run_dir: str | os.PathLike | None = None,
    resume: bool = True,
    verbose: int | str = "auto",
    model_kwargs: dict | None = None,
    callbacks: list | None = None,
) -> TrainResult:
    """Train registry model ``model_name`` on ``dataset`` with ``recipe``, resumably.

    With ``resume=True`` and a ``state.json`` in ``run_dir``, training continues after the
    last finished epoch (model, optimiser, LR, callback counters, history, elapsed time).
    """
    run_dir = Path(run_dir) if run_dir else config.runs_dir() / f"{model_name}-{recipe.seed}"
    run_dir.mkdir(parents=True, exist_ok=True)
    with run_lock(run_dir):
        return _fit(model_name, dataset, recipe, run_dir, resume, verbose, model_kwargs, callbacks)


@contextlib.contextmanager
def run_lock(run_dir: Path):
    """One training process per run folder: a second one (the same command started twice)
    would overwrite the first one's checkpoints epoch by epoch. The lock is the OS's
    (``flock``): it is released when the process ends, however it ends."""
    with open(Path(run_dir) / ".lock", "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "?"
            raise RunFolderBusy(f"run folder {run_dir} is being trained by another process (pid "
                                f"{holder}); wait for it to finish, or train into another "
                                "folder (--out NAME)") from None
        try:
            fh.seek(0)
            fh.truncate()
            fh.write(str(os.getpid()))
            fh.flush()
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def crop_steps(recipe: Recipe, steps_per_epoch: int) -> int:
    """The batches a run serves as crops: ``crop_epochs`` of them, at least one when it is set
    (a fraction too small for one step must not silently crop nothing)."""
    if not recipe.crop_epochs:
        return 0
    return max(1, round(recipe.crop_epochs * steps_per_epoch))


def _takes_size(model, size: int) -> bool:
    """Whether ``model`` runs on ``size`` x ``size`` images (a net ending in global pooling
    does; one that flattens a fixed grid into a dense layer does not). Tried as ``fit`` will
    run it: traced for images of unknown height and width (the cropping pipeline's batches),
    then called on one blank image of that size (in inference mode, so no statistic moves, and
    without test-time augmentation, which training does not run either)."""
    import tensorflow as tf  # already loaded by wic.backend; only this check needs its errors

    channels = models.INPUT_SHAPE[2]
    forward = tf.function(lambda x: model(x, training=False),
                          input_signature=[tf.TensorSpec((None, None, None, channels))])
    with models.airbench.tta_disabled(model):
        try:
            forward(tf.zeros((1, size, size, channels)))
        except (ValueError, tf.errors.OpError):
            return False
    return True


class RunFolderBusy(ValueError):
    """Another process is training into the same run folder (a ValueError, so the command line
    reports it in one line like any other refused value: here the output name)."""


def _fit(model_name, dataset, recipe, run_dir, resume, verbose, model_kwargs, callbacks):
    config.set_seed(recipe.seed)
    (x_tr, y_tr), held_out = training_arrays(dataset, recipe)
    state = load_state(run_dir) if resume else None
    if state and {**recipe.to_dict(), **state.get("recipe", {})} != recipe.to_dict():
        raise ValueError(
            f"run folder {run_dir} holds a run with a different recipe; use another run folder "
            "or --restart (resume=False) to start over")
    if state and state.get("finished"):
        state = None  # a finished run is started afresh
    first = int(state["epoch"]) if state else 0
    steps = len(x_tr) // recipe.batch_size
    # One training pipeline for every recipe; no augmentation is translate 0 and no flips.
    train_ds = train_pipeline(x_tr, y_tr, batch_size=recipe.batch_size, epochs=recipe.epochs,
                              initial_epoch=first, seed=recipe.seed,
                              flip=recipe.flip if recipe.augment else "none",
                              translate=recipe.translate if recipe.augment else 0,
                              brightness=recipe.brightness if recipe.augment else 0.0,
                              contrast=recipe.contrast if recipe.augment else 0.0,
                              blur=recipe.blur if recipe.augment else 0.0,
                              noise=recipe.noise if recipe.augment else 0.0,
                              clean_epochs=recipe.clean_epochs if recipe.augment else 0,
                              clean_noisy_epochs=recipe.clean_noisy_epochs if recipe.augment else 0,
                              crop=recipe.crop_size, crop_steps=crop_steps(recipe, steps),
                              crop_by=recipe.crop_by)
    val_ds = (eval_pipeline(held_out[0], held_out[1], batch_size=max(256, recipe.batch_size))
              if held_out is not None else None)

    if state:
        model = models.load(run_dir / "last.keras", compile=True)
        state["elapsed_before_s"] = float(state.get("elapsed_s", 0.0))
    else:
        previous = keras.mixed_precision.global_policy()
        keras.mixed_precision.set_global_policy(recipe.resolved_precision())
        try:  # the layers keep the policy they were built with (and save it)
            model = models.build(model_name, **(model_kwargs or {}))
        finally:
            keras.mixed_precision.set_global_policy(previous)
        for layer in model.layers:  # data-dependent initialisation (e.g. patch whitening)
            if hasattr(layer, "data_init"):
                layer.data_init(x_tr)
        compile_model(model, recipe, steps)
        state = {"model_name": model_name, "recipe": recipe.to_dict(), "epoch": 0,
                 "history": {}, "elapsed_before_s": 0.0, "model_kwargs": model_kwargs or {}}

    whiten = HoldWhiteningBias.LAYER
    if recipe.whiten_bias_epochs and whiten not in {layer.name for layer in model.layers}:
        values.fail("whiten_bias_epochs", recipe.whiten_bias_epochs,
                    f"0 for {model_name}, which has no patch-whitening layer ({whiten!r})")
    if recipe.crop_epochs and not _takes_size(model, recipe.crop_size):
        values.fail("crop_size", recipe.crop_size,
                    f"0 for {model_name}, which takes whole {models.INPUT_SHAPE[0]}x"
                    f"{models.INPUT_SHAPE[1]} images only (crops suit a net that ends in global "
                    "pooling, like the airbench nets)")
    restore = state.get("callbacks", {})
    mode = "max" if "acc" in recipe.monitor else "min"
    stateful = {}
    if recipe.early_stopping:
        stateful["early_stopping"] = ResumableEarlyStopping(
            monitor=recipe.monitor, mode=mode, patience=recipe.early_stopping_patience,
            restore=restore.get("early_stopping"))
    if recipe.reduce_lr:
        stateful["reduce_lr"] = ResumableReduceLR(
            monitor=recipe.monitor, mode=mode, factor=recipe.reduce_lr_factor,
            patience=recipe.reduce_lr_patience, min_lr=recipe.min_lr,
            restore=restore.get("reduce_lr"))
    started = time.perf_counter()
    cbs = [*stateful.values(), RunCheckpoint(run_dir, state, stateful, started), *(callbacks or [])]
    if recipe.time_budget_s:
        cbs.append(TimeBudget(recipe.time_budget_s, started, state["elapsed_before_s"]))
    if recipe.lookahead:
        cbs.insert(0, Lookahead(total_steps=recipe.epochs * steps))
    if recipe.whiten_bias_epochs:  # after lookahead's moves, before the checkpoint is written
        cbs.insert(1 if recipe.lookahead else 0,
                   HoldWhiteningBias(round(recipe.whiten_bias_epochs * steps)))

    if first < recipe.epochs:
        model.fit(train_ds, validation_data=val_ds, epochs=recipe.epochs, initial_epoch=first,
                  callbacks=cbs, verbose=verbose, steps_per_epoch=steps,
                  shuffle=False)  # the pipeline shuffles
    history = state.get("history", {})
    stopped = bool(recipe.early_stopping and stateful["early_stopping"].stopped_epoch > 0)
    state["finished"] = True
    state["stopped_early"] = stopped
    atomic_write_text(run_dir / "state.json", json.dumps(state, indent=1))
    return TrainResult(
        model=model, history=history, epochs_run=int(state.get("epoch", first)),
        wall_time_s=float(state.get("elapsed_s", time.perf_counter() - started)),
        run_dir=run_dir, recipe=recipe, model_name=model_name, resumed_from_epoch=first,
        stopped_early=stopped, train_examples=len(x_tr), held_out=held_out)
