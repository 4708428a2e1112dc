"""Unit tests of the fast nets and the fast recipe (synthetic data, no dataset needed, < 30 s)."""

from __future__ import annotations

import numpy as np
import pytest

TINY = {"widths": (8, 16, 16)}


@pytest.fixture(scope="module")
def keras():
    return pytest.importorskip("keras")


def _synthetic(n, seed=0):
    """Images whose label is learnable: class k brightens a k-dependent patch."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 10, n)
    x = rng.integers(0, 120, (n, 32, 32, 3))
    for i, k in enumerate(y):
        r, c = divmod(int(k), 5)
        x[i, 4 + 12 * r:12 + 12 * r, 1 + 6 * c:6 + 6 * c, k % 3] = 250
    return x.astype(np.uint8), y.astype(np.int64)


def test_registry_and_import_is_cheap():
    import subprocess
    import sys

    code = ("import sys, wic.fastnet, wic.models as m; "
            "assert 'tensorflow' not in sys.modules, 'TF imported'; "
            "assert {'airbench94_cpu', 'airbench93_cpu', 'airbench_cpu_s'} <= set(m.available()); "
            "import keras; "  # importing Keras afterwards registers the custom layers
            "assert keras.saving.get_registered_object('wic>PatchWhitening') is not None")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("training", [False, True])
def test_builds_and_outputs_probabilities(keras, training):
    from wic import models

    model = models.build("airbench_cpu_s", **TINY)
    x = np.random.default_rng(0).random((3, 32, 32, 3), dtype=np.float32)
    p = np.asarray(model(x, training=training))
    assert p.shape == (3, 10)
    assert np.allclose(p.sum(1), 1.0, atol=1e-5) and (p >= 0).all()


def test_full_size_parameter_counts(keras):
    from wic import models

    # airbench94's net: ~2M parameters (1.97M trainable)
    counts = models.parameter_counts(models.build("airbench94_cpu"))
    assert 1.9e6 < counts["total"] < 2.1e6


def test_whitening_kernel_whitens_patches():
    from wic.fastnet_layers import patch_matrix, whitening_kernel

    rng = np.random.default_rng(1)
    # correlated channels and neighbouring pixels
    base = rng.random((64, 33, 33, 1)).astype(np.float32)
    noise = rng.random((64, 32, 32, 2)).astype(np.float32)
    img = np.concatenate([base[:, :32, :32], 0.5 * base[:, :32, :32] + 0.1 * noise[..., :1],
                          0.1 + 0.8 * base[:, 1:, 1:] + 0.1 * noise[..., 1:]], axis=-1)
    kernel, offset = whitening_kernel(img, k=2, eps=1e-6)
    assert kernel.shape == (2, 2, 3, 24) and offset.shape == (24,)
    assert np.allclose(kernel[..., 12:], -kernel[..., :12])
    out = patch_matrix(img, 2) @ kernel.reshape(12, 24)[:, :12] + offset[:12]
    assert np.allclose(out.mean(0), 0.0, atol=1e-3)
    assert np.allclose(np.cov(out, rowvar=False), np.eye(12), atol=2e-2)


def test_data_init_sets_the_layer(keras):
    from wic import models

    model = models.build("airbench_cpu_s", **TINY)
    layer = model.get_layer("whiten")
    before = np.array(layer.kernel.numpy())
    x, _ = _synthetic(50)
    layer.data_init(x)
    assert not np.allclose(before, layer.kernel.numpy())
    assert layer.kernel.shape == (2, 2, 3, 24)


def test_save_and_load_with_custom_layers(keras, tmp_path):
    from wic import fastnet, models

    model = models.build("airbench_cpu_s", **TINY)
    model.get_layer("whiten").data_init(_synthetic(40)[0])
    x = np.random.default_rng(2).random((4, 32, 32, 3), dtype=np.float32)
    p = np.asarray(model(x, training=False))
    model.save(tmp_path / "m.keras")
    fastnet.register_layers()
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert np.allclose(np.asarray(loaded(x, training=False)), p, atol=1e-5)


def test_tta_mirror_level_is_flip_invariant(keras):
    from wic import fastnet, models

    model = models.build("airbench_cpu_s", tta=1, **TINY)
    x = np.random.default_rng(3).random((2, 32, 32, 3), dtype=np.float32)
    p, pf = np.asarray(model(x)), np.asarray(model(x[:, :, ::-1]))
    assert np.allclose(p, pf, atol=1e-5)
    fastnet.register_layers().set_tta(model, False)
    assert not np.allclose(np.asarray(model(x)), np.asarray(model(x[:, :, ::-1])), atol=1e-5)


def test_fast_recipe_validates_and_seed_default_is_unchanged():
    from wic import fastnet, train

    fast = train.recipe_named("fast")
    assert fast is fastnet.FAST_RECIPE and fast.flip == "alternate" and fast.lookahead
    fast.validate()
    assert train.Recipe() == train.SEED_RECIPE
    seed = train.SEED_RECIPE
    assert (seed.flip, seed.translate, seed.lookahead, seed.jit_compile) == ("random", 4, False, "auto")
    with pytest.raises(ValueError, match="flip"):
        fast.with_(flip="sometimes")
    with pytest.raises(ValueError, match="translate"):
        fast.with_(translate=-1)


def test_triangle_schedule_shape():
    from wic import train

    r = train.recipe_named("fast").with_(epochs=10)
    sched = train.learning_rate_schedule(r, 10)  # 100 steps, peak at 23
    lr = [float(sched(s)) for s in (0, 23, 100)]
    assert np.allclose(lr, [0.2 * r.learning_rate, r.learning_rate, 0.07 * r.learning_rate],
                       rtol=1e-4)


def test_epoch_pipeline_alternates_flips():
    pytest.importorskip("tensorflow")
    from wic import data

    x = np.zeros((8, 32, 32, 3), np.uint8)
    x[:, :, :16] = 255  # left half white: a mirrored image has its white half on the right
    ds = data.make_epoch_pipeline(x, np.arange(8) % 10, batch_size=8, epochs=2, seed=0,
                                  flip="alternate", translate=0, one_hot=False)
    (b0, y0), (b1, y1) = list(ds)
    m0 = dict(zip(np.asarray(y0), np.asarray(b0)[:, 0, 0, 0] == 0))
    m1 = dict(zip(np.asarray(y1), np.asarray(b1)[:, 0, 0, 0] == 0))
    assert all(m0[k] != m1[k] for k in m0)  # every image mirrored in exactly one of the epochs


def test_short_training_run_reduces_loss(keras, tmp_path):
    from wic import data, models, train

    x, y = _synthetic(256)
    ds = data.Cifar10(x, y, x[:32], y[:32])
    recipe = train.recipe_named("fast").with_(batch_size=64, learning_rate=0.2, epochs=2,
                                              jit_compile=False)
    res = train.fit("airbench_cpu_s", ds, recipe, run_dir=tmp_path / "run", resume=False,
                    verbose=0, model_kwargs=TINY)
    assert res.epochs_run == 2 and len(res.history["loss"]) == 2

    # two plain steps on one batch lower that batch's loss
    model = models.build("airbench_cpu_s", **TINY)
    model.get_layer("whiten").data_init(x)
    train.compile_model(model, recipe.with_(schedule="constant"), 4)
    xb, yb = data.to_float(x[:64]), np.eye(10, dtype=np.float32)[y[:64]]
    losses = [float(model.train_on_batch(xb, yb)[0]) for _ in range(3)]
    assert losses[2] < losses[0], losses
