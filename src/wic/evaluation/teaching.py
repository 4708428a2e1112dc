"""Teaching figures and small measurements for the course's first notebooks (01-03).

Slide-ready by construction: a colour-blind-safe palette (Okabe & Ito), integer ticks on
integer axes, markers only where something was measured, titles in words, legends off the
data, and PNGs written at a size that stays small. Each function returns a Matplotlib
``Figure`` and, given ``path``, saves it (:func:`wic.evaluation.plots.save`: in a notebook
it is shown exactly once).

Nothing here trains: notebook 03 computes learning rates with :mod:`wic.training` and passes
the arrays in (``evaluation`` never imports ``training``).
"""

from __future__ import annotations

import numpy as np

from wic.evaluation.plots import CLASS_COLOURS, MARKERS, PALETTE, _plt, save

TRAIN, VALIDATION = PALETTE[0], PALETTE[3]  # blue and vermillion, in every figure


def _integer_ticks(ax, axis: str = "x") -> None:
    from matplotlib.ticker import MaxNLocator

    (ax.xaxis if axis == "x" else ax.yaxis).set_major_locator(MaxNLocator(integer=True))


# ----------------------------------------------------------------------- 02: the building blocks


def activations(path=None):
    """ReLU and GELU side by side: what 'the nonlinearity' does to a neuron's input."""
    plt, _ = _plt()
    from math import erf, sqrt

    x = np.linspace(-4, 4, 401)
    relu = np.maximum(x, 0)
    gelu = x * 0.5 * (1 + np.vectorize(erf)(x / sqrt(2)))
    fig, ax = plt.subplots(figsize=(6.5, 4))
    ax.plot(x, relu, color=PALETTE[0], lw=2.5, label="ReLU: max(0, x) (the seed net)")
    ax.plot(x, gelu, color=PALETTE[1], lw=2.5, ls="--", label="GELU: x·Φ(x) (the fast net)")
    ax.axhline(0, color="#888888", lw=0.8)
    ax.axvline(0, color="#888888", lw=0.8)
    ax.set_xlabel("input to the unit")
    ax.set_ylabel("output")
    ax.set_title("Two nonlinearities: negative inputs are (almost) switched off")
    ax.legend(loc="upper left", fontsize=9, frameon=True)
    fig.tight_layout()
    return save(fig, path, dpi=110)


def whitening_filters(kernel: np.ndarray, variances: np.ndarray | None = None, path=None,
                      title: str = "The fast net's first layer: patch-whitening filters"):
    """The whitening layer's filters (``(k, k, 3, 2*k*k*3)``: each direction then its
    negative) as enlarged k x k colour patches, first half only, strongest direction first;
    with ``variances``, the share of patch variance along each direction underneath."""
    plt, _ = _plt()
    k, _, c, n = kernel.shape
    half = kernel[..., : n // 2]  # the second half are the same filters with the sign flipped
    m = half.shape[-1]
    ncols = min(m, 6)
    nrows = int(np.ceil(m / ncols))
    extra = 1 if variances is not None else 0
    fig = plt.figure(figsize=(1.45 * ncols + 0.4, 1.6 * nrows + 2.6 * extra + 0.6))
    grid = fig.add_gridspec(nrows + extra * 2, ncols, hspace=0.55)
    for i in range(m):
        ax = fig.add_subplot(grid[i // ncols, i % ncols])
        f = half[..., i]
        f = f / (2 * np.abs(f).max() + 1e-12) + 0.5  # 0 -> mid grey, sign shown by colour
        ax.imshow(np.clip(f, 0, 1), interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"#{i + 1}", fontsize=9)
    if variances is not None:
        ax = fig.add_subplot(grid[nrows:, :])
        share = 100 * np.asarray(variances[:m], float) / float(np.sum(variances))
        ax.bar(np.arange(1, m + 1), share, color=PALETTE[0])
        ax.set_yscale("log")
        ax.set_xlabel("filter (direction in 2x2-patch space)")
        ax.set_ylabel("% of patch variance")
        ax.set_xticks(np.arange(1, m + 1))
        ax.tick_params(axis="x", labelsize=10)
    fig.suptitle(title, fontsize=12)
    return save(fig, path, dpi=110)


def patch_variances(images_uint8: np.ndarray, k: int = 2) -> np.ndarray:
    """Variance of normalised k x k training patches along each principal direction (largest
    first): what the whitening filters divide out."""
    from wic.models.airbench import channel_stats, patch_covariance

    x = np.asarray(images_uint8, np.float32) / 255.0
    mean, std = channel_stats(x)
    _, cov = patch_covariance(x, k, mean, std + 1e-8)  # the covariance the whitening uses
    return np.linalg.eigvalsh(cov)[::-1]


def softmax_cross_entropy(logits, true_index: int) -> tuple[np.ndarray, float]:
    """Softmax probabilities of one image's logits and the cross-entropy of the true class."""
    z = np.asarray(logits, np.float64)
    p = np.exp(z - z.max())
    p /= p.sum()
    return p, float(-np.log(p[true_index]))


# ----------------------------------------------------------------------- 03: the recipe


def lr_schedule(lrs, steps_per_epoch: int, title: str = "Learning rate over the run", path=None):
    """The learning rate at every step, against epochs (integer ticks), peak marked."""
    plt, _ = _plt()
    lrs = np.asarray(lrs, float)
    epochs = np.arange(len(lrs)) / steps_per_epoch
    fig, ax = plt.subplots(figsize=(7, 3.8))
    ax.plot(epochs, lrs, color=PALETTE[0], lw=2.5)
    peak = int(np.argmax(lrs))
    ax.annotate(f"peak {lrs[peak]:.3g} at step {peak:,}", (epochs[peak], lrs[peak]),
                textcoords="offset points", xytext=(12, -4), fontsize=10)
    ax.set_xlim(0, len(lrs) / steps_per_epoch)
    ax.set_ylim(0, lrs.max() * 1.12)
    _integer_ticks(ax)
    ax.set_xlabel(f"epoch ({steps_per_epoch} steps each)")
    ax.set_ylabel("learning rate")
    ax.set_title(title)
    fig.tight_layout()
    return save(fig, path, dpi=110)


def augmentation_batch(before, after, titles=None, path=None,
                       title: str = "One training batch before and after augmentation"):
    """Top row: images as stored; bottom row: the same images as the network sees them."""
    plt, _ = _plt()
    n = len(before)
    fig, axes = plt.subplots(2, n, figsize=(1.25 * n + 1.3, 3.2))
    for row, images, label in ((0, before, "stored"), (1, after, "augmented")):
        for j in range(n):
            ax = axes[row, j]
            ax.imshow(np.clip(images[j], 0, 1) if images[j].dtype != np.uint8 else images[j],
                      interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0 and titles is not None:
                ax.set_title(titles[j], fontsize=9)
        axes[row, 0].set_ylabel(label, fontsize=10)
    fig.suptitle(title, fontsize=12)
    fig.tight_layout()
    return save(fig, path, dpi=100)


def learning_curves(history: dict, title: str = "Training and validation, epoch by epoch",
                    path=None):
    """Loss and accuracy per epoch for the training batches and the held-out validation
    images; the epoch of the lowest validation loss is marked (after it, the curves part)."""
    plt, _ = _plt()
    loss = np.asarray(history["loss"], float)
    epochs = np.arange(1, len(loss) + 1)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, key, label in ((axes[0], "loss", "cross-entropy loss"),
                           (axes[1], "accuracy", "accuracy")):
        ax.plot(epochs, history[key], marker="o", ms=5, color=TRAIN, lw=2, label="training")
        if f"val_{key}" in history:
            ax.plot(epochs, history[f"val_{key}"], marker="s", ms=5, color=VALIDATION, lw=2,
                    ls="--", label="validation")
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        _integer_ticks(ax)
        ax.set_xlim(0.7, len(epochs) + 0.3)
    if "val_loss" in history and len(epochs) > 1:
        best = int(np.argmin(history["val_loss"])) + 1
        for ax in axes:
            ax.axvline(best, color="#666666", lw=1.2, ls=":",
                       label=f"lowest validation loss (epoch {best})")
    handles, labels = axes[1].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, frameon=False, fontsize=10,
               bbox_to_anchor=(0.5, -0.02))
    fig.suptitle(title, fontsize=12)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    return save(fig, path, dpi=100)


def parting_epoch(history: dict) -> dict:
    """Where training and validation part: the epoch with the lowest validation loss, and the
    train-minus-validation accuracy gap there and at the end (numbers for the prose)."""
    vl = np.asarray(history["val_loss"], float)
    acc, val = np.asarray(history["accuracy"], float), np.asarray(history["val_accuracy"], float)
    best = int(np.argmin(vl))
    return {"best_epoch": best + 1, "epochs": len(vl), "best_val_loss": float(vl[best]),
            "final_val_loss": float(vl[-1]), "gap_at_best": float(acc[best] - val[best]),
            "final_gap": float(acc[-1] - val[-1]), "final_train_accuracy": float(acc[-1]),
            "final_val_accuracy": float(val[-1]), "best_val_accuracy": float(val.max()),
            "train_loss_falls": bool(np.all(np.diff(np.asarray(history["loss"], float)) < 0))}


# ----------------------------------------------------------------------- features, side by side


def feature_model(model):
    """A Keras model from ``model``'s input to the input of its last Dense layer (the classifier
    head), built from the model's own functional graph: works for ``Sequential`` nets (the seed;
    Keras 3 gives them ``inputs`` but no ``input``), functional ones (the fast nets) and both
    after ``keras.models.load_model``."""
    from wic.backend import keras

    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    if not dense:
        raise ValueError(f"model {model.name!r} has no Dense layer to read features before")
    inputs = model.inputs  # a built Sequential or Functional model; `model.input` fails on the former
    if not inputs:
        raise ValueError(f"model {model.name!r} is not built: no input to extract features from")
    return keras.Model(inputs[0] if len(inputs) == 1 else inputs, dense[-1].input,
                       name=f"{model.name}_features")


def penultimate_features(model, images_uint8: np.ndarray, batch: int = 500) -> np.ndarray:
    """The input of the model's last Dense layer (what the classifier reads), one row per image,
    computed without test-time augmentation (:func:`feature_model`)."""
    from wic.models import airbench

    with airbench.tta_disabled(model):
        extractor = feature_model(model)
        out = [np.asarray(extractor(np.asarray(images_uint8[i:i + batch], np.float32) / 255.0,
                                    training=False), np.float32)
               for i in range(0, len(images_uint8), batch)]
    return np.concatenate(out).reshape(len(images_uint8), -1)


def tsne(features: np.ndarray, seed: int = 0, pca_dims: int = 50) -> np.ndarray:
    """A 2-D t-SNE of ``features`` (first reduced to ``pca_dims`` by PCA, the usual recipe)."""
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    f = np.asarray(features, np.float32).reshape(len(features), -1)
    f = (f - f.mean(0)) / (f.std(0) + 1e-6)
    if f.shape[1] > pca_dims:
        f = PCA(pca_dims, random_state=seed).fit_transform(f)
    return TSNE(2, init="pca", perplexity=30, random_state=seed).fit_transform(f)


def neighbour_agreement(embedding_or_features: np.ndarray, y: np.ndarray, k: int = 5) -> float:
    """Share of points whose ``k`` nearest neighbours (Euclidean, leave-one-out) vote their own
    class: how well a space groups the classes, as one number."""
    f = np.asarray(embedding_or_features, np.float32).reshape(len(y), -1)
    sq = (f * f).sum(1)
    d = sq[:, None] + sq[None, :] - 2 * f @ f.T
    np.fill_diagonal(d, np.inf)
    nn = np.argpartition(d, k, axis=1)[:, :k]
    votes = np.stack([np.bincount(row, minlength=int(y.max()) + 1) for row in y[nn]])
    return float((votes.argmax(1) == y).mean())


def embeddings_side_by_side(panels: list[tuple[str, np.ndarray]], y, class_names, title: str,
                            path=None):
    """Several 2-D embeddings of the same images, coloured (and shaped) by class, one legend."""
    plt, _ = _plt()
    fig, axes = plt.subplots(1, len(panels), figsize=(5.6 * len(panels), 5.6))
    axes = np.atleast_1d(axes)
    for ax, (label, emb) in zip(axes, panels):
        for c, name in enumerate(class_names):
            pts = emb[y == c]
            ax.scatter(pts[:, 0], pts[:, 1], s=9, alpha=0.7, color=CLASS_COLOURS[c % 10],
                       marker=MARKERS[c % 10], linewidths=0, label=name)
        ax.set_title(label, fontsize=11)
        ax.set_xticks([])
        ax.set_yticks([])
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(class_names), frameon=False,
               fontsize=9, markerscale=2, bbox_to_anchor=(0.5, -0.01))
    fig.suptitle(title, fontsize=12)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return save(fig, path, dpi=90)


#: The recipe fields a student needs first, each with what it means (notebook 03's table).
RECIPE_FIELDS = {
    "optimizer": "how the weights move (nesterov: SGD with Nesterov momentum)",
    "learning_rate": "peak step size",
    "momentum": "share of the previous velocity kept at each step",
    "schedule": "how the step size changes over the run",
    "weight_decay": "pull of every weight towards 0, per step",
    "label_smoothing": "share of the target spread over all classes",
    "batch_size": "images per step",
    "epochs": "passes over the training images",
    "validation_split": "share of the training images held out",
    "augment": "shift and mirror images on the fly",
    "translate": "largest shift, pixels",
    "flip": "mirroring: random, alternate (every other epoch) or none",
    "lookahead": "average the weights over recent steps late in the run",
    "precision": "number format of the arithmetic",
}


def recipe_table(recipe: dict, fields=None):
    """The recipe fields that matter (``RECIPE_FIELDS``) as a small table: value and meaning."""
    import pandas as pd

    names = list(fields or RECIPE_FIELDS)
    return pd.DataFrame({"value": [recipe[n] for n in names],
                         "what it sets": [RECIPE_FIELDS.get(n, "") for n in names]}, index=names)


# ----------------------------------------------------------------------- thumbnails, kept small


def thumbnail_rows(rows, row_labels, col_titles=None, title: str | None = None, scale: int = 2,
                   path=None, gap: int = 2) -> bytes:
    """Rows of 32x32 images as one mosaic at an integer scale (no resampling blur), row labels
    on the left, optional column titles above; shown once in a notebook and returned as PNG.

    Photos barely compress as PNG (60 CIFAR-10 thumbnails make ~200 KB), so the picture is
    stored with a 256-colour palette: at this size the eye cannot tell, and a grid of a few
    dozen thumbnails stays under 100 KB — small enough to commit (``wic.experiments.nbtools``).
    """
    import io

    from PIL import Image

    plt, _ = _plt()
    rows = [[np.asarray(im) if np.asarray(im).dtype == np.uint8
             else (np.clip(np.asarray(im), 0, 1) * 255).round().astype(np.uint8) for im in row]
            for row in rows]
    h, w = rows[0][0].shape[:2]
    ncols = max(len(r) for r in rows)
    mosaic = np.full((len(rows) * (h + gap) - gap, ncols * (w + gap) - gap, 3), 255, np.uint8)
    for i, row in enumerate(rows):
        for j, im in enumerate(row):
            mosaic[i * (h + gap):i * (h + gap) + h, j * (w + gap):j * (w + gap) + w] = im
    mosaic = np.repeat(np.repeat(mosaic, scale, 0), scale, 1)
    mh, mw = mosaic.shape[:2]
    dpi, left = 100, 10 + 9 * max(len(s) for s in row_labels)
    top = (34 if title else 6) + (34 if col_titles else 0)
    fig = plt.figure(figsize=((mw + left + 8) / dpi, (mh + top + 6) / dpi), dpi=dpi)
    W, H = mw + left + 8, mh + top + 6
    ax = fig.add_axes([left / W, 6 / H, mw / W, mh / H])
    ax.imshow(mosaic, interpolation="none")
    ax.axis("off")
    cell_h, cell_w = (h + gap) * scale, (w + gap) * scale
    for i, label in enumerate(row_labels):
        fig.text((left - 6) / W, (6 + mh - (i + 0.5) * cell_h + gap * scale / 2) / H, label,
                 ha="right", va="center", fontsize=10)
    for j, label in enumerate(col_titles or []):
        fig.text((left + (j + 0.5) * cell_w - gap * scale / 2) / W, (6 + mh + 4) / H, label,
                 ha="center", va="bottom", fontsize=8)
    if title:
        fig.text(0.5, 1 - 18 / H, title, ha="center", va="center", fontsize=11)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    buf.seek(0)
    out = io.BytesIO()
    Image.open(buf).convert("RGB").quantize(256, dither=Image.Dither.NONE).save(
        out, format="PNG", optimize=True)
    png = out.getvalue()
    if path is not None:
        from pathlib import Path

        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_bytes(png)
    if _in_kernel():
        from IPython.display import Image as Shown
        from IPython.display import display

        display(Shown(data=png, format="png"))
    return png


def _in_kernel() -> bool:
    from wic.evaluation.plots import _in_kernel as in_kernel

    return in_kernel()


def class_sample_rows(x, y, num_classes: int = 10, per_class: int = 6, seed: int = 0):
    """``per_class`` random images of each class, one list per class (for :func:`thumbnail_rows`)."""
    rng = np.random.default_rng(seed)
    return [[x[i] for i in rng.choice(np.flatnonzero(y == c), per_class, replace=False)]
            for c in range(num_classes)]
