"""WIC — Web Image Classifier: a notebook-driven CIFAR-10 research project in Keras.

The package, by the way data flows through it (imports point one way, down this list):

- ``config``, ``values``, ``files``, ``cards`` — where things live, one parser for typed-in
  values, safe writes, model cards (no TensorFlow);
- ``data`` — CIFAR-10: load, validate, subsets, the ``tf.data`` pipelines;
- ``models`` — the registry, the seed net, the airbench-style nets, one load/save;
- ``evaluation`` — metrics, calibration, corruptions, figures, explanations;
- ``training`` — recipes, fit, schedules, shipping a model with its card (into ``runs/``);
- ``serving`` — untrusted images, ``Classifier``, the widget app (never imports training);
- ``experiments`` — sweeps, the notebook pipeline, ablations, result tables;
- ``cli`` — the ``wic`` command (nothing imports it).

``import wic`` is cheap: TensorFlow is imported (quietly, by :mod:`wic.backend`) only by the
subpackages that need it.
"""

from wic.config import CLASS_NAMES

__version__ = "0.3.0"

__all__ = ["CLASS_NAMES", "__version__"]
