"""CIFAR-10 in, arrays and ``tf.data`` pipelines out. Imports nothing of ours but ``config``.

- :mod:`wic.data.cifar10` — find, load and validate the python batches; subsets and splits
  (no TensorFlow);
- :mod:`wic.data.pipeline` — the training and evaluation ``tf.data`` pipelines (TensorFlow);
- :mod:`wic.data.explore` — class means, PCA, near-duplicates (notebook 01).
"""

from wic.data.cifar10 import (
    BATCH_DIR,
    IMAGE_SHAPE,
    NUM_CLASSES,
    TEST_IMAGES,
    Cifar10,
    DataError,
    channel_stats,
    check_test_subset,
    find_dataset,
    load_cifar10,
    load_test_split,
    shown_location,
    split_validation,
    stratified_subset,
    to_float,
)

__all__ = [
    "BATCH_DIR", "IMAGE_SHAPE", "NUM_CLASSES", "TEST_IMAGES", "Cifar10", "DataError",
    "channel_stats", "check_test_subset", "find_dataset", "load_cifar10", "load_test_split", "shown_location", "split_validation",
    "stratified_subset", "to_float",
]
