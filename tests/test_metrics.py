"""The standard error of an accuracy: what the test images' own sample can move it by."""

from __future__ import annotations

import numpy as np
import pytest

from wic.evaluation import metrics


def test_standard_error_is_the_spread_over_other_samples_of_images():
    # by hand: 0.94 on 10,000 images -> sqrt(0.94 * 0.06 / 10,000) = 0.0023749
    assert metrics.accuracy_standard_error(0.94, 10_000) == pytest.approx(0.0023749, abs=1e-7)
    # four times fewer images, twice the error
    assert metrics.accuracy_standard_error(0.94, 2_500) == pytest.approx(
        2 * metrics.accuracy_standard_error(0.94, 10_000))
    # and it is what it claims: a model right 94% of the time, scored on many draws of 1,000
    # images, spreads by that much
    rng = np.random.default_rng(0)
    accuracies = (rng.random((4000, 1000)) < 0.94).mean(axis=1)
    assert accuracies.std() == pytest.approx(metrics.accuracy_standard_error(0.94, 1000), rel=0.05)
    assert metrics.accuracy_standard_error(1.0, 50) == 0.0


@pytest.mark.parametrize("accuracy, images, message", [
    (94.0, 1000, "accuracy must be a share between 0 and 1, got 94.0"),
    (float("nan"), 1000, "accuracy must be a share"),
    (0.9, 0, "images must be a whole number of at least 1, got 0"),
    (0.9, 10.5, "images must be a whole number of at least 1, got 10.5"),
])
def test_standard_error_refuses_what_is_not_an_accuracy(accuracy, images, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        metrics.accuracy_standard_error(accuracy, images)
