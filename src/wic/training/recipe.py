"""A :class:`Recipe`: everything that defines how a model is trained, frozen and type-checked.

A recipe cannot hold a wrong value: every field is checked against its annotation when the
recipe is made (booleans are booleans, choices are one of their values), and text from a person
(``wic train --set lookahead=false``, ``wic sweep -p``, notebook parameters) goes through the
one parser in :mod:`wic.values` — :meth:`Recipe.with_text` — so ``"false"`` means ``False`` and
``"maybe"`` is refused with one line naming the field and what is accepted.

The fields fall in three groups (the named recipes are in :mod:`wic.training.recipes`):

- *optimisation*: optimizer, learning rate and schedule, momentum, weight decay, label smoothing,
  batch size, epochs, lookahead, precision, XLA;
- *data*: augmentation (translate, flip, brightness/contrast jitter, blur, noise, clean last
  epochs), smaller pictures first (windows or shrunk), validation split, training subset;
- *stopping*: early stopping and LR reduction on a validation metric (the seed's), time budget.
"""

from __future__ import annotations

import typing
from dataclasses import asdict, dataclass, fields, replace
from typing import Literal

from wic import config, values

Optimizer = Literal["adam", "adamw", "sgd", "nesterov", "muon"]
Schedule = Literal["constant", "onecycle", "linear"]
Flip = Literal["random", "alternate", "none"]
CropBy = Literal["window", "resize"]
Precision = Literal["auto", "float32", "mixed_bfloat16"]


#: crop sizes a recipe accepts: smaller than CIFAR-10's 32 pixels, and large enough that the
#: airbench nets (2x2 whitening, then three 2x2 poolings) keep at least one pixel
CROP_SIZES = (12, 31)


@dataclass(frozen=True)
class Recipe:
    """How a model is trained (the seed's recipe by default). Immutable: use :meth:`with_`."""

    optimizer: Optimizer = "adam"
    learning_rate: float = 1e-3  # the peak learning rate when a schedule is used
    momentum: float = 0.9  # SGD / Nesterov only (with 'muon': for the weights that are not filters)
    muon_lr: float = 0.24  # 'muon': the 3x3 filters' peak step (orthogonalised, see training.muon)
    muon_momentum: float = 0.6  # 'muon': the filters' (Nesterov) momentum
    weight_decay: float = 0.0  # decoupled, per step x learning rate (0: none)
    label_smoothing: float = 0.0  # target = (1 - s) one-hot + s / 10
    batch_size: int = 32
    epochs: int = 50
    validation_split: float = 0.2  # the last fraction of the training set, held out
    early_stopping: bool = True  # stop when `monitor` has not improved for `..._patience` epochs
    early_stopping_patience: int = 5
    reduce_lr: bool = True  # halve the LR when `monitor` has not improved (constant schedule)
    reduce_lr_factor: float = 0.5
    reduce_lr_patience: int = 5
    min_lr: float = 1e-5
    monitor: str = "val_accuracy"
    schedule: Schedule = "constant"
    warmup_fraction: float = 0.2  # 'onecycle': share of the steps spent warming up
    lr_start_factor: float = 0.0  # 'onecycle'/'linear': the LR starts at this x peak ...
    lr_end_factor: float = 0.0  # ... and ends at this x peak
    augment: bool = False  # random translations and mirroring (below)
    flip: Flip = "random"  # with augment: 'random' per image, 'alternate' (derandomised), 'none'
    translate: int = 4  # with augment: shifts of up to this many pixels (reflect padding)
    brightness: float = 0.0  # with augment: add U(-b, b) to each image (0: off)
    contrast: float = 0.0  # with augment: scale each image's contrast by 1 + U(-c, c) (0: off)
    blur: float = 0.0  # with augment: half the images blurred, sigma U(0, blur) px (0: off; <= 1.5)
    noise: float = 0.0  # with augment: half get Gaussian noise, sigma U(0, noise) (0: off; <= 0.5)
    clean_epochs: int = 0  # with augment: the last N epochs without jitter, blur and noise
    clean_noisy_epochs: int = 0  # ... of which the first N keep the noise (the first robustness
    # to fade when the augmentations stop)
    crop_size: int = 0  # train the first `crop_epochs` on random crops of this many pixels square
    crop_epochs: float = 0.0  # (fractions allowed, at least one step; 0: off), the rest on whole
    # images; a step on 24x24 crops costs about (24/32)² of a whole one (FAST_RECIPE, "Smaller
    # crops first": measured, and no better than fewer epochs of whole images)
    crop_by: CropBy = "window"  # with crop_epochs: 'window' cuts a random window (objects keep
    # their scale), 'resize' shrinks the whole image to crop_size (all of it, smaller)
    lookahead: bool = False  # pull weights to a slow EMA every 5 steps after 30% of the run
    whiten_bias_epochs: float = 0.0  # the whitening layer's bias trains for the first this many
    # epochs (fractions allowed), then is held and the step skips its gradient (0: it trains
    # throughout; under one step's worth, e.g. 0.001: held at zero from the first step)
    train_subset: int | None = None  # train on this many images (stratified); None: all
    time_budget_s: float | None = None  # stop training after this many seconds
    seed: int = config.DEFAULT_SEED
    jit_compile: bool = False  # XLA for the train step (measured slower than oneDNN here)
    precision: Precision = "float32"  # 'mixed_bfloat16': bf16 compute, float32 weights; 'auto':
    # bf16 only on a CPU that multiplies bf16 in hardware (AVX512_BF16 / AMX), else float32

    def resolved_precision(self) -> str:
        """The precision this machine trains with (``auto`` decided by :func:`config.cpu_info`)."""
        if self.precision != "auto":
            return self.precision
        return "mixed_bfloat16" if config.cpu_info()["bf16"] else "float32"

    def __post_init__(self):
        hints = _hints()
        for f in fields(self):
            checked = values.check(f.name, getattr(self, f.name), hints[f.name])
            object.__setattr__(self, f.name, checked)
        self._check_ranges()

    def _check_ranges(self) -> None:
        def bad(name, accepted):
            values.fail(name, getattr(self, name), accepted)

        if self.epochs < 1:
            bad("epochs", "an integer >= 1")
        if self.batch_size < 1:
            bad("batch_size", "an integer >= 1")
        if self.learning_rate <= 0:
            bad("learning_rate", "a positive number")
        for name in ("validation_split", "label_smoothing", "brightness", "contrast"):
            if not 0.0 <= getattr(self, name) < 1.0:
                bad(name, "a fraction in [0, 1)")
        for name in ("warmup_fraction", "lr_start_factor", "lr_end_factor"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                bad(name, "a fraction in [0, 1]")
        if self.muon_lr <= 0:
            bad("muon_lr", "a positive number")
        if not 0.0 <= self.muon_momentum < 1.0:
            bad("muon_momentum", "a fraction in [0, 1)")
        if self.weight_decay < 0:
            bad("weight_decay", "a number >= 0")
        if self.train_subset is not None and self.train_subset < 1:
            bad("train_subset", "a positive integer or none (all)")
        if self.time_budget_s is not None and self.time_budget_s <= 0:
            bad("time_budget_s", "a positive number of seconds or none")
        if not 0.0 <= self.blur <= 1.5:
            bad("blur", "a sigma in pixels, 0..1.5 (0: off)")
        if not 0.0 <= self.noise <= 0.5:
            bad("noise", "a sigma 0..0.5 of the [0, 1] pixel range (0: off)")
        if not 0 <= self.clean_epochs < self.epochs:
            bad("clean_epochs", f"an integer 0..{self.epochs - 1} (fewer than the epochs)")
        if not 0 <= self.clean_noisy_epochs <= self.clean_epochs:
            bad("clean_noisy_epochs", f"an integer 0..clean_epochs ({self.clean_epochs})")
        if not 0.0 <= self.whiten_bias_epochs <= self.epochs:
            bad("whiten_bias_epochs", f"a number of epochs 0..{self.epochs} (0: train it throughout)")
        if not 0.0 <= self.crop_epochs <= self.epochs:
            bad("crop_epochs", f"a number of epochs 0..{self.epochs} (0: no crops)")
        if self.crop_epochs and not CROP_SIZES[0] <= self.crop_size <= CROP_SIZES[1]:
            bad("crop_size", f"an integer {CROP_SIZES[0]}..{CROP_SIZES[1]} (pixels, smaller than "
                "the 32x32 images) when crop_epochs > 0")
        if self.crop_size and not self.crop_epochs:
            bad("crop_size", "0 when crop_epochs is 0 (or set crop_epochs: the epochs to crop)")
        if self.crop_by != "window" and not self.crop_epochs:
            bad("crop_by", "'window' (the default) when crop_epochs is 0 (or set crop_epochs and "
                "crop_size)")
        if not 0 <= self.translate <= 8:
            bad("translate", "an integer 0..8 (pixels)")
        for name in ("early_stopping_patience", "reduce_lr_patience"):
            if getattr(self, name) < 1:
                bad(name, "an integer >= 1")
        if (self.early_stopping or self.reduce_lr) and self.validation_split == 0 \
                and self.monitor.startswith("val_"):
            values.fail("validation_split", 0, "> 0 when early stopping / LR reduction monitor "
                        f"{self.monitor!r} (or switch them off)")
        if self.schedule != "constant" and self.reduce_lr:
            values.fail("reduce_lr", True, "false when a schedule other than 'constant' drives the LR")

    # ------------------------------------------------------------------ making new recipes

    def with_(self, **changes) -> Recipe:
        """A copy with ``changes`` (typed values; an unknown field is refused by name)."""
        unknown = sorted(set(changes) - set(field_names()))
        if unknown:
            raise values.ParameterError(f"unknown recipe field(s) {', '.join(unknown)}; "
                                        f"accepted: {', '.join(field_names())}")
        return replace(self, **changes)

    def with_text(self, assignments: dict[str, str]) -> Recipe:
        """A copy with fields given as text (``{"lookahead": "false"}``), parsed by
        :mod:`wic.values` against each field's type."""
        hints = _hints()
        unknown = sorted(set(assignments) - set(hints))
        if unknown:
            raise values.ParameterError(f"unknown recipe field(s) {', '.join(unknown)}; "
                                        f"accepted: {', '.join(field_names())}")
        return self.with_(**{k: values.parse(v, hints[k], k) for k, v in assignments.items()})

    @classmethod
    def from_dict(cls, data: dict) -> Recipe:
        """A recipe from a card's or a state file's ``recipe`` dict (unknown keys refused)."""
        data = dict(data)
        if data.get("jit_compile") == "auto":  # cards written before 0.3: Keras' 'auto' is off on CPU
            data["jit_compile"] = False
        return cls().with_(**data)

    def to_dict(self) -> dict:
        return asdict(self)

    def changes(self, base: Recipe | None = None) -> dict:
        """The fields that differ from ``base`` (default: the seed's recipe)."""
        base = base or Recipe()
        return {k: v for k, v in self.to_dict().items() if getattr(base, k) != v}

    def describe(self, name: str = "") -> str:
        """One line per field, for ``wic train --dry-run`` and the notebooks."""
        rows = [f"  {k:<24} {v!r}" for k, v in self.to_dict().items()]
        return f"recipe {name}".rstrip() + ":\n" + "\n".join(rows)


def field_names() -> list[str]:
    return [f.name for f in fields(Recipe)]


def field_types() -> dict[str, object]:
    """Each field's annotation (what :mod:`wic.values` parses text against)."""
    return dict(_hints())


_HINTS: dict | None = None


def _hints() -> dict:
    global _HINTS
    if _HINTS is None:
        _HINTS = typing.get_type_hints(Recipe, globalns={**vars(typing), **globals()})
    return _HINTS


