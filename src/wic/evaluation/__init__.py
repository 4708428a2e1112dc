"""How good is a model, and where does it fail?

- :mod:`~wic.evaluation.metrics` — accuracy, confusion matrix, per-class report, mistakes;
- :mod:`~wic.evaluation.calibration` — reliability, ECE, temperature scaling;
- :mod:`~wic.evaluation.corruptions` — CIFAR-10-C (regenerated): 15 corruptions x 5 severities;
- :mod:`~wic.evaluation.plots` — every figure the notebooks and commands draw;
- :mod:`~wic.evaluation.explain` — saliency and Grad-CAM;
- :mod:`~wic.evaluation.teaching` — the course's teaching figures (notebooks 01-03): filters,
  schedules, augmentation, learning curves, t-SNE of learned features.

Imports ``data`` and ``models``, never ``training``, ``serving`` or ``experiments``; the
submodules are imported on use (the figures need Matplotlib, the explanations TensorFlow).
"""
