"""WIC — Web Image Classifier: a notebook-driven CIFAR-10 research project in Keras.

The package is organised by the way data flows through it (see README.md, "Layout"):
``config`` → ``data`` → ``models`` → ``train`` → ``evaluate`` → ``plots``,
and ``images`` → ``predict`` → ``widgets`` for inference; ``sweep`` and ``cli`` sit on top.
Modules are imported lazily so that ``import wic`` stays cheap (no TensorFlow).
"""

import os as _os

__version__ = "0.2.0"

# TensorFlow's C++ start-up chatter (CUDA probing on a CPU machine, oneDNN notices) is noise
# for our users and for nbval's output comparison; real errors still get through.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

CLASS_NAMES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
