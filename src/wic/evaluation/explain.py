"""What the model looked at: gradient saliency (SmoothGrad) and Grad-CAM, and an overlay.

Both maps answer "which pixels pushed the score of class *c* up?" in a different way:

- **Saliency** (Simonyan et al. 2013) is the gradient of the class score with respect to the
  input pixels; **SmoothGrad** (Smilkov et al. 2017) averages it over noisy copies of the image,
  which removes most of the speckle. Fine-grained, but noisy.
- **Grad-CAM** (Selvaraju et al. 2017) weights the feature maps of the last convolutional layer
  by the mean gradient of the class score and keeps the positive part. Coarse (the seed model's
  last conv map is 5x5), but it shows *regions*, which is what a class remembers.

The class score is the pre-softmax logit when the model ends in a softmax ``Dense`` layer or a
softmax activation layer (gradients of a probability vanish once the model is confident), else
the log-probability. Every map is returned as float32 in ``[0, 1]`` at the input's height and
width; :func:`overlay` blends one over an image for display.

Works with any Keras 3 model on the TensorFlow backend whose input is NHWC images; the model
is never modified.
"""

from __future__ import annotations

import numpy as np

from wic.backend import keras, tf


def as_batch(image) -> np.ndarray:
    """An image ``(H, W, 3)`` or batch ``(N, H, W, 3)`` as float32 NHWC; uint8 is scaled to [0, 1]."""
    x = np.asarray(image)
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4 or x.shape[-1] != 3:
        raise ValueError(f"expected an RGB image (H, W, 3) or a batch (N, H, W, 3), got shape {x.shape}")
    if x.dtype == np.uint8:
        return x.astype(np.float32) / 255.0
    return x.astype(np.float32)


def _spatial(shape) -> int:
    return int((shape[1] or 0) * (shape[2] or 0))


def last_spatial_layer(model):
    """The layer Grad-CAM looks at: the last layer with a 4-D output.

    Pooling can shrink that output to 1x1 (the seed's ``MaxPooling2D(5)`` does), where a
    "map" has no space left to point at, so the choice is, in order: the last convolution
    with a 4-D output wider than 1x1, else the last layer of any kind with such an output,
    else the last layer with a 4-D output at all.
    """
    four_d = [layer for layer in model.layers if len(_output_shape(layer)) == 4]
    if not four_d:
        raise ValueError(f"model {model.name!r} has no layer with a 4-D (image-like) output")
    wide = [layer for layer in four_d if _spatial(_output_shape(layer)) > 1]
    convs = [layer for layer in wide if "conv" in type(layer).__name__.lower()]
    return (convs or wide or four_d)[-1]


def _output_shape(layer) -> tuple:
    try:
        return tuple(layer.output.shape)
    except (AttributeError, ValueError):  # a layer that was never called symbolically
        return ()


def _logit_head(model):
    """``(features_layer, head)``: where to stop the forward pass and how to get logits from there.

    ``head(h)`` maps the input of the model's last layer to pre-softmax logits, or is None when
    the model has no recognisable softmax at its end (then the log of the output is used).
    """

    last = model.layers[-1]
    act = getattr(last, "activation", None)
    is_softmax = act is keras.activations.softmax or getattr(act, "__name__", "") == "softmax"
    if isinstance(last, keras.layers.Dense) and is_softmax:
        def head(h):
            z = keras.ops.matmul(h, last.kernel)
            return z + last.bias if last.use_bias else z
        return last, head
    if isinstance(last, keras.layers.Softmax) or (isinstance(last, keras.layers.Activation)
                                                 and is_softmax):
        return last, lambda h: h
    return None, None


class Explainer:
    """Saliency and Grad-CAM for one model; build once, call per image (cheap after the first)."""

    def __init__(self, model, layer_name: str | None = None):

        self.model = model
        self.layer = model.get_layer(layer_name) if layer_name else last_spatial_layer(model)
        self._head_layer, self._head = _logit_head(model)
        self._graph = None
        if not isinstance(model, keras.Sequential):
            # One graph from the input to (feature map, what the logits are computed from).
            # (Not for Sequential models: a loaded one is rebuilt several times and
            # ``layer.output`` may belong to a stale copy of the graph; those run layer by layer.)
            end = self._head_layer.input if self._head_layer is not None else model.outputs[0]
            self._graph = keras.Model(model.inputs, [self.layer.output, end],
                                      name=f"{model.name}_explain")

    def _forward(self, x):
        """``(features, last_input)`` for a batch: the feature map and the input of the head."""
        if self._graph is not None:
            inputs = x if len(self.model.inputs) != 1 else [x]
            features, last_input = self._graph(inputs, training=False)
            return features, last_input
        h, features = x, None
        for layer in self.model.layers:
            if layer is self._head_layer:
                break
            h = layer(h, training=False)
            if layer is self.layer:
                features = h
        return features, h

    # -- the class score -------------------------------------------------------------------
    def _score(self, last_input, class_index):

        if self._head is not None:
            logits = self._head(last_input)
        else:
            logits = tf.math.log(tf.clip_by_value(last_input, 1e-12, 1.0))
        return logits, logits[:, class_index]

    def _resolve_class(self, x, class_index):
        if class_index is not None:
            return int(class_index)
        probs = np.asarray(self.model(x, training=False))
        return int(probs[0].argmax())

    # -- maps ------------------------------------------------------------------------------
    def grad_cam(self, image, class_index: int | None = None) -> np.ndarray:
        """Grad-CAM heatmap ``(H, W)`` in [0, 1] for ``class_index`` (default: the predicted class)."""

        x = as_batch(image)[:1]
        class_index = self._resolve_class(x, class_index)
        xt = tf.convert_to_tensor(x)
        with tf.GradientTape() as tape:
            features, last_input = self._forward(xt)
            tape.watch(features)
            _, score = self._score(last_input, class_index)
        grads = tape.gradient(score, features)
        if grads is None:  # the chosen layer does not reach the output
            return np.zeros(x.shape[1:3], np.float32)
        weights = tf.reduce_mean(grads, axis=(1, 2), keepdims=True)  # (1, 1, 1, C)
        cam = tf.nn.relu(tf.reduce_sum(weights * features, axis=-1))[0].numpy()
        return normalise(upsample(cam, x.shape[1:3]))

    def saliency(self, image, class_index: int | None = None, *, samples: int = 16,
                 noise: float = 0.15, seed: int = 0) -> np.ndarray:
        """SmoothGrad saliency ``(H, W)`` in [0, 1]; ``samples=1, noise=0`` is the plain gradient.

        ``noise`` is the standard deviation of the Gaussian noise as a fraction of the image's
        value range; all noisy copies go through the model as one batch.
        """

        x = as_batch(image)[:1]
        class_index = self._resolve_class(x, class_index)
        samples = max(1, int(samples))
        rng = np.random.default_rng(seed)
        span = float(x.max() - x.min()) or 1.0
        batch = np.repeat(x, samples, axis=0)
        if noise > 0 and samples > 1:
            batch = batch + rng.normal(0.0, noise * span, batch.shape).astype(np.float32)
        xt = tf.convert_to_tensor(batch)
        with tf.GradientTape() as tape:
            tape.watch(xt)
            _, last_input = self._forward(xt)
            _, score = self._score(last_input, class_index)
            total = tf.reduce_sum(score)  # samples are independent: one backward pass for all
        grads = tape.gradient(total, xt).numpy()  # (S, H, W, 3)
        sal = np.abs(grads).max(axis=-1).mean(axis=0)
        return normalise(sal, percentile=99.0)


# ----------------------------------------------------------------------------- helpers


def normalise(heatmap: np.ndarray, percentile: float | None = None) -> np.ndarray:
    """Scale a non-negative map to [0, 1] by its max (or a high percentile, clipping above)."""
    h = np.asarray(heatmap, np.float32)
    h = np.where(np.isfinite(h), h, 0.0)
    h = np.maximum(h, 0.0)
    top = float(np.percentile(h, percentile)) if percentile is not None else float(h.max())
    if top <= 0:
        top = float(h.max())
    if top <= 0:
        return np.zeros_like(h, np.float32)
    return np.clip(h / top, 0.0, 1.0).astype(np.float32)


def upsample(heatmap: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of a 2-D map to ``size = (height, width)``."""
    from PIL import Image

    h = np.asarray(heatmap, np.float32)
    height, width = int(size[0]), int(size[1])
    if h.shape == (height, width):
        return h
    img = Image.fromarray(h, mode="F").resize((width, height), Image.BILINEAR)
    return np.asarray(img, np.float32)


def grad_cam(model, image, class_index: int | None = None, layer_name: str | None = None) -> np.ndarray:
    """Grad-CAM heatmap of ``model`` for one image (see :class:`Explainer` to reuse the graph)."""
    return Explainer(model, layer_name).grad_cam(image, class_index)


def saliency(model, image, class_index: int | None = None, **kwargs) -> np.ndarray:
    """SmoothGrad saliency of ``model`` for one image (see :meth:`Explainer.saliency`)."""
    return Explainer(model).saliency(image, class_index, **kwargs)


def colourise(heatmap: np.ndarray, cmap: str = "jet") -> np.ndarray:
    """A [0, 1] map as uint8 RGB through a matplotlib colour map (no pyplot, no figure)."""
    from matplotlib import colormaps

    rgba = colormaps[cmap](np.clip(np.asarray(heatmap, np.float32), 0.0, 1.0))
    return (rgba[..., :3] * 255.0 + 0.5).astype(np.uint8)


def overlay(image, heatmap: np.ndarray, alpha: float = 0.5, cmap: str = "jet",
            size: int | tuple[int, int] | None = None, nearest: bool = False) -> np.ndarray:
    """Blend ``heatmap`` (any resolution, [0, 1]) over ``image`` (uint8 or float RGB) → uint8 RGB.

    ``size`` (an int for a square, or ``(height, width)``) scales the result for display:
    the image is resized with nearest-neighbour when ``nearest`` (to show the pixels the model
    saw) else bilinear; the heatmap always bilinearly. The heat is weighted by its own value,
    so cold regions keep the picture visible.
    """
    from PIL import Image

    img = np.asarray(image)
    if img.dtype != np.uint8:
        img = (np.clip(img.astype(np.float32), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    if img.ndim != 3 or img.shape[-1] != 3:
        raise ValueError(f"overlay needs an RGB image (H, W, 3), got shape {img.shape}")
    if size is not None:
        height, width = (size, size) if isinstance(size, int) else size
        if img.shape[:2] != (height, width):
            resample = Image.NEAREST if nearest else Image.BILINEAR
            img = np.asarray(Image.fromarray(img).resize((width, height), resample))
    heat = upsample(np.clip(np.asarray(heatmap, np.float32), 0.0, 1.0), img.shape[:2])
    colour = colourise(heat, cmap).astype(np.float32)
    weight = (float(alpha) * heat)[..., None]
    out = img.astype(np.float32) * (1.0 - weight) + colour * weight
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)
