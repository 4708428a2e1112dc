"""Training: recipes, the fit loop, schedules and optimisers, shipping a model with its card.

``RECIPES`` (``seed``, ``fast``, ``fast94``) is complete when this package is imported.

    from wic import training
    recipe = training.recipe_named("fast").with_text({"lookahead": "false"})
    out = training.train_and_save("airbench_cpu_s", recipe, "try1")   # -> runs/try1/
    training.promote("try1")                                          # -> models/try1.keras
"""

from wic.training.recipe import Recipe, field_names, field_types
from wic.training.recipes import FAST, FAST94, RECIPES, SEED, recipe_named
from wic.training.ship import (
    TrainedModel,
    calibrate,
    held_out_images,
    promote,
    run_folder,
    train_and_save,
)
from wic.training.trainer import TrainResult, fit, training_arrays

__all__ = [
    "FAST", "FAST94", "RECIPES", "SEED", "Recipe", "TrainResult", "TrainedModel", "calibrate",
    "field_names",
    "field_types", "fit", "held_out_images", "promote", "recipe_named", "run_folder", "train_and_save",
    "training_arrays",
]
