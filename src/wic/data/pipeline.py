"""Feeding images to Keras through ``tf.data``: one training pipeline, one evaluation pipeline.

Training (:func:`train_pipeline`) serves every epoch of a run in one pass, each exactly
``len(x) // batch_size`` full batches (fixed shapes), with the same augmentation code for every
recipe: translate by up to ``translate`` pixels (reflect padding) and mirror (``flip``:
``'alternate'`` derandomised as airbench does, ``'random'`` a fresh coin per image and epoch,
``'none'``), and optionally jitter brightness and contrast (``brightness``/``contrast``: each
image gets ``+ U(-b, b)`` and its deviations from its own mean scaled by ``1 + U(-c, c)``,
clipped to [0, 1]; the 2025 airbench record's colour jitter), and blur and add noise (``blur``,
``noise``: a random half of the images blurred with a Gaussian of sigma ``U(0, blur)`` pixels,
and a random half given Gaussian noise of sigma ``U(0, noise)``; the robustness augmentations;
``clean_epochs``: none of these in the last epochs), and optionally serve the first batches as
random crops smaller than the images (``crop``, ``crop_steps``: a net that ends in global
pooling takes any size, and a step on 24x24 crops multiplies-adds about (24/32)² of a whole
one; ``crop_by='resize'`` shrinks the whole image to that size instead of cutting a window).
Everything is stateless and seeded by ``(seed, epoch)``, so a resumed run sees the same
batches. Evaluation (:func:`eval_pipeline`) is batch → float, in order.
"""

from __future__ import annotations

# TensorFlow directly: wic.data imports nothing of ours but config (its callers, wic.training
# and the benchmarks, have already imported TensorFlow quietly through wic.backend)
import numpy as np
import tensorflow as tf

from wic.data.cifar10 import NUM_CLASSES

FLIPS = ("alternate", "random", "none")
#: how a batch is made smaller: a random window (the objects keep their scale and lose their
#: surroundings) or the whole image shrunk (all of it, at a smaller scale)
CROP_BYS = ("window", "resize")


def translate_batch(images, seed_pair, pad: int):
    """Random shifts of up to ``pad`` pixels (reflect padding), per image; stateless."""
    n = tf.shape(images)[0]
    h, w = images.shape[1], images.shape[2]
    padded = tf.pad(images, [[0, 0], [pad, pad], [pad, pad], [0, 0]], mode="REFLECT")
    offsets = tf.random.stateless_uniform([n, 2], seed=seed_pair, minval=0,
                                          maxval=2 * pad + 1, dtype=tf.int32)
    return _windows(padded, offsets, h, w)


def _windows(images, offsets, h: int, w: int):
    """Each image's ``h`` x ``w`` window whose top-left corner is its row of ``offsets``
    (``(n, 2)`` int32: row, column)."""
    rows = offsets[:, 0:1] + tf.range(h)[None, :]  # (n, h)
    cols = offsets[:, 1:2] + tf.range(w)[None, :]  # (n, w)
    images = tf.gather(images, rows, axis=1, batch_dims=1)
    return tf.gather(images, cols, axis=2, batch_dims=1)


def crop_batch(images, seed_pair, size: int):
    """A random ``size`` x ``size`` window of each image (every offset equally likely; the
    objects keep their scale, unlike a resize); stateless."""
    n = tf.shape(images)[0]
    h, w = images.shape[1], images.shape[2]
    u = tf.random.stateless_uniform([n, 2], seed=seed_pair)  # [0, 1): an offset per axis
    offsets = tf.cast(u * tf.constant([h - size + 1, w - size + 1], tf.float32), tf.int32)
    return _windows(images, offsets, size, size)


def shrink_batch(images, size: int):
    """Each whole image shrunk to ``size`` x ``size`` by area averaging (every source pixel
    counts by the area it covers: an average, not a sample); the objects keep all of their
    picture at a smaller scale, unlike a window's."""
    return tf.image.resize(images, (size, size), method="area")


def jitter_batch(images, seed_pair, brightness: float, contrast: float):
    """Per image: deviations from its mean scaled by ``1 + U(-contrast, contrast)``, then
    ``U(-brightness, brightness)`` added; clipped to [0, 1] (still a picture). Stateless."""
    n = tf.shape(images)[0]
    u = tf.random.stateless_uniform([n, 2], seed=seed_pair, minval=-1.0, maxval=1.0)
    scale = (1.0 + contrast * u[:, 0])[:, None, None, None]
    shift = (brightness * u[:, 1])[:, None, None, None]
    mean = tf.reduce_mean(images, axis=[1, 2, 3], keepdims=True)
    return tf.clip_by_value((images - mean) * scale + mean + shift, 0.0, 1.0)


BLUR_RADIUS = 3  # blur kernels are 7 taps wide: enough for sigma <= 1.5 (3 sigma inside)


def blur_batch(images, sigmas):
    """Each image blurred by a separable Gaussian of its own ``sigmas[i]`` pixels (reflect
    borders; sigma 0 leaves it as it is). One depthwise convolution per axis, the batch and
    colour channels folded into the channel axis."""
    n, h, w, c = tf.shape(images)[0], images.shape[1], images.shape[2], images.shape[3]
    taps = tf.range(-BLUR_RADIUS, BLUR_RADIUS + 1, dtype=tf.float32)
    sig = tf.maximum(tf.cast(sigmas, tf.float32), 1e-3)[:, None]
    k = tf.exp(-0.5 * tf.square(taps[None, :] / sig))
    k = k / tf.reduce_sum(k, axis=1, keepdims=True)  # (n, taps)
    k = tf.reshape(tf.repeat(k, c, axis=0), (-1, 2 * BLUR_RADIUS + 1))  # (n*c, taps)
    r = BLUR_RADIUS
    x = tf.pad(images, [[0, 0], [r, r], [r, r], [0, 0]], mode="REFLECT")
    x = tf.reshape(tf.transpose(x, [1, 2, 0, 3]), (1, h + 2 * r, w + 2 * r, n * c))
    kt = tf.transpose(k)  # (taps, n*c)
    x = tf.nn.depthwise_conv2d(x, kt[:, None, :, None], [1, 1, 1, 1], "VALID")  # along rows
    x = tf.nn.depthwise_conv2d(x, kt[None, :, :, None], [1, 1, 1, 1], "VALID")  # along columns
    return tf.transpose(tf.reshape(x, (h, w, n, c)), [2, 0, 1, 3])


def noise_batch(images, seed_pair, sigmas):
    """Gaussian noise of standard deviation ``sigmas[i]`` on image ``i``, clipped to [0, 1]."""
    eps = tf.random.stateless_normal(tf.shape(images), seed=seed_pair)
    return tf.clip_by_value(images + tf.cast(sigmas, tf.float32)[:, None, None, None] * eps,
                            0.0, 1.0)


def _half_the_images(n, seed_pair, top):
    """A strength per image: ``U(0, top)`` for a random half of them, 0 (clean) for the rest,
    so the net keeps seeing clean pictures as often as corrupted ones."""
    u = tf.random.stateless_uniform([n, 2], seed=seed_pair)
    return tf.where(u[:, 0] < 0.5, top * u[:, 1], 0.0)


def train_pipeline(x: np.ndarray, y: np.ndarray, *, batch_size: int, epochs: int,
                   initial_epoch: int = 0, seed: int = 0, flip: str = "alternate",
                   translate: int = 2, brightness: float = 0.0, contrast: float = 0.0,
                   blur: float = 0.0, noise: float = 0.0, clean_epochs: int = 0,
                   clean_noisy_epochs: int = 0, crop: int = 0, crop_steps: int = 0,
                   crop_by: str = "window", one_hot: bool = True, num_classes: int = NUM_CLASSES):
    """All epochs ``initial_epoch..epochs-1`` in one pass; pass ``steps_per_epoch`` to ``fit``.

    Each epoch ``e`` has its own shuffle and translations (seeded by ``(seed, e)``).
    ``flip='alternate'``: every image has a fixed random coin; it is mirrored in even epochs
    when the coin says so and in odd epochs when it does not — each image alternates, and half
    the set is mirrored in every epoch. ``translate=0`` and ``flip='none'`` is no augmentation.
    ``clean_epochs``: the last this many epochs keep translations and flips but drop the
    jitter, blur and noise, so the low-learning-rate end of the run fits clean pictures
    (``clean_noisy_epochs``: the first this many of them keep the noise — the robustness that
    fades fastest).
    ``crop``, ``crop_steps``: the first ``crop_steps`` batches of the run (counted from epoch 0,
    so a resumed run crops the same ones) are random ``crop`` x ``crop`` windows of the
    augmented images (``crop_by='resize'``: the augmented images shrunk to ``crop`` pixels);
    the batches after them are whole images. The batches' spatial shape is then unknown to
    ``tf.data`` (``None``): Keras traces the step once for each size it sees.
    """
    if flip not in FLIPS:
        raise ValueError(f"flip={flip!r}; accepted: {', '.join(FLIPS)}")
    for name, value in (("brightness", brightness), ("contrast", contrast)):
        if not 0.0 <= value < 1.0:
            raise ValueError(f"{name}={value!r}; accepted: a fraction in [0, 1) (0: off)")
    if not 0.0 <= blur <= BLUR_RADIUS / 2:
        raise ValueError(f"blur={blur!r}; accepted: a sigma in pixels, 0..{BLUR_RADIUS / 2} "
                         "(0: off)")
    if not 0.0 <= noise <= 0.5:
        raise ValueError(f"noise={noise!r}; accepted: a sigma 0..0.5 of the [0, 1] range (0: off)")
    if not 0 <= clean_epochs < epochs:
        raise ValueError(f"clean_epochs={clean_epochs!r}; accepted: an integer 0..{epochs - 1} "
                         f"(fewer than the {epochs} epochs; 0: augment every epoch)")
    if not 0 <= clean_noisy_epochs <= clean_epochs:
        raise ValueError(f"clean_noisy_epochs={clean_noisy_epochs!r}; accepted: an integer "
                         f"0..clean_epochs ({clean_epochs})")
    if crop_steps < 0 or (crop_steps and not 0 < crop < min(x.shape[1:3])):
        raise ValueError(f"crop={crop!r} for {crop_steps} steps; accepted: a size in pixels "
                         f"1..{min(x.shape[1:3]) - 1} (smaller than the images) for steps >= 1, "
                         "or 0 steps (off)")
    if crop_by not in CROP_BYS:
        raise ValueError(f"crop_by={crop_by!r}; accepted: {', '.join(CROP_BYS)}")
    n = len(x)
    if len(y) != n:
        raise ValueError(f"{n} images but {len(y)} labels")
    steps = n // batch_size
    if steps < 1:
        raise ValueError(f"{n} images are fewer than one batch of {batch_size}")
    images = tf.constant(np.ascontiguousarray(x))
    labels = tf.constant(np.asarray(y, dtype=np.int32))
    coin = tf.constant(np.random.default_rng([seed, 7]).random(n) < 0.5)

    def epoch_batches(epoch):
        order = tf.argsort(tf.random.stateless_uniform([n], seed=tf.stack([seed, epoch])))
        order = tf.reshape(order[:steps * batch_size], (steps, batch_size))
        return tf.data.Dataset.from_tensor_slices(order).enumerate().map(
            lambda step, idx: (epoch, step, idx))

    def jitter_and_blur(batch, pair):
        if brightness or contrast:
            batch = jitter_batch(batch, pair + 11, brightness, contrast)
        if blur:
            batch = blur_batch(batch, _half_the_images(batch_size, pair + 13, blur))
        return batch

    def add_noise(batch, pair):
        return noise_batch(batch, pair + 19, _half_the_images(batch_size, pair + 17, noise))

    def prepare(epoch, step, idx):
        batch = tf.cast(tf.gather(images, idx), tf.float32) / 255.0
        pair = tf.stack([tf.cast(seed, tf.int64) * 1000 + epoch, step])
        if translate:
            batch = translate_batch(batch, pair, translate)
        if flip == "alternate":  # coin XOR odd epoch
            mirror = tf.not_equal(tf.gather(coin, idx), tf.equal(epoch % 2, 1))
        elif flip == "random":
            mirror = tf.random.stateless_uniform([batch_size], seed=pair + 7) < 0.5
        if flip != "none":
            batch = tf.where(mirror[:, None, None, None], tf.reverse(batch, axis=[2]), batch)
        if brightness or contrast or blur:  # off in the clean last epochs
            batch = tf.cond(epoch < epochs - clean_epochs,
                            lambda: jitter_and_blur(batch, pair), lambda: batch)
        if noise:  # ... and so is the noise, after the first clean_noisy_epochs of them
            batch = tf.cond(epoch < epochs - clean_epochs + clean_noisy_epochs,
                            lambda: add_noise(batch, pair), lambda: batch)
        if crop_steps:
            first = tf.cast(epoch, tf.int64) * steps + tf.cast(step, tf.int64) < crop_steps
            small = ((lambda: shrink_batch(batch, crop)) if crop_by == "resize"
                     else (lambda: crop_batch(batch, pair + 23, crop)))
            batch = tf.cond(first, small, lambda: batch)
        lab = tf.gather(labels, idx)
        if one_hot:
            lab = tf.one_hot(lab, num_classes)
        return batch, lab

    ds = tf.data.Dataset.range(initial_epoch, epochs).flat_map(epoch_batches)
    return _fixed_parallelism(ds.map(prepare, num_parallel_calls=2).prefetch(2))


def eval_pipeline(x: np.ndarray, y: np.ndarray | None = None, *, batch_size: int = 500,
                  one_hot: bool = True, num_classes: int = NUM_CLASSES):
    """Batches of float images in order (with one-hot labels when ``y`` is given)."""
    if y is not None and len(x) != len(y):
        raise ValueError(f"{len(x)} images but {len(y)} labels")
    parts = x if y is None else (x, np.asarray(y, dtype=np.int32))
    ds = tf.data.Dataset.from_tensor_slices(parts).batch(batch_size)

    def prepare(*batch):
        images = tf.cast(batch[0], tf.float32) / 255.0
        if y is None:
            return images
        labels = tf.one_hot(batch[1], num_classes) if one_hot else batch[1]
        return images, labels

    return _fixed_parallelism(ds.map(prepare, num_parallel_calls=2).prefetch(2))


def _fixed_parallelism(ds):
    # Fixed parallelism and tf.data's autotuning off, for both pipelines: with it on, deleting
    # the iterator at the end of model.fit waited for the autotuning thread — fit returned
    # 35-40 s after its last step with the full training set (py-spy: ~IteratorResource ->
    # ~LogicalThreadWrapper), 0.0 s without. Batches are prepared far faster than these nets
    # train, so two parallel calls and two prefetched batches lose nothing.
    options = tf.data.Options()
    options.autotune.enabled = False
    return ds.with_options(options)
