"""The airbench-style nets, whole: the net, its layers and its data-dependent whitening init.

After Keller Jordan's airbench ("94% on CIFAR-10 in 3.29 seconds", 2024), re-implemented in
Keras for a CPU. Read top to bottom: the net's knobs, then each trick where it is built, then
the builder that stacks them. The training half of the recipe (optimiser, schedule, label
smoothing, lookahead, augmentation) is :mod:`wic.training.recipes`; measured effects of every
ingredient are in ``benchmarks/FAST_RECIPE.md`` and notebook 07.

The net, one line per trick:

- **patch whitening** — the first layer is a frozen 2x2 conv set from the eigenvectors of the
  training images' 2x2-patch covariance (both signs), so the net starts on decorrelated input;
- **a short, wide VGG-like stack** — three blocks conv→maxpool→BN→GELU→conv→BN→GELU, widths
  64/256/256 (``airbench94_cpu``), narrower for speed, or wider in the last two blocks for fewer
  epochs (``airbench94_cpu_wide``); global max pool; linear head x 1/9;
- **identity ("dirac") init** of every 3x3 conv's first filters: an implicit residual;
- **BatchNorm with a fixed scale**, momentum 0.6, and its bias learning 64x faster;
- **test-time augmentation inside the saved model**: mirror + two 1-pixel shifts, logits
  averaged, so the saved model *is* the test-time-augmented classifier.

The custom layers are registered with Keras as ``wic>ClassName`` when this module is imported
(``import wic.models`` does it), which is what ``keras.models.load_model`` needs to read a saved
fast net; the names are the ones the committed models were saved with.
"""

from __future__ import annotations

import contextlib
import math
import os

import numpy as np

from wic import values
from wic.backend import keras, onednn_enabled, tf
from wic.models.registry import INPUT_SHAPE, NUM_CLASSES, register

layers, ops = keras.layers, keras.ops

# ---------------------------------------------------------------------------- the net's knobs
BN_MOMENTUM = 0.6  # airbench's BatchNorm momentum (Keras convention: weight of the old value)
BIAS_SCALE = 8.0  # BN bias stored / 8: plain SGD moves it 8**2 = 64x faster
HEAD_SCALE = 1 / 9  # the linear head's output is scaled down: softer logits at init
TTA_LEVEL = 2  # 0 none, 1 mirror, 2 mirror + two one-pixel shifts (6 views)

# TensorFlow's fast kernels for the element-wise layers (training-mode BatchNorm as one oneDNN
# op, GELU with its gradient written out): the same function, and a training step 1.52x
# (airbench94_cpu) and 1.64x (airbench_cpu_s) faster in bfloat16, 1.07-1.10x in float32, at
# batch 512 on an Intel Xeon with AMX (benchmarks/throughput.py's "fast kernels" stage,
# results/throughput_peak_xeon_amx.csv).
# With AMX the convolutions got so fast that Keras' chain of element-wise ops (each a pass over
# the activations) took most of the step. A switch (``WIC_FAST_KERNELS=0`` in the environment
# turns it off for a whole process), so before and after can be timed in one run; other Keras
# backends always take Keras' ops.
def fast_kernels_from_env(environ=os.environ, name: str = "WIC_FAST_KERNELS") -> bool:
    """``WIC_FAST_KERNELS`` (or ``name``) as a yes/no (unset: yes); any other word is refused
    by name."""
    return values.parse(environ.get(name, "1").strip(), bool, name)


FAST_KERNELS: bool = fast_kernels_from_env()

# Part of the fast kernels: in bfloat16, GELU and its gradient each compiled by XLA into one
# loop over the activations (``tf.function(jit_compile=True)``), instead of TensorFlow's chain of
# casts, erf, exp, multiplies and adds, each a pass over memory. Only the element-wise GELU is
# compiled: the convolutions stay oneDNN's (XLA's own CPU convolutions are slower here) and so
# does BatchNorm (XLA's was slower than oneDNN's fused op in a trial on an AMD EPYC Zen 4). In
# float32 the chain has no casts and the compiled loops were no faster: x0.94-x1.03 of the step
# on the three nets at batch 512 (throughput.py's stage 7 on an AMD EPYC Zen 4, in a run before
# float32 was left out; bfloat16's gain is in results/throughput_peak_zen4.csv), so float32
# keeps TensorFlow's ops. The forward runs compiled only while a gradient tape may record
# (training), so inference, the page and the ONNX export never compile anything.
# ``WIC_XLA_GELU=0`` turns this part off alone, so before and after can be timed in one run.
XLA_GELU: bool = fast_kernels_from_env(name="WIC_XLA_GELU")


def fast_kernels() -> bool:
    """True when the TensorFlow fast paths of :class:`ScaledBiasBatchNorm` and
    :func:`gelu_erf` are used (``FAST_KERNELS`` on and Keras running on TensorFlow)."""
    return FAST_KERNELS and keras.backend.backend() == "tensorflow"


def xla_gelu() -> bool:
    """True when :func:`gelu_erf` runs as XLA-compiled loops (``XLA_GELU`` and the fast
    kernels on)."""
    return XLA_GELU and fast_kernels()


def _fused_bn_supported(dtype) -> bool:
    """TensorFlow's own CPU kernel of FusedBatchNormV3 takes float32 only; bfloat16 runs where
    oneDNN rewrites the op in a graph (``tf.function``, which Keras' fit/predict use)."""
    if dtype == tf.float32:
        return True
    if tf.executing_eagerly():
        return False
    return onednn_enabled()


# per-channel statistics of the CIFAR-10 training images in [0, 1] (for nets without whitening,
# which folds its own normalisation in)
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)

# views of each TTA level and their weights: identity, mirror, then two one-pixel shifts
# (up-left and down-right, reflect-padded), each with its mirror
TTA_WEIGHTS = {
    0: (1.0,),
    1: (0.5, 0.5),
    2: (0.25, 0.25, 0.125, 0.125, 0.125, 0.125),
}


def patch_matrix(images: np.ndarray, k: int) -> np.ndarray:
    """All ``k x k`` patches of float NHWC images as rows, laid out like a conv kernel (kh, kw, c)."""
    n, h, w, c = images.shape
    cols = [images[:, i:h - k + 1 + i, j:w - k + 1 + j, :] for i in range(k) for j in range(k)]
    return np.stack(cols, axis=-2).reshape(-1, k * k * c)


#: images per block when whitening statistics are summed: the whole patch matrix of the 5,000
#: images data_init uses, cast to float64 at once, spent most of a short run's start-up in page
#: faults (measured in the issue 14 note of stop 22)
_STATS_CHUNK = 256


def channel_stats(images: np.ndarray, chunk: int = _STATS_CHUNK) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation of float NHWC images, summed in float64."""
    c = images.shape[-1]
    total, squares, n = np.zeros(c), np.zeros(c), 0
    for s in range(0, len(images), chunk):
        f = np.asarray(images[s:s + chunk]).reshape(-1, c).astype(np.float64)
        total += f.sum(axis=0)
        squares += np.einsum("ij,ij->j", f, f)
        n += len(f)
    mean = total / n
    return mean, np.sqrt(np.maximum(squares / n - mean * mean, 0.0))


def patch_covariance(images: np.ndarray, k: int, mean, std,
                     chunk: int = _STATS_CHUNK) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of the ``k x k`` patches of ``(images - mean) / std`` (rows laid out
    like :func:`patch_matrix`), summed in float64 a block of images at a time."""
    d = k * k * images.shape[-1]
    total, outer, n = np.zeros(d), np.zeros((d, d)), 0
    for s in range(0, len(images), chunk):
        normalised = ((images[s:s + chunk] - mean) / std).astype(np.float32)
        p = patch_matrix(normalised, k).astype(np.float64)
        total += p.sum(axis=0)
        outer += p.T @ p
        n += len(p)
    m = total / n
    return m, outer / n - np.outer(m, m)


def whitening_kernel(images: np.ndarray, k: int = 2, eps: float = 5e-4):
    """Kernel ``(k, k, c, 2*k*k*c)`` and per-filter offset that whiten k x k patches.

    ``images`` are float NHWC in [0, 1]. Patches are normalised per channel (mean/std of
    ``images``); the filters are the eigenvectors of their covariance (largest eigenvalue
    first) divided by ``sqrt(eigenvalue + eps)``, followed by their negatives (so a GELU after
    them loses nothing). Normalisation and centring are folded into kernel and offset:
    ``conv(x, K) + offset`` has mean 0 and covariance ``diag(eig / (eig + eps))`` over the data.
    """
    images = np.asarray(images, dtype=np.float32)
    c = images.shape[-1]
    mean, std = channel_stats(images)
    std = std + 1e-8
    m, cov = patch_covariance(images, k, mean, std)
    eigval, eigvec = np.linalg.eigh(cov)  # ascending
    eigval, eigvec = eigval[::-1], eigvec[:, ::-1]
    filters = eigvec / np.sqrt(np.maximum(eigval, 0.0) + eps)  # (d, d), one filter per column
    filters = np.concatenate([filters, -filters], axis=1)  # (d, 2d)
    std_rep = np.tile(std, k * k)  # the channel of each patch element, (kh, kw, c) order
    flat = filters / std_rep[:, None]  # acts on raw patches
    raw_mean = m * std_rep + np.tile(mean, k * k)
    kernel = flat.reshape(k, k, c, -1)
    offset = -(raw_mean @ flat)  # so every output has mean 0 over the data
    return kernel.astype(np.float32), offset.astype(np.float32)


@keras.saving.register_keras_serializable(package="wic")
class PatchWhitening(keras.layers.Layer):
    """Frozen ``k x k`` 'valid' conv that whitens image patches (+ a trainable bias)."""

    def __init__(self, kernel_size: int = 2, eps: float = 5e-4, **kwargs):
        super().__init__(**kwargs)
        self.kernel_size, self.eps = int(kernel_size), float(eps)

    def build(self, input_shape):
        k, c = self.kernel_size, int(input_shape[-1])
        self.filters = 2 * k * k * c
        # until data_init runs: a random orthogonal-ish kernel (saved weights replace it)
        self.kernel = self.add_weight(name="kernel", shape=(k, k, c, self.filters),
                                      initializer="orthogonal", trainable=False)
        self.offset = self.add_weight(name="offset", shape=(self.filters,), initializer="zeros",
                                      trainable=False)
        self.bias = self.add_weight(name="bias", shape=(self.filters,), initializer="zeros",
                                    trainable=True)

    def call(self, x):
        kernel = ops.cast(self.kernel, x.dtype)
        y = ops.conv(x, kernel, strides=1, padding="valid")
        return y + ops.cast(self.offset + self.bias, x.dtype)

    def compute_output_shape(self, input_shape):
        n, h, w, _ = input_shape
        k = self.kernel_size
        return (n, None if h is None else h - k + 1, None if w is None else w - k + 1,
                2 * k * k * int(input_shape[-1]))

    def data_init(self, images_uint8: np.ndarray, max_images: int = 5000, seed: int = 0) -> None:
        """Set the kernel from (up to ``max_images`` of) the training images (uint8 NHWC)."""
        x = np.asarray(images_uint8)
        if len(x) > max_images:
            x = x[np.random.default_rng(seed).choice(len(x), max_images, replace=False)]
        x = x.astype(np.float32) / (255.0 if x.dtype == np.uint8 else 1.0)
        kernel, offset = whitening_kernel(x, self.kernel_size, self.eps)
        self.kernel.assign(kernel)
        self.offset.assign(offset)

    def get_config(self):
        return {**super().get_config(), "kernel_size": self.kernel_size, "eps": self.eps}


@keras.saving.register_keras_serializable(package="wic")
class ScaledBiasBatchNorm(keras.layers.BatchNormalization):
    """BatchNorm with a fixed unit scale and a bias parametrised as ``bias_scale * b``."""

    def __init__(self, bias_scale: float = 8.0, **kwargs):
        kwargs["center"], kwargs["scale"] = False, False
        super().__init__(**kwargs)
        self.bias_scale = float(bias_scale)

    def build(self, input_shape):
        super().build(input_shape)
        self.bias_raw = self.add_weight(name="bias_raw", shape=(int(input_shape[-1]),),
                                        initializer="zeros", trainable=True)

    def call(self, inputs, training=None, mask=None):
        # training only: inference (a per-channel affine map, cheap) keeps Keras' ops, so a saved
        # model predicts exactly as before, eagerly and in a graph alike
        if (training and self.trainable and mask is None and fast_kernels()
                and len(inputs.shape) == 4 and self.axis in (-1, 3)
                and _fused_bn_supported(inputs.dtype)):
            return self._fused_batch_statistics(inputs)
        y = super().call(inputs, training=training, mask=mask)
        return y + ops.cast(self.bias_scale * self.bias_raw, y.dtype)

    def _fused_batch_statistics(self, x):
        """Training-mode BatchNorm as one oneDNN op (``FusedBatchNormV3``) and its gradient.

        Keras' BatchNormalization is a chain of element-wise ops (moments, subtract, rsqrt,
        multiply, add), each a pass over the activations in float32; the fused op makes one
        pass forward and one backward, in the activations' own dtype (bfloat16 here)."""
        # the op wants float32 statistics and offset (Keras autocasts the bias to bfloat16)
        offset = tf.cast(self.bias_scale * self.bias_raw, tf.float32)
        y, mean, var, *_ = tf.raw_ops.FusedBatchNormV3(
            x=x, scale=tf.ones_like(offset), offset=offset, mean=tf.constant([], tf.float32),
            variance=tf.constant([], tf.float32), epsilon=self.epsilon,
            exponential_avg_factor=1.0, data_format="NHWC", is_training=True)
        # the op reports the unbiased (n - 1) batch variance; Keras tracks the biased one
        n = tf.cast(tf.reduce_prod(tf.shape(x)[:-1]), tf.float32)
        var = var * (n - 1.0) / tf.maximum(n, 1.0)
        m = self.momentum
        self.moving_mean.assign(self.moving_mean * m + mean * (1.0 - m))
        self.moving_variance.assign(self.moving_variance * m + var * (1.0 - m))
        return y

    def get_config(self):
        cfg = super().get_config()
        cfg.pop("center", None)
        cfg.pop("scale", None)
        return {**cfg, "bias_scale": self.bias_scale}


class _TTABase(keras.layers.Layer):
    def __init__(self, level: int = 2, **kwargs):
        super().__init__(**kwargs)
        if int(level) not in TTA_WEIGHTS:
            raise ValueError(f"TTA level must be one of {sorted(TTA_WEIGHTS)}, got {level!r}")
        self.level = int(level)
        self.enabled = True  # benchmarks switch it off for cheap checkpoint evaluations

    def active(self, training) -> bool:
        return bool(self.level) and self.enabled and not training

    def get_config(self):
        return {**super().get_config(), "level": self.level}


@keras.saving.register_keras_serializable(package="wic")
class TestTimeAugment(_TTABase):
    """Inference only: stack the views of each image along the batch axis (views-major)."""

    def call(self, x, training=None):
        if not self.active(training):
            return x
        views = [x, ops.flip(x, axis=2)]
        if self.level >= 2:
            h, w = x.shape[1], x.shape[2]
            padded = ops.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="reflect")
            for shifted in (padded[:, 0:h, 0:w, :], padded[:, 2:h + 2, 2:w + 2, :]):
                views += [shifted, ops.flip(shifted, axis=2)]
        return ops.concatenate(views, axis=0)

    def compute_output_shape(self, input_shape):
        return (None, *input_shape[1:])


@keras.saving.register_keras_serializable(package="wic")
class TestTimeMerge(_TTABase):
    """Inference only: the weighted mean of each image's views (of logits)."""

    def call(self, x, training=None):
        if not self.active(training):
            return x
        weights = TTA_WEIGHTS[self.level]
        v = len(weights)
        x = ops.reshape(x, (v, -1, x.shape[-1]))
        w = ops.reshape(ops.convert_to_tensor(weights, dtype=x.dtype), (v, 1, 1))
        return ops.sum(x * w, axis=0)

    def compute_output_shape(self, input_shape):
        return (None, *input_shape[1:])


def set_tta(model, enabled: bool = True, level: int | None = None) -> None:
    """Switch test-time augmentation of ``model`` on or off, or set its level (0, 1, 2);
    eager calls see it at once. The one way the benchmarks and notebooks change TTA."""
    if level is not None and int(level) not in TTA_WEIGHTS:
        raise ValueError(f"TTA level must be one of {sorted(TTA_WEIGHTS)}, got {level!r}")
    for layer in model.layers:
        if isinstance(layer, _TTABase):
            layer.enabled = bool(enabled)
            if level is not None:
                layer.level = int(level)


def tta_level(model) -> int | None:
    """The model's TTA level, or None when it has no test-time augmentation."""
    levels = [layer.level for layer in model.layers if isinstance(layer, _TTABase)]
    return levels[0] if levels else None


@contextlib.contextmanager
def tta_disabled(model):
    """Inside the block, ``model`` scores each image once, as it is (no test-time augmentation);
    afterwards every TTA layer is switched back to what it was, even if the block failed."""
    layers = [layer for layer in model.layers if isinstance(layer, _TTABase)]
    before = [layer.enabled for layer in layers]
    for layer in layers:
        layer.enabled = False
    try:
        yield model
    finally:
        for layer, enabled in zip(layers, before):
            layer.enabled = enabled


def _cdf(xf):
    """Phi(x), the standard normal CDF, of a float32 tensor."""
    return 0.5 * (1.0 + tf.math.erf(xf * (1.0 / math.sqrt(2.0))))


def _gelu_derivative(xf, cdf, dy, dtype):
    """dy * d/dx x*Phi(x) = dy * (Phi(x) + x*phi(x)), from float32 x and Phi(x), in ``dtype``."""
    pdf = tf.exp(-0.5 * xf * xf) * (1.0 / math.sqrt(2.0 * math.pi))
    return tf.cast(tf.cast(dy, tf.float32) * (cdf + xf * pdf), dtype)


def _gelu_value(x):
    """x * Phi(x), computed in float32, returned in x's dtype."""
    xf = tf.cast(x, tf.float32)
    return tf.cast(xf * _cdf(xf), x.dtype)


def _gelu_gradient(x, dy):
    """GELU's gradient; Phi is computed again rather than kept from the forward pass, so a
    compiled loop reads x and dy only."""
    xf = tf.cast(x, tf.float32)
    return _gelu_derivative(xf, _cdf(xf), dy, x.dtype)


_gelu_value_xla = tf.function(_gelu_value, jit_compile=True)
_gelu_gradient_xla = tf.function(_gelu_gradient, jit_compile=True)


def _tape_may_record() -> bool:
    """Whether a gradient tape is active here (a training step being traced or run)."""
    try:
        from tensorflow.python.eager import record

        return bool(record.could_possibly_record())
    except (ImportError, AttributeError):  # private API: where it is missing, never compile
        return False


@tf.custom_gradient
def _gelu_erf_tf(x):
    xf = tf.cast(x, tf.float32)
    cdf = _cdf(xf)

    def grad(dy):  # Phi kept from the forward pass
        return _gelu_derivative(xf, cdf, dy, x.dtype)

    return tf.cast(xf * cdf, x.dtype), grad


@tf.custom_gradient
def _gelu_erf_xla(x):
    def grad(dy):
        return _gelu_gradient_xla(x, dy)

    return (_gelu_value_xla(x) if _tape_may_record() else _gelu_value(x)), grad


@keras.saving.register_keras_serializable(package="wic")
def gelu_erf(x):
    """GELU, exact: ``x * Phi(x)`` with Phi the normal CDF (erf) — the values of Keras' "gelu".

    With :func:`fast_kernels` on, it is computed in float32 with its gradient written out
    (``Phi(x) + x * phi(x)``: one short op chain) instead of autodiff's chain of the forward's
    ops in bfloat16; with :func:`xla_gelu` too, each of the two is one XLA-compiled loop in
    bfloat16 (in float32 the compiled loops were no faster: see ``XLA_GELU``)."""
    if xla_gelu() and tf.as_dtype(x.dtype) != tf.float32:
        return _gelu_erf_xla(x)
    if fast_kernels():
        return _gelu_erf_tf(x)
    return keras.activations.gelu(x, approximate=False)


@keras.saving.register_keras_serializable(package="wic")
def gelu_tanh(x):
    """GELU with the tanh approximation (cheaper than erf on some CPUs)."""
    return keras.activations.gelu(x, approximate=True)


def dirac_init(conv) -> None:
    """Make the first ``c_in`` filters of a 3x3 conv the identity (an implicit residual)."""
    w = np.array(conv.kernel.numpy())
    kh, kw, cin, cout = w.shape
    n = min(cin, cout)
    w[:, :, :, :n] = 0.0
    w[kh // 2, kw // 2, np.arange(n), np.arange(n)] = 1.0
    conv.kernel.assign(w)


# ---------------------------------------------------------------------------- the builder


@register("airbench94_cpu",
          "airbench94's net in Keras: whitening + 3 conv blocks 64/256/256, TTA in the model",
          widths=(64, 256, 256))
@register("airbench94_cpu_wide",
          "airbench94's net widened in its last two blocks: 64/320/384 (about 1.5x the "
          "multiply-adds), measured for 94% in 8 epochs",
          widths=(64, 320, 384))
@register("airbench93_cpu", "airbench93's narrower net: widths 64/128/128 (half the FLOPs)",
          widths=(64, 128, 128))
@register("airbench_cpu_s",
          "a fast CPU net: widths 32/96/128 (about 1/5 of airbench94's multiply-adds)",
          widths=(32, 96, 128))
@register("airbench_cpu_xs",
          "a narrower fast CPU net: widths 32/64/96, for one-epoch runs (the seed's 78% race)",
          widths=(32, 64, 96))
def airbench_cpu(
    *,
    widths: tuple[int, int, int] = (64, 256, 256),
    whiten: bool = True,
    whiten_kernel: int = 2,
    whiten_eps: float = 5e-4,
    bn_momentum: float = BN_MOMENTUM,
    bn_epsilon: float = 1e-5,
    bias_scale: float = BIAS_SCALE,
    head_scale: float = HEAD_SCALE,
    tta: int = TTA_LEVEL,
    dirac: bool = True,
    gelu_approximate: bool = False,
    name: str | None = None,
):
    """An airbench-style net; input float32 RGB [0, 1] NHWC 32x32, output 10 probabilities.

    ``whiten=False`` (for ablations) replaces the frozen whitening layer by an ordinary
    trainable conv of the same shape on per-channel standardised input, learnt from scratch.
    """
    if len(widths) != 3 or any(int(w) < 1 for w in widths):
        raise ValueError(f"widths must be three positive channel counts, got {widths!r}")
    init = keras.initializers.VarianceScaling(1 / 3, "fan_in", "uniform")  # PyTorch's default
    act = gelu_tanh if gelu_approximate else gelu_erf

    def gelu(i):
        return layers.Activation(act, name=f"gelu_{i}")

    convs = []

    def conv(filters, label):
        c = layers.Conv2D(int(filters), 3, padding="same", use_bias=False,
                          kernel_initializer=init, name=label)
        convs.append(c)
        return c

    def bn(label):
        return ScaledBiasBatchNorm(bias_scale=bias_scale, momentum=bn_momentum,
                                      epsilon=bn_epsilon, name=label)

    inputs = keras.Input(INPUT_SHAPE, name="image")
    x = TestTimeAugment(tta, name="tta_views")(inputs)
    # whitening stays float32 under mixed precision (its filters amplify small components)
    if whiten:
        x = PatchWhitening(whiten_kernel, whiten_eps, name="whiten", dtype="float32")(x)
    else:
        x = layers.Normalization(mean=CIFAR10_MEAN, variance=[s * s for s in CIFAR10_STD],
                                 name="standardise")(x)
        x = layers.Conv2D(2 * whiten_kernel ** 2 * INPUT_SHAPE[-1], whiten_kernel,
                          kernel_initializer=init, name="first_conv")(x)
    x = gelu(0)(x)
    for b, width in enumerate(widths, start=1):
        x = conv(width, f"block{b}_conv1")(x)
        x = layers.MaxPooling2D(2, name=f"block{b}_pool")(x)
        x = bn(f"block{b}_bn1")(x)
        x = gelu(f"{b}a")(x)
        x = conv(width, f"block{b}_conv2")(x)
        x = bn(f"block{b}_bn2")(x)
        x = gelu(f"{b}b")(x)
    x = layers.GlobalMaxPooling2D(name="global_max_pool")(x)
    x = layers.Dense(NUM_CLASSES, use_bias=False, kernel_initializer=init, name="head")(x)
    x = layers.Rescaling(head_scale, name="head_scale")(x)
    x = TestTimeMerge(tta, name="tta_merge")(x)
    outputs = layers.Activation("softmax", dtype="float32", name="probabilities")(x)
    model = keras.Model(inputs, outputs, name=name or f"airbench_cpu_{'_'.join(map(str, widths))}")
    if dirac:
        for c in convs:
            dirac_init(c)
    return model
