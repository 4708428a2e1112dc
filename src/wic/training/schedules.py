"""Optimisers, learning-rate schedules and lookahead: how the weights move.

- **Adam** adapts a step size per weight from running means of the gradient and its square:
  forgiving, the seed's choice. **SGD with (Nesterov) momentum** keeps a velocity — a running
  sum of past gradients — and steps along it; with a good schedule it generalises better and
  costs less per step, so the fast recipe uses it.
- **Muon** (``optimizer="muon"``, :mod:`wic.training.muon`): momentum, then every 3x3 filter
  bank's step is orthogonalised so all its directions move equally; the other weights keep SGD.
- **Schedules**: ``constant``; ``onecycle`` (linear warm-up to the peak, then linear decay:
  a triangle); ``linear`` (decay only). A warm-up keeps the first, largest gradients of a
  fresh net from throwing it off; the decay lets it settle into a minimum.
- **Lookahead** (airbench): a slow exponential moving average of the weights that the fast
  weights are pulled back to every few steps, late in the run — a cheap ensemble over time.
"""

from __future__ import annotations

import numpy as np

from wic.backend import keras
from wic.training.muon import MuonSGD
from wic.training.recipe import Recipe

ops = keras.ops


@keras.saving.register_keras_serializable(package="wic")
class PiecewiseLinear(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up from ``start`` x peak (``warmup`` steps), then linear decay to ``end`` x
    peak at ``total`` (both 0 by default)."""

    def __init__(self, peak, warmup, total, start=0.0, end=0.0):
        self.peak, self.warmup, self.total = float(peak), int(warmup), int(total)
        self.start, self.end = float(start), float(end)

    def __call__(self, step):
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


def learning_rate_schedule(recipe: Recipe, steps_per_epoch: int):
    """A float for 'constant', else a schedule over the whole run's steps."""
    if recipe.schedule == "constant":
        return recipe.learning_rate
    total = max(1, recipe.epochs * steps_per_epoch)
    warm = int(total * recipe.warmup_fraction) if recipe.schedule == "onecycle" else 0
    return PiecewiseLinear(recipe.learning_rate, warm, total, recipe.lr_start_factor,
                           recipe.lr_end_factor)


def learning_rates(recipe: Recipe, steps_per_epoch: int) -> np.ndarray:
    """The learning rate at every step of the run (for plotting the schedule)."""
    lr = learning_rate_schedule(recipe, steps_per_epoch)
    steps = np.arange(recipe.epochs * steps_per_epoch)
    if not callable(lr):
        return np.full(len(steps), float(lr))
    return np.asarray(lr(steps), dtype=np.float64)


def make_optimizer(recipe: Recipe, steps_per_epoch: int):
    lr = learning_rate_schedule(recipe, steps_per_epoch)
    if recipe.optimizer == "adam":
        return keras.optimizers.Adam(lr)
    if recipe.optimizer == "adamw":
        return keras.optimizers.AdamW(lr, weight_decay=recipe.weight_decay or 0.004)
    if recipe.optimizer == "muon":
        return MuonSGD(lr, peak_learning_rate=recipe.learning_rate, muon_lr=recipe.muon_lr,
                       muon_momentum=recipe.muon_momentum, momentum=recipe.momentum,
                       nesterov=True, weight_decay=recipe.weight_decay or None)
    return keras.optimizers.SGD(lr, momentum=recipe.momentum,
                                nesterov=recipe.optimizer == "nesterov",
                                weight_decay=recipe.weight_decay or None)


class Lookahead(keras.callbacks.Callback):
    """airbench's lookahead: after ``start_fraction`` of the run, every ``every`` steps the
    weights (and BN statistics) move to a slow EMA copy, ``ema = rho*ema + (1-rho)*w; w = ema``
    with ``rho = decay**every * (step/total)**power`` (little averaging early, strong at the
    end); the EMA is copied back at each epoch's end. So at an epoch's end the weights *are* the
    EMA, and a run resumed from that checkpoint restarts the EMA from them: the resumed run
    takes the same steps as one never interrupted."""

    def __init__(self, total_steps: int, every: int = 5, start_fraction: float = 0.3,
                 decay: float = 0.95, power: float = 3.0):
        super().__init__()
        self.total_steps, self.every, self.start_fraction = total_steps, every, start_fraction
        self.decay, self.power = decay, power
        self.ema = None

    def _floats(self):
        return [w for w in self.model.weights if w.dtype in ("float32", "float16", "bfloat16")]

    def on_train_begin(self, logs=None):
        # resumed past the start: the checkpointed weights are the EMA (copied back at the end of
        # the epoch it was written after), so it continues from them
        if int(self.model.optimizer.iterations.numpy()) >= self.start_fraction * self.total_steps:
            self.ema = [np.array(w.numpy()) for w in self._floats()]

    def on_train_batch_end(self, batch, logs=None):
        step = int(self.model.optimizer.iterations.numpy())
        if step < self.start_fraction * self.total_steps or step % self.every:
            return
        weights = self._floats()
        if self.ema is None:
            self.ema = [np.array(w.numpy()) for w in weights]
            return
        rho = self.decay ** self.every * min(1.0, step / self.total_steps) ** self.power
        for e, w in zip(self.ema, weights):
            e *= rho
            e += (1.0 - rho) * w.numpy()
            w.assign(e)

    def on_epoch_end(self, epoch, logs=None):
        if self.ema is not None:
            for e, w in zip(self.ema, self._floats()):
                w.assign(e)


class HoldWhiteningBias(keras.callbacks.Callback):
    """The whitening layer's bias learns for the first ``steps`` optimiser steps, then is held
    at the value it had then (airbench94_muon trains it for 3 epochs, the 2025 record for a
    fifth of one: the bias only has to centre the whitened patches, and later steps add noise).

    Held, the bias is also taken out of the trainable variables and the training step rebuilt
    (traced once more): nothing before the first 3x3 conv trains then, so the step no longer
    computes that conv's input gradient, the widest backward-data pass of the net (one 3x3 conv
    at 31x31; what that saves is measured in ``benchmarks/FAST_RECIPE.md``). A value of
    ``whiten_bias_epochs`` under one step's worth holds it at zero from the first step, with no
    second trace. The bias is trainable again when training ends, so the saved model is the same
    kind of model as before.

    Other callbacks may move it after a step (lookahead's EMA): this one runs after them, at
    every step's end and at each epoch's end, before the checkpoint is written, so a run resumed
    past ``steps`` restarts from the held value (and held from its first step)."""

    #: the name airbench_cpu gives its PatchWhitening layer
    LAYER = "whiten"

    def __init__(self, steps: int, layer: str = LAYER):
        super().__init__()
        self.steps, self.layer = int(steps), layer
        self.value = None

    def _bias(self):
        return self.model.get_layer(self.layer).bias

    def _hold(self) -> None:
        bias = self._bias()
        self.value = np.array(bias.numpy())
        bias.trainable = False
        self.model.make_train_function(force=True)  # fit reads it again at the next step

    def on_train_begin(self, logs=None):
        self.value = None
        if int(self.model.optimizer.iterations.numpy()) >= self.steps:  # resumed past the hold
            self._hold()

    def on_train_batch_end(self, batch, logs=None):
        if self.value is not None:
            self._bias().assign(self.value)
        elif int(self.model.optimizer.iterations.numpy()) >= self.steps:
            self._hold()

    def on_train_end(self, logs=None):
        self._bias().trainable = True
        self.model.train_function = None  # a later fit traces a step that trains it again

    def on_epoch_end(self, epoch, logs=None):
        if self.value is not None:
            self._bias().assign(self.value)
