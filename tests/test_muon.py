"""Muon for the 3x3 filters (wic.training.muon): the orthogonalised step, and the optimiser's
split between Muon and SGD."""

import re
from pathlib import Path

import numpy as np
import pytest

from wic import training
from wic.backend import keras
from wic.models.airbench import BIAS_SCALE, HEAD_SCALE
from wic.training.muon import MuonSGD, is_filter, orthogonalise
from wic.training.schedules import make_optimizer


@pytest.mark.parametrize("shape", [(8, 72), (72, 8), (16, 16)])
def test_orthogonalise_makes_every_direction_the_same_size(shape):
    rng = np.random.default_rng(0)
    # a gradient whose directions differ 100x in size, as a filter bank's often do
    k = min(shape)
    u, _ = np.linalg.qr(rng.normal(size=(shape[0], k)))
    v, _ = np.linalg.qr(rng.normal(size=(shape[1], k)))
    g = (u * np.geomspace(1.0, 0.01, k)) @ v.T
    after = np.linalg.svd(np.asarray(orthogonalise(keras.ops.convert_to_tensor(
        g.astype("float32")))), compute_uv=False)
    # five quintic steps do not make them exactly 1, but a 100x spread becomes < 2x
    assert after.min() > 0.6 and after.max() < 1.25, after
    # ... and keeps the directions: U V^T is the orthogonal matrix nearest to g
    u, _, vt = np.linalg.svd(g, full_matrices=False)
    o = np.asarray(orthogonalise(keras.ops.convert_to_tensor(g.astype("float32"))))
    cos = np.sum(o * (u @ vt)) / (np.linalg.norm(o) * np.linalg.norm(u @ vt))
    assert cos > 0.95


def _net():
    inp = keras.Input((6, 6, 2))
    x = keras.layers.Conv2D(4, 3, padding="same", use_bias=False, name="conv")(inp)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    out = keras.layers.Dense(3, name="head")(x)
    return keras.Model(inp, out)


def test_filters_take_muon_steps_and_the_rest_sgd():
    keras.utils.set_random_seed(0)
    model = _net()
    opt = MuonSGD(0.1, peak_learning_rate=0.1, muon_lr=0.2, muon_momentum=0.6, momentum=0.5,
                  nesterov=True, weight_decay=0.01)
    kernel = model.get_layer("conv").kernel
    assert is_filter(kernel) and not is_filter(model.get_layer("head").kernel)
    before = {v.path: np.array(v.numpy()) for v in model.trainable_variables}
    grads = [keras.ops.ones_like(v) for v in model.trainable_variables]
    opt.apply(grads, model.trainable_variables)
    after = {v.path: np.array(v.numpy()) for v in model.trainable_variables}

    # the head: a plain SGD step with decoupled weight decay: w - lr*wd*w - lr*(1+mu)*g (Nesterov)
    head = model.get_layer("head").kernel.path
    expected = before[head] * (1 - 0.1 * 0.01) - 0.1 * 1.5 * np.ones_like(before[head])
    np.testing.assert_allclose(after[head], expected, rtol=1e-5, atol=1e-6)

    # the filters: rescaled to norm sqrt(out channels), then an orthogonalised step of size
    # muon_lr (no weight decay): the step is NOT proportional to the all-ones gradient's size
    k = kernel.path
    rescaled = before[k] * np.sqrt(4) / np.linalg.norm(before[k])
    step = (rescaled - after[k]).reshape(-1, 4).T  # (out, kh*kw*in)
    sv = np.linalg.svd(step / 0.2, compute_uv=False)
    assert sv.max() == pytest.approx(1.0, abs=0.35)
    assert not np.allclose(after[k], before[k] - 0.1 * 1.5)


def test_filters_follow_the_schedule():
    """At half the peak learning rate, the filters' step is half of muon_lr."""
    keras.utils.set_random_seed(0)
    steps = []
    for lr in (0.1, 0.05):
        model = _net()
        opt = MuonSGD(lr, peak_learning_rate=0.1, muon_lr=0.2, momentum=0.5)
        kernel = model.get_layer("conv").kernel
        w0 = np.array(kernel.numpy())
        rescaled = w0 * 2.0 / np.linalg.norm(w0)
        opt.apply([keras.ops.ones_like(v) for v in model.trainable_variables],
                  model.trainable_variables)
        steps.append(np.linalg.norm(rescaled - kernel.numpy()))
        keras.utils.set_random_seed(0)
    assert steps[1] / steps[0] == pytest.approx(0.5, rel=1e-3)


def test_recipe_names_muon_and_checks_its_fields():
    r = training.recipe_named("fast").with_text({"optimizer": "muon", "muon_lr": "0.1"})
    opt = make_optimizer(r, steps_per_epoch=10)
    assert isinstance(opt, MuonSGD) and opt.muon_lr == pytest.approx(0.1)
    assert opt.peak_learning_rate == pytest.approx(r.learning_rate)
    with pytest.raises(ValueError, match="muon_momentum"):
        r.with_(muon_momentum=1.5)
    with pytest.raises(ValueError, match="muon_lr"):
        r.with_(muon_lr=0.0)
    cfg = opt.get_config()
    assert cfg["muon_lr"] == pytest.approx(0.1) and cfg["muon_momentum"] == pytest.approx(0.6)


def test_airbench94_muon_settings_translate_to_the_documented_values():
    """FAST_RECIPE's `muon_as_airbench` run uses airbench94_muon's SGD settings translated to this
    net's conventions; the values in its command must be that translation, from this net's own
    bias and head scales (a change to either, or a mistyped value, fails here)."""
    doc = (Path(__file__).resolve().parents[1] / "benchmarks" / "FAST_RECIPE.md").read_text()
    command = re.search(r"--variant muon_as_airbench=(\S+),\\\n(\S+)", doc)
    assert command, "the muon_as_airbench command is missing from FAST_RECIPE.md"
    fields = dict(kv.split("=") for kv in (command[1] + "," + command[2]).split(","))
    batch, bias_lr, head_lr, head_divisor = 2000, 0.053, 0.67, 256  # airbench94_muon, summed loss
    assert int(fields["batch_size"]) == batch
    # a mean-loss learning rate is the summed one x batch; the biases here learn BIAS_SCALE**2
    # faster, and the head's step acts through its output scale squared
    from_biases = bias_lr * batch / BIAS_SCALE ** 2
    from_head = head_lr * batch * (1 / head_divisor) ** 2 / HEAD_SCALE ** 2
    lr = float(fields["learning_rate"])
    assert from_biases == pytest.approx(lr, abs=0.005)
    assert from_head == pytest.approx(lr, abs=0.005)
    # 2e-6 per example of decay per step, amplified 1 / (1 - 0.85) by momentum, per unit of lr
    decay = 2e-6 * batch / (1 - 0.85) / lr
    assert decay == pytest.approx(float(fields["weight_decay"]), abs=5e-5)
    assert f"= {fields['weight_decay']} x lr" in doc and f"learning rate of {lr}" in doc
