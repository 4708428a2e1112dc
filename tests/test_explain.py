"""Saliency and Grad-CAM on models whose answer is known by construction (no training)."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from wic.evaluation import explain  # noqa: E402


@pytest.fixture(scope="module")
def looks_top_left():
    """Class 0's logit is the mean brightness of the top-left 16x16 quadrant, class 1 its negative.

    A 1x1 convolution sums RGB (channel 0) and negates the sum (channel 1); a crop keeps the
    top-left quadrant; global average pooling and an identity softmax layer give the classes.
    """
    from keras import layers

    inp = keras.Input((32, 32, 3))
    conv = layers.Conv2D(2, 1, use_bias=False, name="conv")
    h = conv(inp)
    h = layers.Cropping2D(((0, 16), (0, 16)), name="crop")(h)
    h = layers.GlobalAveragePooling2D(name="gap")(h)
    dense = layers.Dense(2, activation="softmax", name="out")
    out = dense(h)
    model = keras.Model(inp, out)
    conv.set_weights([np.stack([np.ones(3), -np.ones(3)], axis=-1).reshape(1, 1, 3, 2)])
    dense.set_weights([np.eye(2, dtype=np.float32), np.zeros(2, np.float32)])
    return model


def test_grad_cam_points_at_the_bright_region(looks_top_left):
    img = np.zeros((32, 32, 3), np.uint8)
    img[2:10, 4:12] = 255
    e = explain.Explainer(looks_top_left)
    assert e.layer.name == "conv"  # the crop/pool layers after it are not convolutions
    cam = e.grad_cam(img, class_index=0)
    assert cam.shape == (32, 32) and cam.dtype == np.float32
    assert cam.max() == pytest.approx(1.0) and cam.min() >= 0.0
    assert cam[6, 8] > 0.9  # inside the bright square
    assert cam[25, 25] < 0.05  # black, far away
    # For class 1 the bright square lowers the score: nothing positive remains.
    assert explain.grad_cam(looks_top_left, img, class_index=1).max() == 0.0


@pytest.mark.parametrize("samples", [1, 8])
def test_saliency_is_zero_where_the_model_does_not_look(looks_top_left, samples):
    img = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    sal = explain.saliency(looks_top_left, img, class_index=0, samples=samples, noise=0.1)
    assert sal.shape == (32, 32) and sal.min() >= 0.0 and sal.max() == pytest.approx(1.0)
    assert sal[:16, :16].min() > 0.5  # every pixel of the quadrant counts
    assert np.all(sal[16:, :] == 0) and np.all(sal[:, 16:] == 0)


def test_seed_model_uses_its_last_wide_conv_layer():
    from wic import models

    model = models.build("seed_v1_3")
    e = explain.Explainer(model)
    assert e.layer.name == "conv2d_3"  # not the 1x1 pooling/dropout layers after it
    img = np.random.default_rng(1).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    for heat in (e.grad_cam(img), e.saliency(img, samples=4)):
        assert heat.shape == (32, 32) and heat.dtype == np.float32
        assert np.isfinite(heat).all() and heat.min() >= 0.0 and heat.max() <= 1.0


def test_overlay_and_helpers():
    img = np.full((32, 32, 3), 128, np.uint8)
    heat = np.zeros((5, 5), np.float32)
    heat[0, 0] = 1.0
    out = explain.overlay(img, heat, size=96, nearest=True)
    assert out.shape == (96, 96, 3) and out.dtype == np.uint8
    assert not np.array_equal(out[0, 0], [128, 128, 128])  # hot corner is coloured
    assert np.array_equal(out[-1, -1], [128, 128, 128])  # cold corner keeps the picture
    assert explain.overlay(img.astype(np.float32) / 255, np.zeros((32, 32))).shape == (32, 32, 3)
    assert explain.normalise(np.zeros((4, 4))).max() == 0.0
    assert explain.normalise(np.array([[np.nan, 2.0], [1.0, -1.0]])).tolist() == [[0, 1], [0.5, 0]]
    with pytest.raises(ValueError, match="RGB"):
        explain.as_batch(np.zeros((32, 32)))
    with pytest.raises(ValueError, match="4-D"):
        explain.last_spatial_layer(keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]))
