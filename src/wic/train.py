"""Training recipes: optimiser, loss, callbacks, schedules; resumable runs with saved history.

The default :class:`Recipe` is the seed's: Adam, categorical cross-entropy, batch 32, the last
20% of the training set held out for validation, EarlyStopping(val_accuracy, patience 5),
ReduceLROnPlateau(val_accuracy, factor 0.5, patience 5, min_lr 1e-5), up to 50 epochs.
Every field can be overridden.

A run lives in a *run folder*. After every epoch it atomically writes ``last.keras`` (weights
and optimiser state), ``state.json`` (epoch, history, callback counters, elapsed seconds) and
``history.csv``. Calling :func:`fit` again on the same folder resumes after the last finished
epoch, so a run killed half-way loses at most the epoch it was in.
"""

from __future__ import annotations

import csv
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import numpy as np

from wic import config, data

OPTIMIZERS = ("adam", "adamw", "sgd", "nesterov")
SCHEDULES = ("constant", "onecycle", "linear")
FLIPS = ("random", "alternate", "none")
PRECISIONS = ("float32", "mixed_bfloat16")


@dataclass
class Recipe:
    """Everything that defines how a model is trained (the seed's recipe by default)."""

    optimizer: str = "adam"
    learning_rate: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    label_smoothing: float = 0.0
    batch_size: int = 32
    epochs: int = 50
    validation_split: float = 0.2
    early_stopping: bool = True
    early_stopping_patience: int = 5
    reduce_lr: bool = True
    reduce_lr_factor: float = 0.5
    reduce_lr_patience: int = 5
    min_lr: float = 1e-5
    monitor: str = "val_accuracy"
    schedule: str = "constant"
    warmup_fraction: float = 0.2
    augment: bool = False
    train_subset: int | None = None
    time_budget_s: float | None = None
    seed: int = config.DEFAULT_SEED
    # fast-recipe options (wic.fastnet); the defaults keep the seed's behaviour
    lr_start_factor: float = 0.0  # 'onecycle'/'linear': LR starts (ends) at this x peak
    lr_end_factor: float = 0.0
    flip: str = "random"  # with augment: 'random' per image, 'alternate' (derandomised), 'none'
    translate: int = 4  # with augment: random shifts of up to this many pixels (reflect pad)
    lookahead: bool = False  # pull weights to a slow EMA every 5 steps after 30% of the run
    jit_compile: bool | str = "auto"  # XLA for the train step ('auto' = Keras' choice: off on CPU)
    precision: str = "float32"  # or 'mixed_bfloat16' (bf16 compute, float32 weights)

    def __post_init__(self):
        self.validate()

    def validate(self) -> None:
        def bad(name, value, accepted):
            raise ValueError(f"recipe field {name}={value!r} is invalid; accepted: {accepted}")

        if self.optimizer not in OPTIMIZERS:
            bad("optimizer", self.optimizer, ", ".join(OPTIMIZERS))
        if self.schedule not in SCHEDULES:
            bad("schedule", self.schedule, ", ".join(SCHEDULES))
        if not (isinstance(self.epochs, int) and self.epochs >= 1):
            bad("epochs", self.epochs, "an integer >= 1")
        if not (isinstance(self.batch_size, int) and self.batch_size >= 1):
            bad("batch_size", self.batch_size, "an integer >= 1")
        if not (self.learning_rate > 0 and math.isfinite(self.learning_rate)):
            bad("learning_rate", self.learning_rate, "a positive number")
        if not 0.0 <= self.validation_split < 1.0:
            bad("validation_split", self.validation_split, "a fraction in [0, 1)")
        if not 0.0 <= self.label_smoothing < 1.0:
            bad("label_smoothing", self.label_smoothing, "a fraction in [0, 1)")
        if self.train_subset is not None and self.train_subset < 1:
            bad("train_subset", self.train_subset, "a positive integer or None (all)")
        if (self.early_stopping or self.reduce_lr) and self.validation_split == 0 \
                and self.monitor.startswith("val_"):
            bad("validation_split", 0, "> 0 when early stopping / LR reduction monitor "
                f"{self.monitor!r} (or switch them off)")
        if self.flip not in FLIPS:
            bad("flip", self.flip, ", ".join(FLIPS))
        if not (isinstance(self.translate, int) and 0 <= self.translate <= 8):
            bad("translate", self.translate, "an integer 0..8 (pixels)")
        for name in ("lr_start_factor", "lr_end_factor"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                bad(name, getattr(self, name), "a fraction in [0, 1]")
        if self.precision not in PRECISIONS:
            bad("precision", self.precision, ", ".join(PRECISIONS))
        if self.jit_compile not in (True, False, "auto"):
            bad("jit_compile", self.jit_compile, "True, False or 'auto'")
        if self.schedule != "constant" and self.reduce_lr:
            bad("reduce_lr", True, "False when a schedule other than 'constant' drives the LR")

    @classmethod
    def from_dict(cls, values: dict) -> Recipe:
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown recipe fields {sorted(unknown)}; accepted: {sorted(known)}")
        return cls(**values)

    def with_(self, **changes) -> Recipe:
        return replace(self, **changes)

    def to_dict(self) -> dict:
        return asdict(self)


SEED_RECIPE = Recipe()


# ----------------------------------------------------------------------------- pieces


def make_optimizer(recipe: Recipe, steps_per_epoch: int):
    import keras

    lr = learning_rate_schedule(recipe, steps_per_epoch)
    if recipe.optimizer == "adam":
        return keras.optimizers.Adam(lr)
    if recipe.optimizer == "adamw":
        return keras.optimizers.AdamW(lr, weight_decay=recipe.weight_decay or 0.004)
    nesterov = recipe.optimizer == "nesterov"
    return keras.optimizers.SGD(lr, momentum=recipe.momentum, nesterov=nesterov,
                                weight_decay=recipe.weight_decay or None)


def learning_rate_schedule(recipe: Recipe, steps_per_epoch: int):
    """A float for 'constant', else a Keras schedule over the whole run's steps."""
    if recipe.schedule == "constant":
        return recipe.learning_rate

    total = max(1, recipe.epochs * steps_per_epoch)
    warm = int(total * recipe.warmup_fraction) if recipe.schedule == "onecycle" else 0
    if recipe.lr_start_factor or recipe.lr_end_factor:
        return _PiecewiseLinear(recipe.learning_rate, warm, total, recipe.lr_start_factor,
                                recipe.lr_end_factor)
    return _PiecewiseLinear(recipe.learning_rate, warm, total)


def _piecewise_linear_class():
    import keras

    @keras.saving.register_keras_serializable(package="wic")
    class PiecewiseLinear(keras.optimizers.schedules.LearningRateSchedule):
        """Linear warm-up from ``start`` x peak (``warmup`` steps), then linear decay to
        ``end`` x peak at ``total`` (both 0 by default)."""

        def __init__(self, peak, warmup, total, start=0.0, end=0.0):
            self.peak, self.warmup, self.total = float(peak), int(warmup), int(total)
            self.start, self.end = float(start), float(end)

        def __call__(self, step):
            from keras import ops

            step = ops.cast(step, "float32")
            up = self.start + (1.0 - self.start) * step / max(1, self.warmup)
            down = self.end + (1.0 - self.end) * (self.total - step) / max(1, self.total - self.warmup)
            frac = ops.where(step < self.warmup, up, down)
            return self.peak * ops.clip(frac, min(self.start, self.end), 1.0)

        def get_config(self):
            cfg = {"peak": self.peak, "warmup": self.warmup, "total": self.total}
            if self.start or self.end:
                cfg.update(start=self.start, end=self.end)
            return cfg

    return PiecewiseLinear


def _PiecewiseLinear(peak, warmup, total, *ends):  # noqa: N802 - factory named after the class
    global _PIECEWISE
    if _PIECEWISE is None:
        _PIECEWISE = _piecewise_linear_class()
    return _PIECEWISE(peak, warmup, total, *ends)


_PIECEWISE = None


def compile_model(model, recipe: Recipe, steps_per_epoch: int):
    import keras

    model.compile(
        optimizer=make_optimizer(recipe, steps_per_epoch),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=recipe.label_smoothing),
        metrics=["accuracy"],
        jit_compile=recipe.jit_compile,
    )
    return model


# ----------------------------------------------------------------------------- run state


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _callback_classes():
    """Callbacks defined lazily so importing wic.train does not import Keras."""
    import keras

    class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
        def __init__(self, *a, restore=None, **kw):
            super().__init__(*a, **kw)
            self._restore = restore or {}

        def on_train_begin(self, logs=None):
            super().on_train_begin(logs)
            for k, v in self._restore.items():
                setattr(self, k, v)

        def state(self):
            return {"wait": int(self.wait), "best": _num(self.best)}

    class ResumableReduceLR(keras.callbacks.ReduceLROnPlateau):
        def __init__(self, *a, restore=None, **kw):
            super().__init__(*a, **kw)
            self._restore = restore or {}

        def on_train_begin(self, logs=None):
            super().on_train_begin(logs)
            for k, v in self._restore.items():
                setattr(self, k, v)

        def state(self):
            return {"wait": int(self.wait), "best": _num(self.best),
                    "cooldown_counter": int(self.cooldown_counter)}

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
            tmp = self.run_dir / "last.tmp.keras"
            self.model.save(tmp)
            os.replace(tmp, self.run_dir / "last.keras")
            _atomic_write_text(self.run_dir / "state.json", json.dumps(self.state, indent=1))
            _write_history_csv(self.run_dir / "history.csv", hist)

    class TimeBudget(keras.callbacks.Callback):
        """Stop at the end of the batch where the wall-clock budget runs out."""

        def __init__(self, seconds: float, started: float, before: float):
            super().__init__()
            self.deadline = started + seconds - before

        def on_train_batch_end(self, batch, logs=None):
            if time.perf_counter() >= self.deadline:
                self.model.stop_training = True

    return ResumableEarlyStopping, ResumableReduceLR, RunCheckpoint, TimeBudget


def Lookahead(total_steps: int, every: int = 5, start_fraction: float = 0.3,  # noqa: N802
              decay: float = 0.95, power: float = 3.0):
    """airbench's lookahead: after ``start_fraction`` of the run, every ``every`` steps the
    weights (and BN statistics) move to a slow EMA copy, ``ema = rho*ema + (1-rho)*w; w = ema``
    with ``rho = decay**every * (step/total)**power`` (little averaging early, strong at the
    end); the EMA is copied back at each epoch's end. The EMA is not checkpointed: a resumed
    run restarts it from the resumed weights."""
    import keras

    def floats(model):
        return [w for w in model.weights if w.dtype in ("float32", "float16", "bfloat16")]

    class _Lookahead(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.ema = None

        def on_train_batch_end(self, batch, logs=None):
            step = int(self.model.optimizer.iterations.numpy())
            if step < start_fraction * total_steps or step % every:
                return
            weights = floats(self.model)
            if self.ema is None:
                self.ema = [np.array(w.numpy()) for w in weights]
                return
            rho = decay ** every * min(1.0, step / total_steps) ** power
            for e, w in zip(self.ema, weights):
                e *= rho
                e += (1.0 - rho) * w.numpy()
                w.assign(e)

        def on_epoch_end(self, epoch, logs=None):
            if self.ema is not None:
                for e, w in zip(self.ema, floats(self.model)):
                    w.assign(e)

    return _Lookahead()


def _num(x):
    x = float(x)
    return x if math.isfinite(x) else (1e30 if x > 0 else -1e30)


def _current_lr(model) -> float:
    opt = model.optimizer
    lr = opt.learning_rate
    try:
        return float(np.asarray(lr))
    except TypeError:
        return float(np.asarray(opt._get_current_learning_rate()))


def _write_history_csv(path: Path, hist: dict) -> None:
    keys = sorted(hist)
    n = max((len(v) for v in hist.values()), default=0)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["epoch", *keys])
        for i in range(n):
            w.writerow([i + 1, *(hist[k][i] if i < len(hist[k]) else "" for k in keys)])
    os.replace(tmp, path)


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
    extra: dict = field(default_factory=dict)


def fit(
    model_name: str,
    dataset: data.Cifar10,
    recipe: Recipe = SEED_RECIPE,
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
    import keras

    from wic import models

    recipe.validate()
    config.set_seed(recipe.seed)
    run_dir = Path(run_dir) if run_dir else config.runs_dir() / f"{model_name}-{recipe.seed}"
    run_dir.mkdir(parents=True, exist_ok=True)

    x, y = data.stratified_subset(dataset.x_train, dataset.y_train, recipe.train_subset,
                                  seed=recipe.seed)
    (x_tr, y_tr), val = data.split_validation(x, y, recipe.validation_split)
    steps_per_epoch = None
    if recipe.augment and recipe.flip == "alternate":
        # one pass over all remaining epochs, each exactly steps_per_epoch full batches
        state0 = load_state(run_dir) if resume else None
        first = int(state0["epoch"]) if state0 and not state0.get("finished") else 0
        steps_per_epoch = len(x_tr) // recipe.batch_size
        train_ds = data.make_epoch_pipeline(x_tr, y_tr, batch_size=recipe.batch_size,
                                            epochs=recipe.epochs, initial_epoch=first,
                                            seed=recipe.seed, flip=recipe.flip,
                                            translate=recipe.translate)
    else:
        train_ds = data.make_pipeline(x_tr, y_tr, batch_size=recipe.batch_size, training=True,
                                      augment=recipe.augment, seed=recipe.seed,
                                      **({} if recipe.translate == 4 and recipe.flip == "random"
                                         else {"pad": recipe.translate,
                                               "flip": recipe.flip != "none"}))
    val_ds = (data.make_pipeline(val[0], val[1], batch_size=max(256, recipe.batch_size))
              if val is not None else None)
    steps = steps_per_epoch or math.ceil(len(x_tr) / recipe.batch_size)

    state = load_state(run_dir) if resume else None
    if state and {**recipe.to_dict(), **state.get("recipe", {})} != recipe.to_dict():
        raise ValueError(
            f"run folder {run_dir} holds a run with a different recipe; use another run folder "
            "or resume=False to start over"
        )
    if state and state.get("finished"):
        state = None  # a finished run is started afresh
    if state:
        model = keras.models.load_model(run_dir / "last.keras")
        initial_epoch = int(state["epoch"])
        state["elapsed_before_s"] = float(state.get("elapsed_s", 0.0))
    else:
        previous = keras.mixed_precision.global_policy()
        keras.mixed_precision.set_global_policy(recipe.precision)
        try:  # the layers keep the policy they were built with (and save it)
            model = models.build(model_name, **(model_kwargs or {}))
        finally:
            keras.mixed_precision.set_global_policy(previous)
        for layer in model.layers:  # data-dependent initialisation (e.g. patch whitening)
            if hasattr(layer, "data_init"):
                layer.data_init(x_tr)
        compile_model(model, recipe, steps)
        initial_epoch = 0
        state = {"model_name": model_name, "recipe": recipe.to_dict(), "epoch": 0,
                 "history": {}, "elapsed_before_s": 0.0, "model_kwargs": model_kwargs or {}}

    EarlyStop, ReduceLR, Checkpoint, Budget = _callback_classes()
    restore = state.get("callbacks", {})
    stateful = {}
    if recipe.early_stopping:
        stateful["early_stopping"] = EarlyStop(monitor=recipe.monitor, mode="max" if "acc" in recipe.monitor else "min",
                                               patience=recipe.early_stopping_patience,
                                               restore=restore.get("early_stopping"))
    if recipe.reduce_lr:
        stateful["reduce_lr"] = ReduceLR(monitor=recipe.monitor, mode="max" if "acc" in recipe.monitor else "min",
                                         factor=recipe.reduce_lr_factor,
                                         patience=recipe.reduce_lr_patience, min_lr=recipe.min_lr,
                                         restore=restore.get("reduce_lr"))
    started = time.perf_counter()
    cbs = [*stateful.values(), Checkpoint(run_dir, state, stateful, started), *(callbacks or [])]
    if recipe.time_budget_s:
        cbs.append(Budget(recipe.time_budget_s, started, state["elapsed_before_s"]))
    if recipe.lookahead:
        cbs.insert(0, Lookahead(total_steps=recipe.epochs * steps))

    if initial_epoch < recipe.epochs:
        model.fit(train_ds, validation_data=val_ds, epochs=recipe.epochs,
                  initial_epoch=initial_epoch, callbacks=cbs, verbose=verbose,
                  shuffle=False, steps_per_epoch=steps_per_epoch)  # the pipeline shuffles
    history = state.get("history", {})
    epochs_run = int(state.get("epoch", initial_epoch))
    stopped = bool(recipe.early_stopping and stateful["early_stopping"].stopped_epoch > 0)
    state["finished"] = True
    state["stopped_early"] = stopped
    _atomic_write_text(run_dir / "state.json", json.dumps(state, indent=1))
    return TrainResult(
        model=model, history=history, epochs_run=epochs_run,
        wall_time_s=float(state.get("elapsed_s", time.perf_counter() - started)),
        run_dir=run_dir, recipe=recipe, model_name=model_name,
        resumed_from_epoch=initial_epoch, stopped_early=stopped, train_examples=len(x_tr),
    )


RECIPES = {"seed": SEED_RECIPE}


def recipe_named(name: str) -> Recipe:
    """A base recipe by name ('seed', or the fast recipes registered by wic.fastnet)."""
    from wic import fastnet  # noqa: F401 - registers the fast recipes

    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; accepted: {', '.join(sorted(RECIPES))}")
    return RECIPES[name]


def recipe_fields() -> list[str]:
    """The names of :class:`Recipe`'s fields (what ``recipe_overrides`` may set)."""
    return [f.name for f in fields(Recipe)]


def recipe_names() -> list[str]:
    from wic import fastnet  # noqa: F401 - registers the fast recipes

    return sorted(RECIPES)
