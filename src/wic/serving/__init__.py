"""Serving: untrusted images in, calibrated top-k classes out; the widget app and the page.

- :mod:`~wic.serving.images` — everything a person can upload → RGB → the 32x32 model input;
- :mod:`~wic.serving.classifier` — :class:`Classifier` (Keras or ONNX Runtime backend);
- :mod:`~wic.serving.app` — the ipywidgets app (JupyterLab inline, Voilà as a web page);
- :mod:`~wic.serving.latency` — single-image latency, written into model cards.

Never imports :mod:`wic.training` or :mod:`wic.experiments`: classifying an image loads no
training code. Importing this package does not import TensorFlow (the Keras backend does, when
a model is loaded).

    from wic.serving import Classifier
    Classifier.load().top_k("cat.jpg")     # [('cat', 0.93), ('dog', 0.04), ('deer', 0.01)]
"""

from wic.serving.classifier import (
    LATENCY_BUDGET_MS,
    Classifier,
    ModelError,
    default_model,
    percent,
    resolve_model_path,
    top_classes,
)
from wic.serving.images import ACCEPTED, MAX_BYTES, ImageError, load_image, to_model_input

__all__ = [
    "ACCEPTED", "LATENCY_BUDGET_MS", "MAX_BYTES", "Classifier", "ImageError", "ModelError",
    "default_model", "load_image", "percent", "resolve_model_path", "to_model_input", "top_classes",
]
