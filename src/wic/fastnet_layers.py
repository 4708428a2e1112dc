"""The custom Keras layers of the fast nets in :mod:`wic.fastnet` (this module imports Keras).

Each layer is registered as ``wic>ClassName`` so ``keras.models.load_model`` rebuilds a saved
fast net once this module has been imported — :func:`wic.fastnet.register_layers` does that.

- :class:`PatchWhitening` — a frozen 2x2 conv whose filters are the eigenvectors of the
  training images' patch covariance scaled by ``1/sqrt(eigenvalue + eps)`` (both signs), with
  the per-channel normalisation folded in; set from data by :meth:`PatchWhitening.data_init`.
- :class:`ScaledBiasBatchNorm` — batch norm without a trained scale; its bias is stored
  divided by ``bias_scale`` so plain SGD moves it ``bias_scale**2`` times faster (airbench's
  64x BatchNorm-bias learning rate, without per-variable learning rates).
- :class:`TestTimeAugment` / :class:`TestTimeMerge` — identity while training; at inference
  they expand a batch into mirrored / shifted views and average the views' logits, so the
  saved model *is* the test-time-augmented classifier.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

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
    mean = images.mean(axis=(0, 1, 2), dtype=np.float64)
    std = images.std(axis=(0, 1, 2), dtype=np.float64) + 1e-8
    p = patch_matrix(((images - mean) / std).astype(np.float32), k)  # normalised patches
    m = p.mean(axis=0, dtype=np.float64)
    cov = (p.T.astype(np.float64) @ p.astype(np.float64)) / len(p) - np.outer(m, m)
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
        y = super().call(inputs, training=training, mask=mask)
        return y + ops.cast(self.bias_scale * self.bias_raw, y.dtype)

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


def set_tta(model, enabled: bool) -> None:
    """Switch test-time augmentation of ``model`` on or off (eager calls see it at once)."""
    for layer in model.layers:
        if isinstance(layer, _TTABase):
            layer.enabled = bool(enabled)


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
