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


def test_importing_models_completes_the_registry_and_registers_the_layers():
    import subprocess
    import sys

    # a fresh process: nothing but ``import wic.models`` has run
    code = ("import wic.models as m, keras; "
            "assert {'airbench94_cpu', 'airbench93_cpu', 'airbench_cpu_s', 'seed_v1_3'} "
            "<= set(m.available()), m.available(); "
            "names = ('PatchWhitening', 'ScaledBiasBatchNorm', 'TestTimeAugment', "
            "'TestTimeMerge', 'gelu_tanh', 'gelu_erf'); "
            "missing = [n for n in names if keras.saving.get_registered_object('wic>' + n) "
            "is None]; assert not missing, missing")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


@pytest.mark.parametrize("training", [False, True])
def test_builds_and_outputs_probabilities(keras, training):
    from wic import models

    model = models.build("airbench_cpu_s", **TINY)
    x = np.random.default_rng(0).random((3, 32, 32, 3), dtype=np.float32)
    p = np.asarray(model(x, training=training))
    assert p.shape == (3, 10)
    assert np.allclose(p.sum(1), 1.0, atol=1e-5) and (p >= 0).all()


def _train_step_outputs(model, x, y):
    """Probabilities, gradients and BatchNorm statistics of one training step (graph mode)."""
    import tensorflow as tf

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            p = model(x, training=True)
            loss = tf.reduce_mean(tf.keras.losses.categorical_crossentropy(y, p))
        return p, tape.gradient(loss, model.trainable_weights)

    p, grads = step(tf.constant(x))
    ops_run = {op.type for op in step.get_concrete_function(tf.constant(x)).graph.get_operations()}
    if _xla_compiled_calls(step, tf.constant(x)):
        ops_run.add("XLA-compiled call")
    return (np.asarray(p), [np.asarray(g) for g in grads],
            [np.asarray(v) for v in model.non_trainable_weights], ops_run)


def _relative_error(grads, reference) -> float:
    """All gradients together: ||g - g_ref|| / ||g_ref||."""
    num = sum(float(np.sum((g - r) ** 2)) for g, r in zip(grads, reference))
    return (num / sum(float(np.sum(r ** 2)) for r in reference)) ** 0.5


@pytest.mark.parametrize("policy", ["float32", "mixed_bfloat16"])
def test_fast_kernels_compute_the_same_step_as_keras_ops(keras, monkeypatch, policy):
    """FAST_KERNELS only changes how TensorFlow computes BatchNorm and GELU, not what: a training
    step's probabilities, every gradient and the BatchNorm statistics agree with Keras' own ops
    in float32 (to rounding); in bfloat16 both paths stay within bf16's own error of the float32
    step (measured on this tiny net over 8 seeds: 0.09-0.26 of the gradients' norm for either
    path; a wrong bias, scale or variance gives errors of order 1)."""
    from wic import models
    from wic.models import airbench

    monkeypatch.setattr(airbench, "XLA_GELU", True)  # whatever WIC_XLA_GELU says here
    keras.utils.set_random_seed(0)  # the same weights every run: the check is deterministic
    reference = models.build("airbench_cpu_s", **TINY)  # float32, Keras' ops
    rng = np.random.default_rng(1)
    for layer in reference.layers:  # a bias that matters (it starts at zero)
        if isinstance(layer, airbench.ScaledBiasBatchNorm):
            layer.bias_raw.assign(rng.normal(0, 0.05, layer.bias_raw.shape).astype("float32"))
    start = [np.array(v) for v in reference.weights]
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(policy)
    try:
        model = models.build("airbench_cpu_s", **TINY)
    finally:
        keras.mixed_precision.set_global_policy(previous)
    x = rng.random((32, 32, 32, 3), dtype=np.float32)
    y = np.eye(10, dtype=np.float32)[np.arange(32) % 10]
    monkeypatch.setattr(airbench, "FAST_KERNELS", False)
    p_ref, g_ref, s_ref, _ = _train_step_outputs(reference, x, y)
    outs = {}
    for fast in (False, True):
        monkeypatch.setattr(airbench, "FAST_KERNELS", fast)
        for v, w in zip(model.weights, start):
            v.assign(w)
        outs[fast] = _train_step_outputs(model, x, y)
    (p0, g0, s0, ops0), (p1, g1, s1, ops1) = outs[False], outs[True]
    # the switch really changes the graph: the fused op (and its gradient) only when on, and
    # GELU's XLA-compiled loops only when on in bfloat16
    assert "FusedBatchNormV3" in ops1 and "FusedBatchNormV3" not in ops0
    assert "XLA-compiled call" not in ops0
    assert ("XLA-compiled call" in ops1) == (policy == "mixed_bfloat16")
    assert len(g0) == len(g1) == len(model.trainable_weights)
    assert not np.array_equal(s1[-1], start[-1]), "the moving statistics were not updated"
    if policy == "float32":
        np.testing.assert_allclose(p1, p0, atol=1e-5)
        # float32 sums in another order: measured up to 1.2e-4 of a gradient's largest entry
        # (in a full test run)
        for a, b in zip(g0, g1):
            assert np.abs(a - b).max() <= 1e-3 * (np.abs(a).max() + 1e-6)
        for a, b in zip(s0, s1):
            np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5)
    else:
        for p, g, s in ((p0, g0, s0), (p1, g1, s1)):
            assert np.abs(p - p_ref).max() < 0.02
            assert _relative_error(g, g_ref) < 0.35
            for a, b in zip(s, s_ref):
                np.testing.assert_allclose(a, b, rtol=0.05, atol=0.01)


@pytest.mark.parametrize("xla", [True, False])
def test_gelu_erf_is_keras_exact_gelu_with_the_same_gradient(keras, monkeypatch, xla):
    import tensorflow as tf

    from wic.models import airbench

    monkeypatch.setattr(airbench, "XLA_GELU", xla)
    assert airbench.fast_kernels() and airbench.xla_gelu() is xla  # the fast paths first
    x = tf.constant(np.linspace(-6, 6, 241, dtype=np.float32))
    for dtype in (tf.float32, tf.bfloat16):
        xd = tf.cast(x, dtype)
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(xd)
            ref = keras.activations.gelu(tf.cast(xd, tf.float32), approximate=False)
            fast = airbench.gelu_erf(xd)
        assert fast.dtype == dtype
        # float32: to rounding; bfloat16: within one unit of bf16's last place (2^-7 relative)
        tol = 1e-6 if dtype == tf.float32 else 2 ** -7
        np.testing.assert_allclose(np.asarray(tf.cast(fast, tf.float32)), np.asarray(ref),
                                   atol=tol, rtol=tol)
        np.testing.assert_allclose(np.asarray(tf.cast(tape.gradient(fast, xd), tf.float32)),
                                   np.asarray(tape.gradient(ref, xd)), atol=tol, rtol=tol)
    monkeypatch.setattr(airbench, "FAST_KERNELS", False)
    np.testing.assert_allclose(np.asarray(airbench.gelu_erf(x)),
                               np.asarray(keras.activations.gelu(x, approximate=False)), atol=1e-7)


def test_the_fast_kernels_switch_reads_wic_fast_kernels():
    from wic.models import airbench

    assert airbench.fast_kernels_from_env({}) is True
    assert airbench.fast_kernels_from_env({"WIC_FAST_KERNELS": "0"}) is False
    assert airbench.fast_kernels_from_env({"WIC_FAST_KERNELS": " Yes "}) is True
    with pytest.raises(ValueError, match="WIC_FAST_KERNELS.*maybe"):
        airbench.fast_kernels_from_env({"WIC_FAST_KERNELS": "maybe"})
    env = {"WIC_FAST_KERNELS": "1", "WIC_XLA_GELU": "no"}
    assert airbench.fast_kernels_from_env(env, name="WIC_XLA_GELU") is False
    with pytest.raises(ValueError, match="WIC_XLA_GELU.*sometimes"):
        airbench.fast_kernels_from_env({"WIC_XLA_GELU": "sometimes"}, name="WIC_XLA_GELU")


def _xla_compiled_calls(fn, x) -> int:
    """How many calls in ``fn``'s graph XLA must compile (``tf.function(jit_compile=True)``)."""
    def must_compile(op) -> bool:
        try:
            return bool(op.get_attr("_XlaMustCompile"))
        except ValueError:  # the op has no such attribute
            return False

    return sum(must_compile(op) for op in fn.get_concrete_function(x).graph.get_operations())


def test_xla_gelu_compiles_in_training_only(keras, monkeypatch):
    """In bfloat16 a training step runs GELU and its gradient as two XLA-compiled calls; a
    prediction (no gradient tape) runs TensorFlow's ops, so serving and export never compile
    anything; float32, or WIC_XLA_GELU off, compiles nothing in training either."""
    import tensorflow as tf

    from wic.models import airbench

    x = tf.random.normal([4, 5, 5, 3])
    x16 = tf.cast(x, tf.bfloat16)

    def predict(x):
        return airbench.gelu_erf(x)

    def train(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = airbench.gelu_erf(x)
        return tape.gradient(y, x)

    monkeypatch.setattr(airbench, "XLA_GELU", True)
    assert _xla_compiled_calls(tf.function(predict), x16) == 0
    assert _xla_compiled_calls(tf.function(train), x16) == 2  # the value and the gradient
    assert _xla_compiled_calls(tf.function(train), x) == 0  # float32 keeps TensorFlow's ops
    monkeypatch.setattr(airbench, "XLA_GELU", False)
    assert _xla_compiled_calls(tf.function(train), x16) == 0


def test_batchnorm_in_bfloat16_runs_eagerly_too(keras):
    """TF's own FusedBatchNormV3 kernel has no bfloat16; an eager call takes Keras' ops."""
    from wic import models

    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = models.build("airbench_cpu_s", **TINY)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    x = np.random.default_rng(2).random((4, 32, 32, 3), dtype=np.float32)
    for training in (True, False):
        p = np.asarray(model(x, training=training), dtype=np.float32)
        assert p.shape == (4, 10) and np.allclose(p.sum(1), 1.0, atol=1e-2)


def test_full_size_parameter_counts(keras):
    from wic import models

    # airbench94's net: ~2M parameters (1.97M trainable)
    counts = models.parameter_counts(models.build("airbench94_cpu"))
    assert 1.9e6 < counts["total"] < 2.1e6


def test_airbench_module_holds_the_whole_net():
    from wic.models import airbench

    for name in ("PatchWhitening", "ScaledBiasBatchNorm", "TestTimeAugment", "TestTimeMerge",
                 "set_tta", "dirac_init", "patch_matrix", "whitening_kernel", "airbench_cpu"):
        assert callable(getattr(airbench, name)), name
    assert (airbench.BN_MOMENTUM, airbench.BIAS_SCALE, airbench.HEAD_SCALE,
            airbench.TTA_LEVEL) == (0.6, 8.0, 1 / 9, 2)
    assert {k: sum(v) for k, v in airbench.TTA_WEIGHTS.items()} == {0: 1.0, 1: 1.0, 2: 1.0}
    assert len(airbench.CIFAR10_MEAN) == len(airbench.CIFAR10_STD) == 3


def test_dirac_init_makes_the_first_filters_the_identity(keras):
    from wic.models.airbench import dirac_init

    conv = keras.layers.Conv2D(5, 3, padding="same", use_bias=False)
    conv.build((None, 8, 8, 3))
    dirac_init(conv)
    x = np.random.default_rng(4).random((2, 8, 8, 3), dtype=np.float32)
    y = np.asarray(conv(x))
    np.testing.assert_allclose(y[..., :3], x, atol=1e-6)  # the first c_in filters pass x through


def test_whitening_kernel_whitens_patches():
    from wic.models.airbench import patch_matrix, whitening_kernel

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


def test_whitening_statistics_summed_in_blocks_are_those_of_the_whole_patch_matrix():
    from wic.models.airbench import channel_stats, patch_covariance, patch_matrix

    imgs = np.random.default_rng(2).random((50, 8, 8, 3)).astype(np.float32)
    mean, std = channel_stats(imgs, chunk=7)  # 50 images in blocks of 7: a partial last block
    np.testing.assert_allclose(mean, imgs.mean(axis=(0, 1, 2), dtype=np.float64), rtol=1e-12)
    np.testing.assert_allclose(std, imgs.std(axis=(0, 1, 2), dtype=np.float64), rtol=1e-9)
    m, cov = patch_covariance(imgs, 2, mean, std, chunk=7)
    p = patch_matrix(((imgs - mean) / std).astype(np.float32), 2).astype(np.float64)
    np.testing.assert_allclose(m, p.mean(axis=0), atol=1e-12)
    np.testing.assert_allclose(cov, np.cov(p, rowvar=False, bias=True), atol=1e-12)
    assert cov.shape == (12, 12)


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
    from wic import models

    model = models.build("airbench_cpu_s", **TINY)
    model.get_layer("whiten").data_init(_synthetic(40)[0])
    x = np.random.default_rng(2).random((4, 32, 32, 3), dtype=np.float32)
    p = np.asarray(model(x, training=False))
    assert models.save(model, tmp_path / "m.keras") == tmp_path / "m.keras"
    for loaded in (models.load(tmp_path / "m.keras"), keras.models.load_model(tmp_path / "m.keras")):
        assert np.allclose(np.asarray(loaded(x, training=False)), p, atol=1e-5)


def test_tta_mirror_level_is_flip_invariant(keras):
    from wic import models
    from wic.models.airbench import set_tta

    model = models.build("airbench_cpu_s", tta=1, **TINY)
    x = np.random.default_rng(3).random((2, 32, 32, 3), dtype=np.float32)
    p, pf = np.asarray(model(x)), np.asarray(model(x[:, :, ::-1]))
    assert np.allclose(p, pf, atol=1e-5)
    set_tta(model, False)
    assert not np.allclose(np.asarray(model(x)), np.asarray(model(x[:, :, ::-1])), atol=1e-5)


def test_fast_recipe_validates_and_seed_default_is_unchanged():
    from wic import training

    fast = training.recipe_named("fast")
    assert fast is training.FAST and fast.flip == "alternate" and fast.lookahead
    assert training.Recipe.from_dict(fast.to_dict()) == fast  # every field is valid
    assert training.recipe_named("fast94") is training.FAST94
    assert fast.with_(epochs=15) == training.FAST94
    assert sorted(training.RECIPES) == ["fast", "fast94", "seed"]
    assert training.Recipe() == training.SEED
    seed = training.SEED
    assert (seed.flip, seed.translate, seed.lookahead, seed.jit_compile) == ("random", 4, False, False)
    with pytest.raises(ValueError, match="flip"):
        fast.with_(flip="sometimes")
    with pytest.raises(ValueError, match="translate"):
        fast.with_(translate=-1)
    with pytest.raises(ValueError, match="unknown recipe 'fastest'; accepted: fast, fast94, seed"):
        training.recipe_named("fastest")


def test_triangle_schedule_shape():
    from wic import training
    from wic.training import schedules

    r = training.recipe_named("fast").with_(epochs=10)
    sched = schedules.learning_rate_schedule(r, 10)  # 100 steps, peak at 23
    lr = [float(sched(s)) for s in (0, 23, 100)]
    assert np.allclose(lr, [0.2 * r.learning_rate, r.learning_rate, 0.07 * r.learning_rate],
                       rtol=1e-4)
    every = schedules.learning_rates(r, 10)
    assert every.shape == (100,) and np.allclose(every[[0, 23]], lr[:2], rtol=1e-4)
    assert every.argmax() == 23
    assert np.allclose(schedules.learning_rates(training.SEED.with_(epochs=2), 5), 1e-3)


def test_short_training_run_reduces_loss(keras, tmp_path):
    from wic import data, models, training
    from wic.training import trainer

    x, y = _synthetic(256)
    ds = data.Cifar10(x, y, x[:32], y[:32])
    recipe = training.recipe_named("fast").with_(batch_size=64, learning_rate=0.2, epochs=2,
                                                 jit_compile=False)
    res = training.fit("airbench_cpu_s", ds, recipe, run_dir=tmp_path / "run", resume=False,
                    verbose=0, model_kwargs=TINY)
    assert res.epochs_run == 2 and len(res.history["loss"]) == 2

    # two plain steps on one batch lower that batch's loss
    model = models.build("airbench_cpu_s", **TINY)
    model.get_layer("whiten").data_init(x)
    trainer.compile_model(model, recipe.with_(schedule="constant"), 4)
    xb, yb = data.to_float(x[:64]), np.eye(10, dtype=np.float32)[y[:64]]
    losses = [float(model.train_on_batch(xb, yb)[0]) for _ in range(3)]
    assert losses[2] < losses[0], losses
