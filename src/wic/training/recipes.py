"""The named recipes: the seed's, and the fast recipe's knobs in one place, a comment each.

``RECIPES`` is complete when :mod:`wic.training` is imported. The fast recipe is airbench's
training half (Keller Jordan, "94% on CIFAR-10 in 3.29 seconds", 2024) translated to Keras'
conventions; its net is :mod:`wic.models.airbench`. Measured effects of each ingredient:
``benchmarks/FAST_RECIPE.md`` and notebook 07.
"""

from __future__ import annotations

from wic.training.recipe import Recipe

# The seed's recipe (pycrafters_team_model_v1.3): Adam, batch 32, the last 20% of the training
# set held out, EarlyStopping and ReduceLROnPlateau on validation accuracy, up to 50 epochs.
SEED = Recipe()

# airbench's values in Keras' conventions (mean loss over the batch, decoupled weight decay): lr
# 11.5 per 1024 examples of summed loss with momentum 0.85 is a mean-loss learning rate of
# 11.5 / (1 + 1/0.15) = 1.5 at batch 1024; its L2 decay of 0.0153 per 1024 examples (applied
# through momentum) is a per-step decay of 0.0153 / (1 + 1/0.15) / 0.15 / 1.5 ~ 0.0089 x lr.
FAST = Recipe(
    optimizer="nesterov",      # SGD with Nesterov momentum: cheap, and best for this net
    learning_rate=1.5,         # peak LR at batch 1024
    momentum=0.85,             # airbench's momentum
    weight_decay=0.0089,       # decoupled, x lr per step (airbench's 0.0153 per 1024 examples)
    label_smoothing=0.2,       # soft targets: better accuracy, but under-confident probabilities
    batch_size=1024,           # big batches keep both cores busy
    epochs=10,                 # 10 epochs: ~91.5% for airbench_cpu_s
    validation_split=0.0,      # airbench trains on all 50,000 (override to hold some out)
    early_stopping=False,      # a fixed schedule: no stopping on a validation metric
    reduce_lr=False,
    monitor="loss",
    schedule="onecycle",       # triangle: 0.2 x peak -> peak at 23% -> 0.07 x peak at the end
    warmup_fraction=0.23,
    lr_start_factor=0.2,
    lr_end_factor=0.07,
    augment=True,
    flip="alternate",          # derandomised flips: each image alternates mirrored / not
    translate=2,               # random shifts of up to 2 pixels, reflect padding
    lookahead=True,            # every 5 steps after 30% of the run, pull weights to a slow EMA
    jit_compile=False,         # measured: XLA's CPU convolutions ~2x slower than oneDNN's
    precision="auto",          # bf16 where the CPU has it in hardware (measured ~1.2-2x faster
                               # with AVX512_BF16); float32 elsewhere (emulated bf16 is far slower)
)

# The 94% run: the same recipe over 15 epochs for the full-width net airbench94_cpu.
FAST94 = FAST.with_(epochs=15)

RECIPES: dict[str, Recipe] = {"seed": SEED, "fast": FAST, "fast94": FAST94}


def recipe_named(name: str) -> Recipe:
    """A base recipe by name; an unknown name is refused with the list of known ones."""
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; accepted: {', '.join(sorted(RECIPES))}")
    return RECIPES[name]
