"""Figures: training curves, confusion matrix, samples, calibration, robustness, sweeps.

Each function returns a Matplotlib ``Figure`` (notebooks display it) and, given ``path``,
saves it as a PNG at 150 dpi (fewer where the file would pass :data:`MAX_BYTES`). Styling is
shared so every figure reads well on a slide:

- one colour-blind-safe palette (Okabe & Ito's eight colours, :data:`PALETTE`);
- integer ticks on integer axes (epochs, severities), markers on measured points only;
- axes that show the effect: a zoomed dot plot (:func:`dots`) where bars from zero would hide
  a one-point difference;
- text at least :data:`MIN_TEXT_PX` pixels high when the saved PNG is shown 850 px wide (the
  rendered course's output column in a 1024-px window)
  (``tests/test_plots.py`` checks every function here);
- axis labels that say which split a series was measured on.
"""

from __future__ import annotations

import os
import re
import textwrap
from pathlib import Path

import numpy as np

from wic.evaluation.metrics import (
    CLEAN_TARGET,
    CORRUPTED_TARGET,
    ROBUST_RECIPE_FIELDS,
    TIME_TO_ACCURACY_TARGETS,
    TIME_TO_ACCURACY_THRESHOLDS,
    robust_repeats,
)

#: Okabe & Ito's colour-blind-safe palette (blue, orange, bluish green, vermillion, reddish
#: purple, sky blue, yellow, black): every series colour in the project's figures.
PALETTE = ("#0072b2", "#e69f00", "#009e73", "#d55e00", "#cc79a7", "#56b4e9", "#f0e442", "#000000")
GREY = "#999999"
#: The colours of recipes' means over seeds (robustness_tradeoff), apart from its models' colours.
SEED_MEANS = (PALETTE[3], PALETTE[4], PALETTE[7])
#: The palette without its yellow, for markers and thin lines on white (yellow is for fills).
SERIES = tuple(c for c in PALETTE if c != "#f0e442")
#: Ten distinguishable colours for the ten classes: the palette, then grey and a brown. Class
#: plots also vary the marker (:data:`MARKERS`), so no class relies on colour alone.
CLASS_COLOURS = PALETTE + (GREY, "#8c510a")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")
#: Smallest text height (pixels) when a figure is shown :data:`SHOWN_PX` wide: the output
#: column of the rendered course in a 1024-px window (a slide shows it larger).
MIN_TEXT_PX = 10
SHOWN_PX = 850
#: The most a saved figure may weigh (``tests/test_plots.py`` checks the committed ones): the
#: rendered course loads dozens of them. :func:`save` keeps a figure under it.
MAX_BYTES = 200_000


def _plt():
    import matplotlib

    if not _in_kernel():
        matplotlib.use("Agg")  # scripts, the CLI and tests only write files
    import matplotlib.pyplot as plt
    import seaborn as sns

    sns.set_theme(context="talk", style="whitegrid", font_scale=0.75, palette=list(PALETTE))
    return plt, sns


def integer_ticks(axis) -> None:
    """Only whole numbers on ``axis`` (``ax.xaxis``): no "epoch 1.25" or "severity 2.5"."""
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))


def text_px_at(fig, width_px: int = SHOWN_PX) -> list[tuple[str, float]]:
    """Every visible text of ``fig`` with its height in pixels when the saved (tight) PNG is
    shown ``width_px`` wide: how a figure reads on a slide or in the rendered course."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    width_in = fig.get_tightbbox(renderer).width
    out = []
    for t in fig.findobj(lambda a: hasattr(a, "get_fontsize") and hasattr(a, "get_text")):
        if t.get_visible() and t.get_text().strip() and t.get_figure() is fig:
            out.append((t.get_text(), t.get_fontsize() / 72 * width_px / width_in))
    return out


def _spread(points: list[tuple[float, float]], gap: float, near: float) -> list[float]:
    """Heights for labels at ``points`` (x, y), in the same order: from the highest down, a
    label moves down until it is at least ``gap`` below every higher label less than ``near``
    away in x, so end labels never overlap each other and never climb out of the axes (labels
    far apart in x keep their own height)."""
    order = sorted(range(len(points)), key=lambda i: -points[i][1])
    placed: dict[int, float] = {}
    for i in order:
        x, y = points[i]
        for j in sorted(placed, key=placed.get, reverse=True):
            if abs(points[j][0] - x) < near and y > placed[j] - gap:
                y = placed[j] - gap
        placed[i] = y
    return [placed[i] for i in range(len(points))]


def save(fig, path: str | Path | None, dpi: int = 150):
    """Write ``fig`` to ``path`` (if given); in a notebook, show it exactly once and close it.

    Showing explicitly (instead of leaving open figures to the inline backend's end-of-cell
    flush) makes the output the same under JupyterLab, papermill and nbval — nbval's kernel
    flushed the first figure of a notebook twice.
    """
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_png(fig, path, dpi)
    if _in_kernel():
        import matplotlib.pyplot as plt
        from IPython.display import display

        display(fig)
        plt.close(fig)
    return fig


def _write_png(fig, path: Path, dpi: int) -> None:
    """Save ``fig`` at ``dpi``, kept under :data:`MAX_BYTES`: a file over it is written again
    without its alpha channel (lossless, the figures are opaque), then at a tenth fewer dots per
    inch until it fits (72 at the least; the committed-figures test names a file still over)."""
    from PIL import Image

    while True:
        fig.savefig(path, dpi=dpi, bbox_inches="tight")
        if path.stat().st_size <= MAX_BYTES:
            return
        with Image.open(path) as im:
            im.load()
        if im.mode == "RGBA" and im.getextrema()[3][0] == 255:
            im.convert("RGB").save(path, optimize=True)
            if path.stat().st_size <= MAX_BYTES:
                return
        if dpi <= 72:
            return
        dpi = max(72, int(dpi * 0.9))


def _in_kernel() -> bool:
    try:
        import IPython
    except ImportError:
        return False
    shell = IPython.get_ipython()
    return shell is not None and hasattr(shell, "kernel")


def training_curves(history: dict, title: str = "Training curves", path=None):
    """Loss and accuracy per epoch, train vs validation (the seed's ``loss_acc.png``)."""
    plt, _ = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    epochs = np.arange(1, len(history.get("loss", [])) + 1)
    for ax, key, label in ((axes[0], "loss", "cross-entropy loss"),
                           (axes[1], "accuracy", "accuracy")):
        if key in history:
            ax.plot(epochs, history[key], marker="o", ms=3, label="train")
        if f"val_{key}" in history:
            ax.plot(epochs, history[f"val_{key}"], marker="o", ms=3, label="validation")
        ax.set_xlabel("epoch")
        integer_ticks(ax.xaxis)
        ax.set_ylabel(label)
        ax.legend()
    if "val_accuracy" in history and history["val_accuracy"]:
        best = int(np.argmax(history["val_accuracy"]))
        axes[1].annotate(f"best {history['val_accuracy'][best]:.3f}",
                         (best + 1, history["val_accuracy"][best]),
                         textcoords="offset points", xytext=(-40, -25),
                         arrowprops={"arrowstyle": "->"})
    fig.suptitle(title)
    fig.tight_layout()
    return save(fig, path)


def confusion_matrix(cm: np.ndarray, class_names, title: str = "Confusion matrix (test set)",
                     path=None):
    """Where the mistakes go: rows = true class, each cell the % of that class predicted as the
    column. The diagonal (right answers) is grey with its recall written in, so the errors get
    the whole colour scale and stay readable beside it."""
    plt, sns = _plt()
    cm = np.asarray(cm, dtype=float)
    pct = 100 * cm / np.maximum(cm.sum(1, keepdims=True), 1)
    off = pct.copy()
    np.fill_diagonal(off, np.nan)
    fig, ax = plt.subplots(figsize=(8.5, 7))
    sns.heatmap(off, annot=True, fmt=".1f", cmap="Reds", vmin=0,
                vmax=max(1.0, float(np.nanmax(off))), xticklabels=class_names,
                yticklabels=class_names, ax=ax, annot_kws={"fontsize": 8},
                cbar_kws={"label": "% of the true class predicted as this column"},
                linewidths=0.5, linecolor="white")
    for i in range(len(cm)):
        ax.add_patch(plt.Rectangle((i, i), 1, 1, color="#dddddd", zorder=2))
        ax.text(i + 0.5, i + 0.5, f"{pct[i, i]:.0f}%", ha="center", va="center", fontsize=8,
                color="#333333", zorder=3)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title + "\n(grey: right answers, % of the class; red: where the errors go)",
                 fontsize=11)
    plt.setp(ax.get_xticklabels(), rotation=45, ha="right")
    fig.tight_layout()
    return save(fig, path)


def image_grid(images, titles=None, ncols: int = 10, title: str | None = None, path=None,
               cell: float = 1.2, title_colors=None):
    plt, _ = _plt()
    n = len(images)
    nrows = max(1, int(np.ceil(n / ncols)))
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * cell, nrows * (cell + 0.25)))
    axes = np.atleast_1d(axes).ravel()
    for i, ax in enumerate(axes):
        ax.axis("off")
        if i < n:
            ax.imshow(images[i], interpolation="nearest")
            if titles is not None:
                color = title_colors[i] if title_colors is not None else "black"
                ax.set_title(titles[i], fontsize=9, color=color)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return save(fig, path)


def class_samples(x, y, class_names, per_class: int = 8, seed: int = 0, path=None):
    """A grid with one row per class (``per_class`` random examples each)."""
    plt, _ = _plt()
    rng = np.random.default_rng(seed)
    k = len(class_names)
    fig, axes = plt.subplots(k, per_class, figsize=(per_class * 1.0, k * 1.05))
    for c in range(k):
        idx = rng.choice(np.flatnonzero(y == c), per_class, replace=False)
        for j, i in enumerate(idx):
            ax = axes[c, j]
            ax.imshow(x[i], interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if j == 0:
                ax.set_ylabel(class_names[c], rotation=0, ha="right", va="center", fontsize=10)
    fig.suptitle("CIFAR-10: random training images per class (32x32 px)")
    fig.tight_layout()
    return save(fig, path)


def class_balance(y_train, y_test, class_names, path=None):
    plt, _ = _plt()
    import pandas as pd

    k = len(class_names)
    df = pd.DataFrame({
        "class": list(class_names) * 2,
        "images": np.concatenate([np.bincount(y_train, minlength=k), np.bincount(y_test, minlength=k)]),
        "split": ["train"] * k + ["test"] * k,
    })
    _, sns = _plt()
    fig, ax = plt.subplots(figsize=(10, 4))
    sns.barplot(df, x="class", y="images", hue="split", ax=ax)
    ax.set_title("Images per class")
    ax.set_xlabel("")
    ax.legend(title="split", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    plt.setp(ax.get_xticklabels(), rotation=30, ha="right")
    fig.tight_layout()
    return save(fig, path)


def _reliability_panel(ax, ax_counts, probs, y, label: str, colour: str):
    from wic.evaluation.calibration import calibration_bins, expected_calibration_error

    edges, conf, acc, counts = calibration_bins(probs, y)
    centers = (edges[:-1] + edges[1:]) / 2
    width = edges[1] - edges[0]
    mask = counts > 0
    ax.bar(centers[mask], acc[mask], width=width * 0.95, color=colour, alpha=0.85,
           label="accuracy in bin")
    # the gap between accuracy and mean confidence, hatched so it reads the same whether the
    # model is over-confident (gap above the bar) or under-confident (gap inside the bar)
    low, high = np.minimum(acc, conf), np.maximum(acc, conf)
    ax.bar(centers[mask], (high - low)[mask], bottom=low[mask], width=width * 0.95,
           fill=False, hatch="///", edgecolor="#d55e00", lw=0.8, label="gap to mean confidence")
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="perfect calibration")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy")
    ax.set_title(f"{label}\nECE = {expected_calibration_error(probs, y):.3f}", fontsize=11)
    ax.legend(loc="upper left", fontsize=9)
    ax_counts.bar(centers[mask], counts[mask], width=width * 0.95, color=GREY)
    ax_counts.set_yscale("log")
    ax_counts.set_xlim(0, 1)
    ax_counts.set_xlabel("confidence (largest probability)")
    ax_counts.set_ylabel("images")
    for x_, n in zip(centers[mask], counts[mask]):
        ax_counts.text(x_, n, f"{n:,}", ha="center", va="bottom", fontsize=9, rotation=90)


def reliability_diagram(probs, y, title: str = "Reliability diagram", path=None):
    """Accuracy against confidence in 15 bins, the gap hatched, bin counts underneath."""
    plt, _ = _plt()
    fig, (ax, axc) = plt.subplots(2, 1, figsize=(5.5, 6.5), height_ratios=(3, 1), sharex=True)
    _reliability_panel(ax, axc, probs, y, title, "#0072b2")
    fig.tight_layout()
    return save(fig, path)


def reliability_before_after(probs_before, probs_after, y, temperature: float,
                             title: str = "Calibration", path=None):
    """Two reliability diagrams side by side: raw, and after temperature scaling."""
    plt, _ = _plt()
    fig, axes = plt.subplots(2, 2, figsize=(10, 6.5), height_ratios=(3, 1), sharex=True,
                             sharey="row")
    _reliability_panel(axes[0, 0], axes[1, 0], probs_before, y, "as trained", "#56b4e9")
    _reliability_panel(axes[0, 1], axes[1, 1], probs_after, y,
                       f"after temperature scaling (T = {temperature:.2f})", "#0072b2")
    fig.suptitle(title, fontsize=12)
    fig.tight_layout()
    return save(fig, path)


def robustness_heatmap(rows: list[dict], clean_accuracy: float | None = None,
                       title: str = "Accuracy under CIFAR-10-C corruptions (regenerated)", path=None):
    """One cell per measured (corruption, severity): test accuracy in %, corruptions grouped
    by family, the clean accuracy and the mean in the title. Only measured cells are drawn."""
    plt, sns = _plt()
    import pandas as pd

    df = pd.DataFrame(rows)
    order = list(dict.fromkeys(df.sort_values("family", kind="stable").corruption))
    table = (100 * df.pivot(index="corruption", columns="severity", values="accuracy")).reindex(order)
    fig, ax = plt.subplots(figsize=(7.5, 0.42 * len(table) + 1.6))
    sns.heatmap(table, annot=True, fmt=".0f", cmap="viridis", vmin=0, vmax=100, ax=ax,
                cbar_kws={"label": "test accuracy, %"}, linewidths=0.5, linecolor="white")
    families = df.drop_duplicates("corruption").set_index("corruption").family.reindex(order)
    ax.set_yticklabels([f"{c.replace('_', ' ')} ({families[c]})" for c in table.index], rotation=0)
    ax.set_xlabel("severity (1 = mild … 5 = strong)")
    ax.set_ylabel("")
    mean = 100 * df.accuracy.mean()
    clean = f"clean {100 * clean_accuracy:.1f}% · " if clean_accuracy is not None else ""
    ax.set_title(f"{title}\n{clean}mean over {len(df)} sets {mean:.1f}% "
                 f"({int(df.n.iloc[0]):,} images each)", fontsize=11)
    fig.tight_layout()
    return save(fig, path)


def pca_scatter(embedding, y, class_names, explained=None, title="PCA of raw pixels", path=None,
                max_per_class: int = 200, seed: int = 0):
    """A 2-D embedding coloured by class; at most ``max_per_class`` points each are drawn
    (the figure stays readable and small: thousands of translucent dots make a noisy,
    megabyte-sized PNG that shows nothing more)."""
    plt, sns = _plt()
    fig, ax = plt.subplots(figsize=(8, 6.5))
    palette = sns.color_palette("tab10", len(class_names))
    rng = np.random.default_rng(seed)
    shown = 0
    for c, name in enumerate(class_names):
        pts = embedding[y == c]
        if len(pts) > max_per_class:
            pts = pts[rng.choice(len(pts), max_per_class, replace=False)]
        shown += len(pts)
        ax.scatter(pts[:, 0], pts[:, 1], s=7, alpha=0.55, color=palette[c], label=name,
                   linewidths=0)
    if shown < len(embedding):  # say what the dots are: a sample of the embedded images
        title = f"{title}: {shown:,} of them drawn"
    if explained is not None:
        ax.set_xlabel(f"PC 1 ({100 * explained[0]:.1f}% of pixel variance)")
        ax.set_ylabel(f"PC 2 ({100 * explained[1]:.1f}% of pixel variance)")
    ax.set_title(title)
    ax.legend(markerscale=3, fontsize=8, loc="best", ncol=2)
    fig.tight_layout()
    return save(fig, path)


def channel_histograms(x, path=None, title="Pixel intensity per channel (training set)"):
    plt, _ = _plt()
    fig, ax = plt.subplots(figsize=(8, 4))
    for ch, color in enumerate(("red", "green", "blue")):
        counts = np.bincount(x[..., ch].ravel(), minlength=256)
        ax.plot(np.arange(256), counts / counts.sum(), color=color, label=color)
    ax.set_xlabel("pixel value (0-255)")
    ax.set_ylabel("fraction of pixels")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    return save(fig, path)


def bar(labels, values, xlabel="", ylabel="", title="", path=None, fmt="{:.3g}", horizontal=True):
    plt, _ = _plt()
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(labels) + 1.2) if horizontal else (9, 4.5))
    if horizontal:
        bars = ax.barh(labels, values, color=PALETTE[0])
        ax.invert_yaxis()
        ax.set_xlabel(xlabel)
    else:
        bars = ax.bar(labels, values, color=PALETTE[0])
        ax.set_ylabel(ylabel)
        plt.setp(ax.get_xticklabels(), rotation=30, ha="right")
    ax.bar_label(bars, labels=[fmt.format(v) for v in values], padding=3, fontsize=10)
    ax.margins(**({"x": 0.15} if horizontal else {"y": 0.12}))  # room for the value labels
    ax.set_title(title)
    fig.tight_layout()
    return save(fig, path)


def dots(labels, values, xlabel="", title="", path=None, fmt="{:.3g}", note: str | None = None):
    """One dot per label on an axis zoomed to the values, each value written beside its dot.

    For differences of a point or two between large numbers (test-time augmentation's 90.1%
    vs 91.6%): bars from zero would hide them. The axis does not start at zero, and the figure
    says so (``note``, default: "axis zoomed to the values")."""
    plt, _ = _plt()
    values = [float(v) for v in values]
    fig, ax = plt.subplots(figsize=(8, 0.55 * len(labels) + 1.6))
    y = np.arange(len(labels))
    ax.hlines(y, min(values), values, color="0.8", lw=2)
    ax.plot(values, y, "o", ms=10, color=PALETTE[0])
    for v, yy in zip(values, y):
        ax.annotate(fmt.format(v), (v, yy), textcoords="offset points", xytext=(0, 10),
                    ha="center", fontsize=11)
    lo, hi = min(values), max(values)
    pad = max(hi - lo, 1e-9) * 0.35
    ax.set_xlim(lo - pad, hi + pad)
    ax.set_ylim(len(labels) - 0.4, -0.7)
    ax.set_yticks(y, labels)
    ax.set_xlabel(xlabel + f" ({note or 'axis zoomed to the values'})")
    ax.grid(axis="y", visible=False)
    ax.set_title(title)
    fig.tight_layout()
    return save(fig, path)


def time_to_accuracy(rows: list[dict], labels: list[str], path=None, budget_s: float | None = None,
                     targets=TIME_TO_ACCURACY_TARGETS, title: str | None = None,
                     names: dict | None = None):
    """Test accuracy against wall-clock minutes, one line per run (the issue-6 benchmark plot).

    Each ``(accuracy, seconds)`` target is drawn as a shaded corner: a run meets it when its
    line enters the shaded area (at least that accuracy, no later than that time). ``names``
    maps a run's label to the words the legend shows (default: the label and its model). A
    run recorded from a training log (validation accuracy) is dashed, and the y label says
    which series are validation. Repeats of one recipe with other seeds (labels ``X`` and
    ``X_seedN``) share a colour and one legend entry that counts them, the repeats drawn
    lighter. Final accuracies are written at the lines' ends (a recipe's repeats: their mean,
    once), spaced so they never overlap."""
    plt, _ = _plt()
    fig, ax = plt.subplots(figsize=(9, 5.5))
    ends = []
    any_recorded = False
    groups = list(dict.fromkeys(label.split("_seed")[0] for label in labels))
    colours = dict(zip(groups, PALETTE * 2))
    members = {g: [lbl for lbl in labels if lbl.split("_seed")[0] == g] for g in groups}
    finals: dict[str, list[tuple[float, float]]] = {g: [] for g in groups}
    for label in labels:
        group = label.split("_seed")[0]
        colour, repeat = colours[group], members[group].index(label) > 0
        rr = [r for r in rows if r["recipe"] == label]
        xs = [r["elapsed_s"] / 60 for r in rr]
        ys = [100 * r["test_accuracy"] for r in rr]
        recorded = bool(rr) and rr[0]["source"].startswith("recorded")
        any_recorded |= recorded
        note = " (recorded run; validation accuracy)" if recorded else ""
        load = [float(r["load_avg_end"]) for r in rr if r.get("load_avg_end") not in (None, "")]
        load = [v for v in load if v == v]  # NaN from a pandas table is no load
        if load and load[0] >= 3:
            note = f" (machine shared with other jobs: load {load[0]:.1f})"
        model = rr[0].get("model") if rr else None
        if names and label in names:
            name = names[label]
        else:
            name = f"{label} ({model})" if isinstance(model, str) and model else label  # not NaN
        if len(members[group]) > 1:  # one entry for the recipe, counting its runs
            name = re.sub(r", seed \d+$", "", name) + f" ({len(members[group])} runs, other seeds lighter)"
        ax.plot(xs, ys, marker="o", ms=3 if repeat else 4, ls="--" if recorded else "-", color=colour,
                alpha=0.45 if repeat else 1.0, lw=1.2 if repeat else 1.8,
                label="_nolegend_" if repeat else name + note)
        fin = [r for r in rr if str(r["epoch"]) == "final"]
        if fin:
            finals[group].append((fin[0]["elapsed_s"] / 60, 100 * fin[0]["test_accuracy"]))
    for group, ff in finals.items():
        if ff:  # a recipe's repeats: the mean of their final accuracies, written once
            ends.append((max(x for x, _ in ff), sum(y for _, y in ff) / len(ff), colours[group],
                         "" if len(ff) == 1 else f" (mean of {len(ff)})"))
    lowest = min((100 * r["test_accuracy"] for r in rows if r["recipe"] in labels), default=30)
    ax.set_ylim(max(0, min(30, lowest - 5)), 100)
    right = max((r["elapsed_s"] / 60 for r in rows if r["recipe"] in labels), default=1)
    for (acc, secs), colour in zip(targets, (PALETTE[2], PALETTE[4], PALETTE[6])):
        ax.fill_between([0, secs / 60], 100 * acc, 100, color=colour, alpha=0.10, lw=0)
        ax.plot([0, secs / 60, secs / 60], [100 * acc, 100 * acc, 100], color=colour, lw=1,
                ls="-.", label=f"target: ≥ {100 * acc:.0f}% within {secs / 60:.0f} min")
        right = max(right, secs / 60)
    if budget_s:
        ax.axvline(budget_s / 60, color=PALETTE[3], lw=0.8, ls=":",
                   label=f"per-run budget {budget_s / 60:.0f} min")
        right = max(right, budget_s / 60)
    # a "(mean of N)" label is longer: it needs more room on the right, and it collides with
    # end labels further to its right
    means = any(mean for *_, mean in ends)
    ax.set_xlim(0, right * (1.3 if means else 1.12))
    span = 100 - ax.get_ylim()[0]
    near = (0.3 if means else 0.15) * right
    heights = _spread([(x, y) for x, y, *_ in ends], 0.045 * span, near)
    for (x, y, colour, mean), y_text in zip(ends, heights):
        ax.text(x + 0.012 * right, y_text, f"{y:.1f}%{mean}", fontsize=10, color=colour, va="center",
                ha="left", bbox={"fc": "white", "ec": "none", "alpha": 0.8, "pad": 1})
    # the accuracy thresholds, labelled outside the right edge (off the data)
    edge = ax.get_yaxis_transform()
    for t in TIME_TO_ACCURACY_THRESHOLDS:
        ax.axhline(100 * t, color=GREY, lw=0.6, ls=":")
        ax.text(1.01, 100 * t, f"{100 * t:.0f}%", transform=edge, fontsize=10, color="0.4",
                va="center")
    ax.set_xlabel("wall-clock minutes from start (data loading included)")
    ax.set_ylabel("test accuracy, %" + (" (dashed: validation)" if any_recorded else ""))
    ax.set_title(title or "Time to accuracy on this 2-core CPU: fast recipe vs the seed's recipe")
    ax.grid(alpha=0.3)
    handles, texts = ax.get_legend_handles_labels()  # a long run name wraps, not the axes
    ax.legend(handles, [textwrap.fill(t, 64, subsequent_indent="  ") for t in texts],
              loc="lower right", fontsize=9)
    fig.tight_layout()
    return save(fig, path)


def hardware_efficiency(summary: dict, path=None):
    """Two panels from :func:`wic.experiments.results.hardware_summary`: each training step's
    achieved GFLOP/s drawn inside the conv peak of its dtype (the filled part is the share of
    the machine it uses), and images/s with wic's fast kernels off and on (and, where
    ``xla_gelu`` was measured, on without GELU compiled: a third bar between the two)."""
    plt, _ = _plt()
    steps, fast = summary["steps"], summary["fast_kernels"]
    three = bool(fast and summary.get("xla_gelu"))  # a third bar per row: room for its label
    fig, axes = plt.subplots(1, 2 if fast else 1, figsize=(12 if fast else 7, (0.85 if three else 0.6)
                                                           * max(len(steps), len(fast)) + 2.6),
                             squeeze=False)
    ax = axes[0][0]
    labels = [f"{m}\n{dt}" for m, dt, *_ in steps]
    peaks = [summary["conv_peak"].get(dt, 0.0) for _, dt, *_ in steps]
    got = [gf or 0.0 for *_, gf, _ in steps]
    ax.barh(labels, peaks, color="0.88", label="conv peak of that dtype")
    bars = ax.barh(labels, got, color=PALETTE[0], label="training step (3 x forward FLOPs)")
    ax.bar_label(bars, labels=[f"{g:,.0f} GFLOP/s ({g / p:.0%})" if p else f"{g:,.0f}"
                               for g, p in zip(got, peaks)], padding=3, fontsize=11)
    ax.invert_yaxis()
    ax.set_xlabel("GFLOP/s")
    ax.set_title("How much of the machine a training step uses")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=1, fontsize=11, frameon=False)
    if fast:
        ax = axes[0][1]
        y = np.arange(len(fast))
        # where XLA's GELU was measured too: the fast kernels without it, between the two
        no_xla = {(what, dt): off for what, dt, _on, off, _r in summary.get("xla_gelu", [])}
        series = [("Keras' ops", "0.6", [f[3] for f in fast], [f"{f[3]:,.0f}" for f in fast])]
        if no_xla:
            mid = [no_xla.get((f[0], f[1])) for f in fast]
            series.append(("fast kernels, GELU not compiled", PALETTE[1], [v or 0.0 for v in mid],
                           [f"{v:,.0f} (x{v / f[3]:.2f})" if v else "not measured"
                            for v, f in zip(mid, fast)]))
        series.append(("wic's fast kernels" + (" (GELU compiled by XLA)" if no_xla else ""),
                       PALETTE[2], [f[2] for f in fast],
                       [f"{f[2]:,.0f} (x{f[4]:.2f})" for f in fast]))
        h = 0.8 / len(series)
        for j, (label, colour, vals, texts) in enumerate(series):
            bars = ax.barh(y - 0.4 + h * (j + 0.5), vals, height=h, color=colour, label=label)
            ax.bar_label(bars, labels=texts, padding=3, fontsize=11)
        ax.set_yticks(y, [f"{what}\n{dt}" for what, dt, *_ in fast])
        ax.invert_yaxis()
        ax.margins(x=0.3)
        ax.set_xlabel("training images/s (x: against Keras' ops)")
        ax.set_title("BatchNorm fused, GELU's gradient written out"
                     + (", GELU compiled" if no_xla else ""))
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=1, fontsize=11,
                  frameon=False)
    fig.suptitle(summary["cpu"], fontsize=12)
    fig.tight_layout()
    return save(fig, path)


#: step_profile kinds drawn together, in this order, with one colour each: the matrix work
#: first, then the memory-bound work between it
_PROFILE_GROUPS = (
    ("convolutions forward", ("convolution forward", "matmul (head)"), PALETTE[0]),
    ("convolutions backward", ("convolution backward (input)",
                               "convolution backward (weights)"), PALETTE[5]),
    ("BatchNorm and pooling", ("BatchNorm (fused op)", "max pooling"), PALETTE[2]),
    ("GELU compiled by XLA", ("XLA-compiled (GELU)",), PALETTE[4]),
    ("element-wise ops and casts", ("element-wise TensorFlow ops", "casts", "reductions"),
     PALETTE[1]),
    ("optimizer, executor, other", ("optimizer and variables", "executor overhead", "other"),
     GREY),
)


def step_profile(profile: dict, names: dict | None = None, path=None):
    """:func:`wic.experiments.results.step_profile` as one stacked bar per setting: the
    compute-thread ms of a training step by kind of work (matrix work in blues, the
    memory-bound rest in other colours), each bar labelled with its wall time per step."""
    plt, _ = _plt()
    names = names or {}
    settings = profile["settings"]
    per = dict(profile["kinds"])
    fig, ax = plt.subplots(figsize=(11, 0.9 * len(settings) + 2.6))
    y = np.arange(len(settings))
    left = np.zeros(len(settings))
    named = {k for _, kinds, _ in _PROFILE_GROUPS for k in kinds}
    groups = [*_PROFILE_GROUPS[:-1], (*_PROFILE_GROUPS[-1][:1],  # unnamed kinds go to "other"
                                      (*_PROFILE_GROUPS[-1][1], *(set(per) - named)),
                                      _PROFILE_GROUPS[-1][2])]
    for label, kinds, colour in groups:
        ms = np.array([sum(per.get(k, {}).get(s, (0.0, 0.0))[0] for k in kinds)
                       for s in settings])
        if ms.any():
            ax.barh(y, ms, left=left, color=colour, label=label, height=0.6)
            left += ms
    for i, s in enumerate(settings):
        ax.text(left[i], i, f"  wall {profile['wall_ms'][s]:,.0f} ms per step", va="center",
                fontsize=11)
    return _settings_slide(fig, ax, [names.get(s, s) for s in settings], margin=0.25, ncol=3,
                           xlabel="compute-thread ms per training step (two threads: more than "
                                  "the wall time)",
                           title=f"Where one training step's time goes: {profile['model']}, "
                                 f"{profile['policy'].replace('mixed_', '')}, batch "
                                 f"{profile['batch']}" + (
                                     f" (median of {profile['processes']} processes)"
                                     if profile.get("processes", 1) > 1 else ""),
                           cpu=profile["cpu"], path=path)


def _settings_slide(fig, ax, labels, *, margin, ncol, xlabel, title, cpu, path):
    """The common finish of a slide with one horizontal bar per setting of the fast kernels
    (top to bottom in the order given, labelled on the right): axes, legend below, the CPU
    above, saved."""
    ax.set_yticks(np.arange(len(labels)), labels)
    ax.invert_yaxis()
    ax.margins(x=margin)
    ax.grid(False, axis="y")
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=ncol, fontsize=10.5,
              frameon=False)
    fig.suptitle(cpu, fontsize=12)
    fig.tight_layout()
    return save(fig, path)


def whole_run(summary: dict, names: dict | None = None, path=None):
    """:func:`wic.experiments.results.whole_run` as one bar per setting: the median training
    time, then the rest of the run's process (start-up, data, the test score, the card) in
    grey; each repeat's training time as a dot, and each bar labelled with its training time
    over all the fast kernels' — the slide that says how much of a step's gain a run keeps."""
    plt, _ = _plt()
    names = names or {}
    settings = summary["settings"]
    per = summary["per"]
    med = summary["median"]
    train = np.array([med[s]["train_s"] for s in settings])
    rest = np.array([med[s]["process_s"] for s in settings]) - train
    fig, ax = plt.subplots(figsize=(11, 0.9 * len(settings) + 2.6))
    y = np.arange(len(settings))
    ax.barh(y, train, color=PALETTE[0], height=0.6, label="training (median)")
    ax.barh(y, rest, left=train, color="0.85", height=0.6,
            label="the rest of the run: start-up, data, test score with TTA, card")
    for i, s in enumerate(settings):
        ax.plot(per[s]["train_s"], [i] * len(per[s]["train_s"]), "o", color=PALETTE[1],
                markeredgecolor="black", markersize=7, label="one repeat's training" if i == 0
                else None, zorder=3)
        text = f"  training {train[i]:,.0f} s"
        if s in summary["gain"]:  # this setting's training time over all fast kernels'
            text += f", x{summary['gain'][s]:.2f} the time of all fast kernels"
        ax.text(train[i] + rest[i], i, text, va="center", fontsize=11)
    return _settings_slide(fig, ax, [names.get(s, s) for s in settings], margin=0.45, ncol=2,
                           xlabel="seconds (medians of the repeats)",
                           title=f"A whole run of wic train ({summary['run']}), "
                                 f"{summary['repeats']} repeats per setting",
                           cpu=summary["cpu"], path=path)


def hardware_across_cpus(rows: list[dict], goal: float = 0.5, title: str = "", path=None):
    """Rows of :func:`wic.experiments.results.hardware_across`: the same training step's share
    of the conv peak on each CPU (top to bottom from the lowest peak to the highest), one bar
    per CPU and dtype, labelled with the GFLOP/s achieved and the peak, and the ``goal`` as a
    dashed line — the slide that says the faster a CPU's matrix units, the smaller the share
    the same step gets out of them. Where a row has ``pass_share``, a black tick marks the
    share of the three convolution passes' peak too (in brackets in the label): how much of
    the gap is the convolution kernels' own."""
    plt, _ = _plt()
    top = {}  # each CPU's fastest peak: the CPUs from the slowest matrix units to the fastest
    for r in rows:
        top[r["cpu"]] = max(top.get(r["cpu"], 0.0), r["peak"])
    cpus = sorted(top, key=top.get)
    dtypes = list(dict.fromkeys(r["dtype"] for r in rows))
    colours = {dt: SERIES[i % len(SERIES)] for i, dt in enumerate(dtypes)}
    fig, ax = plt.subplots(figsize=(10, 0.75 * len(cpus) * max(len(dtypes), 1) + 2.0))
    h = 0.8 / max(len(dtypes), 1)
    ticked = False  # the legend names the tick once
    for j, dt in enumerate(dtypes):
        mine = {r["cpu"]: r for r in rows if r["dtype"] == dt}
        ys = [i - 0.4 + h * (j + 0.5) for i, c in enumerate(cpus) if c in mine]
        got = [mine[c] for c in cpus if c in mine]
        ax.barh(ys, [100 * r["share"] for r in got], height=h * 0.9, color=colours[dt], label=dt)
        passes = [(y, r) for y, r in zip(ys, got) if r.get("pass_share")]
        if passes:  # the same step against the three passes' peak: a tick on the bar's row
            ax.plot([100 * r["pass_share"] for _, r in passes], [y for y, _ in passes], ls="none",
                    marker="|", markersize=80 * h, mew=3, color="black",
                    label=None if ticked else "share of the three conv passes' peak (in brackets)")
            ticked = True
        for y, r in zip(ys, got):
            ends = 100 * max(r["share"], r.get("pass_share") or 0.0)
            ax.text(ends + 2, y, f"{r['share']:.0%}"
                    + (f" ({r['pass_share']:.0%})" if r.get("pass_share") else "")
                    + f": {r['gflops']:,.0f} of {r['peak']:,.0f} GFLOP/s", va="center",
                    fontsize=11)
        for i, c in enumerate(cpus):  # an empty slot says why it is empty
            if c not in mine:
                ax.text(1, i - 0.4 + h * (j + 0.5), f"{dt}: no step measured at this batch",
                        va="center", fontsize=10.5, color=GREY, style="italic")
    ax.grid(False, axis="y")
    ax.axvline(100 * goal, ls="--", color=GREY, lw=1.2)
    ax.text(100 * goal, len(cpus) - 0.45, f" goal: {goal:.0%}", color=GREY, fontsize=11,
            va="bottom")
    ax.set_yticks(range(len(cpus)), cpus)
    ax.invert_yaxis()
    ax.set_xlim(0, 150)
    ax.set_xticks(range(0, 101, 25))
    ax.set_xlabel("training step's GFLOP/s, % of that CPU's 3x3-conv peak in the same dtype")
    ax.set_title(title or "The same training step on each CPU: how much of the machine it uses")
    handles = sorted(zip(*ax.get_legend_handles_labels()), key=lambda hl: hl[0] in ax.get_lines())
    ax.legend(*zip(*handles), loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=3,
              fontsize=11, frameon=False, markerscale=0.4)  # the bars first, below the axes
    fig.tight_layout()
    return save(fig, path)


def ablation_runs(table, summary, metric: str = "test_accuracy", title: str = "",
                  baseline: str | None = None, xlabel: str | None = None, path=None):
    """An ablation study: every run a dot, mean ± std per variant as a diamond and bar, the
    baseline's mean as a dashed line. ``xlabel`` defaults to the metric's own name, so a
    validation series is never labelled test accuracy."""
    plt, sns = _plt()
    ok = table[table["status"] == "ok"]
    order = list(summary.index)
    fig, ax = plt.subplots(figsize=(9, 0.6 * len(order) + 1.8))
    # seaborn jitters with numpy's global generator: seed it here (and put its state back), so
    # a notebook published twice draws the same dots and its diff holds only what changed
    state = np.random.get_state()
    np.random.seed(0)
    try:
        sns.stripplot(ok, x=metric, y="variant", order=order, ax=ax, size=7, color=PALETTE[0],
                      alpha=0.7, jitter=0.15)
    finally:
        np.random.set_state(state)
    ax.errorbar(summary["mean"], np.arange(len(order)), xerr=summary["std"], fmt="D",
                color="black", capsize=4, label="mean ± std over seeds")
    if baseline in summary.index:
        ax.axvline(summary.loc[baseline, "mean"], color=GREY, ls="--", lw=1,
                   label="baseline mean")
    ax.set_xlabel(xlabel or metric.replace("_", " "))
    ax.set_ylabel("")
    ax.set_title(title)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    fig.legend(*ax.get_legend_handles_labels(), loc="lower center", ncol=2, fontsize=10,
               frameon=False)
    return save(fig, path)


def epoch_study(rows: list[dict], target: float = 0.94, title: str = "", path=None,
                highlight: tuple[str, ...] | None = None):
    """``optimizer_study.csv`` rows of one model and epoch budget, in two panels.

    Left: validation accuracy after each epoch, the mean over seeds of each variant (the held-out
    runs). Right: every run's end — validation (circles) and test (crosses), one row per
    variant, runs on all training images (``validation_split`` 0, test only) in a row of their
    own, and the ``target`` as a dashed line: a teacher can see at a glance whether an
    ingredient's gain is larger than the spread between seeds.

    Colour goes to the variants a reader compares, ``highlight`` (default: every variant with
    several seeds), in both panels (their final runs too, their row names in bold). The others
    are thin grey curves under one legend entry, named on the right in dark grey; a variant
    measured with one seed only is light grey and has no curve on the left: one run has no
    spread to read it against. A study just begun, where no variant has several seeds yet,
    shows each variant's one run instead, coloured and dashed: what it holds so far."""
    plt, _ = _plt()
    groups: dict[tuple[str, bool], list[dict]] = {}
    for r in rows:
        groups.setdefault((r["variant"], float(r.get("validation_split") or 0) > 0), []).append(r)
    seeded = [v for (v, held), runs in groups.items() if held and len(runs) > 1]
    if unknown := [v for v in highlight or () if v not in seeded]:
        raise ValueError(f"cannot highlight {unknown}: not a variant with several held-out seeds "
                         f"({', '.join(seeded)})")
    begun = not seeded  # a study just begun: its one-seed runs are all there is to show
    coloured = seeded or [v for (v, held) in groups if held]
    shown = coloured if highlight is None else highlight
    colours = {v: SERIES[i % len(SERIES)] for i, v in enumerate(v for v in coloured if v in shown)}
    fig, (left, right) = plt.subplots(1, 2, figsize=(11.5, max(0.45 * len(groups) + 3.8, 5.5)),
                                      gridspec_kw={"width_ratios": [1.2, 1]})
    ends, others = [], 0
    for i, ((variant, held), runs) in enumerate(groups.items()):
        label = variant if held else f"{variant}, all images (final)"
        colour = colours.get(variant, "0.35" if variant in seeded else GREY)
        curves = [[float(v) for v in str(r["val_accuracy_per_epoch"]).split()] for r in runs
                  if held and r.get("val_accuracy_per_epoch")]
        if begun and curves and variant in colours:
            left.plot(np.arange(1, len(curves[0]) + 1), 100 * np.array(curves[0]), ls="--",
                      marker=MARKERS[i % len(MARKERS)], color=colour, lw=2, zorder=3,
                      label=f"{label} (one seed: no spread yet)")
        elif len(curves) > 1:
            n = min(len(c) for c in curves)
            mean = 100 * np.mean([c[:n] for c in curves], axis=0)
            if variant in colours:
                left.plot(np.arange(1, n + 1), mean, marker=MARKERS[i % len(MARKERS)], color=colour,
                          lw=2.5, zorder=3, label=f"{label} ({len(curves)} seeds)")
            else:
                others += 1
                left.plot(np.arange(1, n + 1), mean, color=GREY, lw=1, alpha=0.7, zorder=2,
                          label="_other")
        val = [100 * float(r["val_accuracy"]) for r in runs if r.get("val_accuracy")]
        test = [100 * float(r["test_accuracy"]) for r in runs if r.get("test_accuracy")]
        ends.append((label, colour, val, test, variant in colours))
    if others:  # one legend entry for all the grey curves
        left.plot([], [], color=GREY, lw=1,
                  label=f"{others} other variant{'s' if others > 1 else ''} (named on the right)")
    left.axhline(100 * target, ls="--", color=GREY, lw=1)
    left.set_xlabel("epoch")
    left.set_ylabel("validation accuracy, % (held-out training images)")
    lone = any(held and len(runs) == 1 for (_, held), runs in groups.items())
    left.set_title("After each epoch, each variant's one run so far" if begun else
                   "After each epoch, mean over seeds"
                   + ("\n(one-seed variants: right panel only)" if lone else ""))
    integer_ticks(left.xaxis)
    if begun:  # a few rising curves: their lower right corner is empty
        left.legend(fontsize=11.5, loc="lower right")
    elif left.get_legend_handles_labels()[0]:  # below the axes and their label: no curve hidden
        from matplotlib.transforms import offset_copy  # a fixed gap, whatever the figure's height

        left.legend(fontsize=11.5, loc="upper center", bbox_to_anchor=(0.5, 0),
                    bbox_transform=offset_copy(left.transAxes, fig=fig, y=-0.62, units="inches"))
    for y, (_label, colour, val, test, _bold) in enumerate(ends):
        right.plot(val, [y - 0.12] * len(val), "o", ms=9, color=colour, alpha=0.85)
        right.plot(test, [y + 0.12] * len(test), "x", ms=9, mew=2, color=colour)
        for vals, dy in ((val, -0.12), (test, 0.12)):
            if vals:
                right.vlines(np.mean(vals), y + dy - 0.18, y + dy + 0.18, color=colour, lw=2)
    right.axvline(100 * target, ls="--", color=GREY, lw=1)
    right.annotate(f"target {target:.0%}", (100 * target, -0.6), ha="center", fontsize=12,
                   color="0.3")
    right.set_yticks(range(len(ends)), [e[0] for e in ends])
    for tick, end in zip(right.get_yticklabels(), ends):
        tick.set_fontweight("bold" if end[4] else "normal")
    right.set_ylim(len(ends) - 0.5, -0.9)
    right.set_xlabel("accuracy at the end, %: ○ validation, × test, | mean (axis zoomed)")
    right.set_title("Every run's end, one row per variant")
    right.grid(axis="y", visible=False)
    if title:
        fig.suptitle(title, fontsize=12)
    fig.tight_layout()
    return save(fig, path)


def accuracy_against_time(rows: list[dict], title: str = "", path=None,
                          names: dict[str, str] | None = None):
    """Is a cheaper step worth what it costs? ``optimizer_study.csv``'s held-out rows of one
    net: every run as a small point, its training seconds across and its validation accuracy
    up, one colour and marker per variant; each variant's mean per epoch budget as a large
    point, joined by a line and labelled with its epochs (a variant run for one budget only
    says it in the legend). ``names`` gives variants readable legend labels. A variant whose
    line lies above another's at the same seconds buys more accuracy per second than training
    that one for fewer epochs."""
    plt, _ = _plt()
    runs: dict[str, dict[int, list[tuple[float, float]]]] = {}
    for r in rows:
        if float(r.get("validation_split") or 0) > 0 and r.get("val_accuracy") and r.get("train_seconds"):
            runs.setdefault(r["variant"], {}).setdefault(int(r["epochs"]), []).append(
                (float(r["train_seconds"]), 100 * float(r["val_accuracy"])))
    if not runs:
        raise ValueError("no held-out run with its training seconds to draw")
    fig, ax = plt.subplots(figsize=(9, 5.5))
    for i, (variant, budgets) in enumerate(runs.items()):
        colour, marker = SERIES[i % len(SERIES)], MARKERS[i % len(MARKERS)]
        means = []
        for epochs, points in sorted(budgets.items()):
            xs, ys = zip(*points)
            ax.plot(xs, ys, marker, ms=7, color=colour, alpha=0.45, ls="none")
            means.append((float(np.mean(xs)), float(np.mean(ys)), epochs))
        mx, my, eps = zip(*means)
        seeds = sorted({len(p) for p in budgets.values()})
        label = (f"{(names or {}).get(variant, variant)} ({'/'.join(map(str, seeds))} "
                 f"seed{'' if seeds == [1] else 's'}{' each' if len(means) > 1 else ''}"
                 f"{'' if len(means) > 1 else f', {eps[0]} epoch' + ('s' if eps[0] > 1 else '')})")
        ax.plot(mx, my, marker=marker, ms=11, color=colour, lw=2.5, label=label)
        if len(means) > 1:
            for x, y, epochs in means:
                ax.annotate(f"{epochs} epoch{'s' if epochs > 1 else ''}", (x, y),
                            textcoords="offset points", xytext=(8, -22 + 34 * (i % 2)),
                            fontsize=11.5, color=colour)
    ax.set_xlabel("training seconds (one CPU; small points: single runs, large: their mean)")
    ax.set_ylabel("validation accuracy, % (held-out training images)")
    ax.legend(fontsize=11, loc="lower right")
    if title:
        ax.set_title(title, fontsize=12)
    fig.tight_layout()
    return save(fig, path)


def selective_tta(curve: list[dict], runs: list[dict], path=None,
                  title: str = "Test-time augmentation only where the net is unsure"):
    """``benchmarks/selective_tta.py``'s two CSVs in two panels.

    Left: accuracy against the share of images scored again with TTA, from the plain net (0%)
    to full TTA (100%), on the held-out images the threshold was chosen on and on the test set
    (all models together); the chosen threshold is marked on both. Right: each pass's
    evaluation time as a share of full TTA's, a bar for the mean and a dot per model."""
    plt, _ = _plt()
    threshold = float(runs[0]["threshold"])
    at = min(curve, key=lambda r: abs(float(r["threshold"]) - threshold))  # the chosen point
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 5), gridspec_kw={"width_ratios": [1.4, 1]})
    for i, (share, acc, label, ls) in enumerate(
            (("rerun_held_out", "held_out_accuracy", "held-out images (threshold chosen here)", "-"),
             ("rerun_test", "test_accuracy", "test set", "--"))):
        x = [100 * float(r[share]) for r in curve]
        y = [100 * float(r[acc]) for r in curve]
        left.plot(x, y, ls, color=PALETTE[i], lw=2, label=label)
        left.plot(100 * float(at[share]), 100 * float(at[acc]), "o", ms=10, color=PALETTE[i])
        left.axhline(y[-1], ls=":", color=PALETTE[i], lw=1)
    left.annotate(f"threshold {threshold:g}:\n{float(at['rerun_test']):.0%} of test images\nscored again",
                  (100 * float(at["rerun_test"]), 100 * float(at["test_accuracy"])),
                  textcoords="offset points", xytext=(25, -60), fontsize=11,
                  arrowprops={"arrowstyle": "->", "color": "0.4"})
    left.set_xlabel("images scored again with TTA, % (the least sure first)")
    left.set_ylabel("accuracy, % (dotted: full TTA)")
    left.set_title("Accuracy: most of TTA's gain comes from the unsure images")
    left.legend(fontsize=11, loc="lower right")
    passes = (("plain (1 view)", "plain_s"), (f"selective (< {threshold:g})", "selective_s"),
              ("full TTA (6 views)", "full_s"))
    for i, (_label, key) in enumerate(passes):
        shares = [float(r[key]) / float(r["full_s"]) for r in runs]
        mean = float(np.mean(shares))
        right.barh(i, mean, color=PALETTE[i + 2], alpha=0.8)
        right.plot(shares, [i] * len(shares), "o", color="0.2", ms=5, alpha=0.7)
        right.annotate(f"x{mean:.2f}", (mean, i), textcoords="offset points", xytext=(6, 8),
                       fontsize=12)
    right.set_yticks(range(len(passes)), [p[0] for p in passes])
    right.set_ylim(len(passes) - 0.4, -0.6)
    right.set_xlim(0, 1.25)
    right.set_xlabel("evaluation time, × full TTA's (bar: mean; dot: one model)")
    right.set_title(f"Time: {len(runs)} model{'s' if len(runs) > 1 else ''}, same run")
    right.grid(axis="y", visible=False)
    fig.suptitle(title, fontsize=13)
    fig.tight_layout()
    return save(fig, path)


def robustness_by_model(cards: dict[str, dict], path=None,
                        title: str = "What each model keeps under each corruption"):
    """One row per CIFAR-10-C corruption, one marker per model: the accuracy (mean over the 5
    severities) its card records, clean accuracy and the mean in the legend. Reads cards only
    (``wic evaluate --robustness --write-card`` wrote them), so it costs no computation."""
    plt, _ = _plt()
    from wic.evaluation.corruptions import CORRUPTIONS, FAMILIES

    scored = {n: c for n, c in cards.items() if (c.get("robustness") or {}).get("per_corruption")}
    if not scored:
        raise ValueError("no card records a robustness benchmark; run wic evaluate --robustness "
                         "--write-card first")
    order = sorted(CORRUPTIONS, key=lambda c: list(FAMILIES.values()).index(FAMILIES[c]))
    fig, ax = plt.subplots(figsize=(9, 0.42 * len(order) + 2.2))
    y = np.arange(len(order))
    for i, (name, card) in enumerate(scored.items()):
        rob = card["robustness"]
        acc = [100 * rob["per_corruption"].get(c, np.nan) for c in order]
        ax.plot(acc, y, MARKERS[i % len(MARKERS)], ms=9, color=PALETTE[i % len(PALETTE)],
                label=f"{name}: clean {card.get('test_accuracy', float('nan')):.1%}, "
                      f"mean {rob['mean_accuracy']:.1%} (n={rob.get('n_images', '?')})")
    ax.set_yticks(y, [f"{c.replace('_', ' ')} ({FAMILIES[c]})" for c in order])
    ax.set_ylim(len(order) - 0.5, -0.5)
    ax.set_xlim(0, 100)
    ax.axvline(10, ls=":", color=GREY, lw=1)
    ax.annotate("chance", (10, len(order) - 0.6), ha="left", fontsize=11, color="0.3",
                xytext=(3, 0), textcoords="offset points")
    ax.set_xlabel("test accuracy under the corruption, % (mean of severities 1–5)")
    ax.set_title(title)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), fontsize=11, frameon=False)
    fig.tight_layout()
    return save(fig, path)


def per_class_pair(before: tuple[str, dict], after: tuple[str, dict], path=None,
                   title: str = "Where the new model gains, class by class"):
    """Two models' per-class test accuracy from their cards, one row per class: a dot for each
    model joined by a line, the change in points written at the right. Classes are sorted from
    the hardest for ``before`` (top) down; the axis is zoomed to the values, and says so."""
    plt, _ = _plt()
    (b_name, b_card), (a_name, a_card) = before, after
    b_acc, a_acc = b_card.get("per_class_accuracy"), a_card.get("per_class_accuracy")
    if not b_acc or not a_acc or set(b_acc) != set(a_acc):
        raise ValueError(f"both cards need per_class_accuracy over the same classes; {b_name}: "
                         f"{sorted(b_acc or {})}, {a_name}: {sorted(a_acc or {})}")
    order = sorted(b_acc, key=lambda c: b_acc[c])
    fig, ax = plt.subplots(figsize=(9, 0.5 * len(order) + 2.2))
    y = np.arange(len(order))
    b = np.array([100 * b_acc[c] for c in order])
    a = np.array([100 * a_acc[c] for c in order])
    ax.hlines(y, np.minimum(a, b), np.maximum(a, b), color="0.75", lw=3)
    ax.plot(b, y, "o", ms=10, color=PALETTE[1],
            label=f"{b_name}: {b_card.get('test_accuracy', float('nan')):.2%} overall")
    ax.plot(a, y, "D", ms=9, color=PALETTE[0],
            label=f"{a_name}: {a_card.get('test_accuracy', float('nan')):.2%} overall")
    lo, hi = min(a.min(), b.min()), max(a.max(), b.max())
    pad = (hi - lo) * 0.08
    ax.set_xlim(lo - pad, hi + pad)
    for yy, d in zip(y, np.round(a - b, 1)):  # outside the axes, right of the plot
        ax.annotate(f"{d:+.1f}" if d else "0.0", (1.0, yy), xycoords=("axes fraction", "data"),
                    xytext=(30, 0), textcoords="offset points", ha="center", va="center",
                    fontsize=11, color=PALETTE[0] if d > 0 else (PALETTE[3] if d < 0 else "0.3"))
    ax.annotate("change,\npoints", (1.0, 1.0), xycoords="axes fraction", xytext=(30, 4),
                textcoords="offset points", ha="center", va="bottom", fontsize=10, color="0.3")
    ax.set_yticks(y, order)
    ax.set_ylim(len(order) - 0.5, -0.6)
    ax.set_xlabel("test accuracy per class, % (axis zoomed to the values)")
    ax.grid(axis="y", visible=False)
    ax.set_title(title, pad=36)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, fontsize=11, frameon=False)
    fig.tight_layout()
    return save(fig, path)


def _name_prefix(names: list[str]) -> str:
    """What the names share up to their last common '_' ('x_robust_' of 'x_robust_v1' and
    'x_robust_v2'), so labels can drop it; '' for fewer than two names."""
    prefix = os.path.commonprefix(names) if len(names) > 1 else ""
    return prefix[:prefix.rfind("_") + 1]


def _seed_rows(ax, groups: list[list[tuple[float, str, bool]]], target: float, what: str):
    """One row per group of runs on ``ax``, accuracies as fractions drawn in %: a dot per run
    ``(accuracy, name, first)`` (filled: the group's first run; hollow: its other seeds), each
    named below the row, one line per run from left to right, tied to its dot; the group's mean
    as a bar with its value; the ``target`` dashed and the side that meets it shaded. Rows are
    :func:`_seed_row_pitch` apart, so one row's names stay clear of the next row's mean; returns
    the rows' positions, for the caller's ticks."""
    pitch = _seed_row_pitch(groups)
    values = [100 * x for members in groups for x, _, _ in members]
    lo = min(values + [100 * target]) - 0.6
    hi = max(values + [100 * target]) + 0.6
    ax.axvspan(100 * target, hi, color=PALETTE[2], alpha=0.12, lw=0)
    ax.axvline(100 * target, ls="--", color=GREY, lw=1)
    rows = [pitch * k for k in range(len(groups))]
    for y, members in zip(rows, groups):
        mean = 100 * float(np.mean([x for x, _, _ in members]))
        ax.plot([mean] * 2, [y - 0.3, y + 0.3], "-", color=PALETTE[3], lw=2.5, zorder=2)
        ax.annotate(f"mean {mean:.2f}%", (mean, y + 0.3), xytext=(0, 3),
                    textcoords="offset points", ha="center", va="bottom", fontsize=10,
                    color=PALETTE[3])
        for k, (x, name, first) in enumerate(sorted(members, key=lambda m: m[0])):
            ax.plot(100 * x, y, "o", ms=10, color=PALETTE[0], zorder=3,
                    mfc=PALETTE[0] if first else "white")
            ax.annotate(name, (100 * x, y), xytext=(100 * x, y - 0.38 - 0.17 * k), textcoords="data",
                        ha="center", va="top", fontsize=9,
                        arrowprops={"arrowstyle": "-", "color": GREY, "lw": 0.6})
    ax.set_xlim(lo, hi)
    ax.set_ylim(-0.45 - 0.17 * max(map(len, groups)) - 0.25, rows[-1] + 0.65)
    ax.set_xlabel(f"{what}, %")
    ax.set_title(f"{what} (target ≥ {target:.0%}, shaded)", fontsize=11)
    return rows


def _seed_row_pitch(groups: list[list]) -> float:
    """How far apart :func:`_seed_rows` puts its rows, in rows: one, plus a name's line for each
    run past the first of the largest group, plus room for the mean's value above the next row
    (the names hang below their row, one line each)."""
    return 1.0 + 0.17 * (max(map(len, groups)) - 1) + 0.25


def _seed_rows_height(groups: list[list]) -> float:
    """The height in inches of a figure of :func:`_seed_rows`: room for its title and axis, and
    1.5 inches for each step between rows."""
    return 2.2 + 1.5 * _seed_row_pitch(groups) * len(groups)


def seed_groups(groups: dict[str, list[tuple[float, str]]], target: float, what: str = "test accuracy",
                title: str = "", path=None):
    """Groups of runs that differ only by seed (a recipe on two machines, say), one row each:
    ``{row name: [(accuracy as a fraction, run name), ...]}``, the group's first run filled,
    its other seeds hollow, the mean as a bar, the ``target`` dashed and the side that meets
    it shaded. Whether two rows differ by more than their seeds spread is then a thing to see."""
    if not groups or not all(groups.values()):
        raise ValueError(f"seed_groups needs at least one run in every row, got "
                         f"{ {k: len(v) for k, v in groups.items()} }")
    plt, _ = _plt()
    runs = [[(x, name, k == 0) for k, (x, name) in enumerate(group)] for group in groups.values()]
    fig, ax = plt.subplots(figsize=(10, _seed_rows_height(runs)))
    ax.set_yticks(_seed_rows(ax, runs, target, what), list(groups))
    if title:
        fig.suptitle(title, fontsize=13)
    fig.tight_layout()
    return save(fig, path)


def robust_seeds(rows: list[dict], path=None, *, clean_target: float = CLEAN_TARGET,
                 robust_target: float = CORRUPTED_TARGET):
    """How far one run's numbers move when only the seed changes: for each recipe of
    ``robust_study.csv`` trained with several seeds, one dot per run (named) on its clean test
    accuracy and on its CIFAR-10-C (regenerated) mean, the mean as a bar, the target dashed and
    the side that meets it shaded."""
    plt, _ = _plt()
    repeats = robust_repeats(rows)
    if not repeats:
        raise ValueError("no recipe in these rows was trained with more than one seed: train it "
                         "again with wic train --seed N, then run benchmarks/robust_study.py")
    prefix = _name_prefix([rows[i]["model"] for m in repeats for i in m])
    fig, axes = plt.subplots(1, 2, figsize=(12, _seed_rows_height(repeats)), sharey=True)

    def named(i: int, first: bool) -> str:
        said = [f"seed {rows[i]['seed']}"] if rows[i].get("seed") not in (None, "") else []
        said += ["first run"] if first else []
        return f"{rows[i]['model'][len(prefix):]} ({', '.join(said)})"

    for ax, column, target, what in ((axes[0], "test_accuracy", clean_target, "clean test"),
                                     (axes[1], "corruption_mean", robust_target,
                                      "CIFAR-10-C (regenerated) mean")):
        ticks = _seed_rows(ax, [[(float(rows[i][column]), named(i, i == m[0]), i == m[0])
                                 for i in m] for m in repeats], target, what)
    axes[0].set_yticks(ticks, [f"{rows[m[0]]['model'][len(prefix):]}'s recipe" for m in repeats])
    fig.suptitle("One recipe, several seeds: how far one run's number moves", fontsize=13)
    fig.tight_layout()
    return save(fig, path)


def robust_rescore(rows: list[dict], path=None, *, clean_target: float = CLEAN_TARGET,
                   robust_target: float = CORRUPTED_TARGET):
    """How sure each run's numbers are (``robust_rescore.csv``): per run, its clean test accuracy
    and its CIFAR-10-C (regenerated) mean, each with a bar of ± two standard errors over test
    images; the corrupted mean twice, on the card's images (hollow) and on more (filled), so the
    bar visibly shrinks (the card's above, the larger sample below it). The targets dashed, the
    side meeting each shaded."""
    plt, _ = _plt()
    if not rows:
        raise ValueError("no rows: run benchmarks/robust_rescore.py NAME ... first")
    prefix = _name_prefix([r["model"] for r in rows])
    fig, axes = plt.subplots(1, 2, figsize=(12, 2.0 + 0.9 * len(rows)), sharey=True)
    f = [{k: 100 * float(r[k]) for k in ("test_accuracy", "test_se", "card_mean", "first_se",
                                         "corruption_mean", "corruption_se")} for r in rows]
    panels = (
        (axes[0], clean_target, "clean test accuracy",
         [("test_accuracy", "test_se", 0.0, True,
           f"all {int(rows[0]['test_images']):,} test images")]),
        (axes[1], robust_target, "CIFAR-10-C (regenerated) mean",
         [("card_mean", "first_se", -0.17, False,
           f"the card's first {rows[0]['card_images']} images"),
          ("corruption_mean", "corruption_se", 0.17, True,
           f"the first {int(rows[0]['corruption_images']):,} images")]))
    for ax, target, what, series in panels:
        ends = [v[m] + s * 2 * v[e] for v in f for m, e, *_ in series for s in (-1, 1)]
        lo, hi = min(ends + [100 * target]) - 0.3, max(ends + [100 * target]) + 0.3
        ax.axvspan(100 * target, hi, color=PALETTE[2], alpha=0.12, lw=0)
        ax.axvline(100 * target, ls="--", color=GREY, lw=1)
        for m, e, dy, filled, label in series:
            colour = PALETTE[0] if filled else PALETTE[1]
            for y, v in enumerate(f):
                ax.errorbar(v[m], y + dy, xerr=2 * v[e], fmt="o", ms=8, color=colour,
                            mfc=colour if filled else "white", capsize=4, lw=1.8,
                            label=label if y == 0 else None)
                # the card's number above its dot, the larger sample's below: apart from each other
                ax.annotate(f"{v[m]:.2f}% ± {2 * v[e]:.2f}", (v[m], y + dy),
                            xytext=(0, 7 if dy <= 0 else -7), textcoords="offset points",
                            ha="center", va="bottom" if dy <= 0 else "top", fontsize=10,
                            color=colour)
        ax.set_xlim(lo, hi)
        ax.set_xlabel(f"{what}, %")
        ax.set_title(f"{what} (target ≥ {target:.0%}, shaded)", fontsize=11)
        ax.legend(loc="lower left", fontsize=10, framealpha=0.9)
    axes[0].set_ylim(len(rows) + 0.45, -0.55)  # the first run on top, the legends below the last
    axes[0].set_yticks(range(len(rows)))
    axes[0].set_yticklabels([f"{r['model'][len(prefix):] or r['model']} (seed {r['seed']})"
                             for r in rows])
    fig.suptitle("How sure is each number? Bars: ± two standard errors over test images",
                 fontsize=13)
    fig.tight_layout()
    return save(fig, path)


def robustness_tradeoff(rows: list[dict], path=None, *, clean_target: float = CLEAN_TARGET,
                        robust_target: float = CORRUPTED_TARGET,
                        title: str = "Clean accuracy against robustness: what augmentation costs"):
    """One point per trained model (``robust_study.csv`` rows): clean test accuracy across,
    CIFAR-10-C (regenerated) mean up; the targets as dashed lines, the corner that meets both
    shaded. Models of one augmentation recipe that differ only in how many last epochs were
    clean are joined, so the trade a teacher wants to show — each clean epoch buys clean
    accuracy with robustness — reads as one line. A model that held out a different share of its
    training images (``validation_split``) than most is labelled with it and not joined.
    Models of one recipe trained with different seeds (the ``seed`` column) are not joined
    either: their mean is a diamond whose bars span their range, so one run reads as one
    sample of a spread; the first is labelled, the others are hollow (:func:`robust_seeds`
    shows them one by one). An augmented model on another net (the ``net`` column) than most of
    the augmented ones is a triangle, named in the legend."""
    plt, _ = _plt()
    if not rows:
        raise ValueError("no rows: run benchmarks/robust_study.py first")
    fig, ax = plt.subplots(figsize=(9, 6))
    clean = [100 * float(r["test_accuracy"]) for r in rows]
    robust = [100 * float(r["corruption_mean"]) for r in rows]
    lo_x, hi_x = min(clean + [100 * clean_target]) - 0.5, max(clean + [100 * clean_target]) + 0.4
    lo_y, hi_y = min(robust + [100 * robust_target]) - 2, max(robust + [100 * robust_target]) + 2
    ax.axvspan(100 * clean_target, hi_x, ymin=(100 * robust_target - lo_y) / (hi_y - lo_y),
               color=PALETTE[2], alpha=0.12, lw=0)
    ax.axvline(100 * clean_target, ls="--", color=GREY, lw=1)
    ax.axhline(100 * robust_target, ls="--", color=GREY, lw=1)
    ax.annotate(f"both targets: ≥ {clean_target:.0%} clean and ≥ {robust_target:.0%} corrupted",
                (hi_x, hi_y), xytext=(-6, -6), textcoords="offset points", ha="right", va="top",
                fontsize=11, color="0.3")

    def recipe_key(r):  # one seed's series whose clean epochs vary: joined
        return tuple(str(r.get(k) or 0) for k in ROBUST_RECIPE_FIELDS + ("seed",)
                     if not k.startswith("clean_"))

    # a model that held out a different share of its training images than most is labelled so
    held = [float(r.get("validation_split") or 0) for r in rows]
    usual = max(set(held), key=held.count)

    groups: dict[tuple, list[int]] = {}
    for i, r in enumerate(rows):
        groups.setdefault(recipe_key(r), []).append(i)
    for members in groups.values():
        plain = sorted((i for i in members if not float(rows[i].get("clean_noisy_epochs") or 0)),
                       key=lambda i: float(rows[i].get("clean_epochs") or 0))
        if len(plain) > 1:
            ax.plot([clean[i] for i in plain], [robust[i] for i in plain], "-", color=PALETTE[0],
                    lw=1.5, alpha=0.6, zorder=1)
    # one recipe, several seeds: the mean and the range of its runs; its later runs are drawn
    # hollow and unlabelled (robust_seeds.png names them), so the corner stays readable; each
    # recipe's mean in a colour of its own, as the recipes' means may lie close together
    repeats = robust_repeats(rows)
    colours = [SEED_MEANS[k % len(SEED_MEANS)] for k in range(len(repeats))]
    for members, colour in zip(repeats, colours):
        xs_, ys_ = [clean[i] for i in members], [robust[i] for i in members]
        mx, my = float(np.mean(xs_)), float(np.mean(ys_))
        ax.errorbar(mx, my, xerr=[[mx - min(xs_)], [max(xs_) - mx]],
                    yerr=[[my - min(ys_)], [max(ys_) - my]], fmt="D", ms=9, mfc="white",
                    color=colour, lw=1.5, capsize=4, zorder=3)
    later_seed = {i for m in repeats for i in m[1:]}
    augmented = [any(float(r.get(k) or 0) for k in ("noise", "blur", "brightness", "contrast"))
                 for r in rows]
    # an augmented model on another net than most of them (rows older than the net column: '')
    nets = [r.get("net") or "" for r in rows]
    on_augmented = [n for n, a in zip(nets, augmented) if a]
    usual_net = max(set(on_augmented), key=on_augmented.count) if on_augmented else ""
    other_net = [a and n != usual_net for n, a in zip(nets, augmented)]
    # the augmented models' names on the usual net share a prefix (say 'x_robust_'): label them
    # by the rest, and the others by what they do not share with it ('x_wide_robust_v1': 'wide_…')
    prefix = _name_prefix([r["model"] for r, a, o in zip(rows, augmented, other_net)
                           if a and not o])

    def short(name: str) -> str:
        return name[len(prefix if name.startswith(prefix) else _name_prefix([name, prefix])):]
    # labels: right of a point in the right half of the augmented cluster (unless near the right
    # edge), left of the others (the models trained without sit low, apart from the cluster, and
    # may be near each other); on each side, labels closer than a line's height are pushed down
    # and tied to their point
    xs = sorted(clean[i] for i in range(len(rows)) if augmented[i])
    middle = xs[len(xs) // 2] if xs else 0.0
    on_right = [a and middle <= c <= lo_x + 0.85 * (hi_x - lo_x) for c, a in zip(clean, augmented)]
    line_h = 0.034 * (hi_y - lo_y)
    label_y = {}
    for side in (True, False):
        members = sorted((i for i in range(len(rows)) if on_right[i] == side
                          and i not in later_seed), key=lambda i: -robust[i])
        floor = None
        for i in members:
            label_y[i] = robust[i] if floor is None else min(robust[i], floor - line_h)
            floor = label_y[i]
    for i, r in enumerate(rows):
        ax.plot(clean[i], robust[i], "^" if other_net[i] else "o" if augmented[i] else "s",
                ms=10 if other_net[i] else 9, zorder=2,
                color=PALETTE[0] if augmented[i] else PALETTE[1],
                mfc="white" if i in later_seed else None)
        if i in later_seed:
            continue
        ce, cn = int(float(r.get("clean_epochs") or 0)), int(float(r.get("clean_noisy_epochs") or 0))
        note = f" · {ce} clean" + (f" ({cn} noisy)" if cn else "") if ce else ""
        if held[i] != usual:
            note += f" · {held[i]:.0%} held out"
        name = short(r["model"]) if augmented[i] and prefix else r["model"]
        right = on_right[i]
        moved = abs(label_y[i] - robust[i]) > 1e-9
        sign = 1 if right else -1
        x = clean[i] + sign * 0.06 * (hi_x - lo_x) * (moved + 0.15)
        # a hollow later seed on the label's line, on its side: the label starts past it
        past = [clean[j] for j in later_seed if abs(robust[j] - label_y[i]) < line_h
                and sign * (clean[j] - clean[i]) > 0]
        if past:
            x = max([x, *(c + sign * 0.02 * (hi_x - lo_x) for c in past)],
                    key=lambda v: sign * v)  # the farthest out on the label's side
            moved = True
        ax.annotate(f"{name}{note}", (clean[i], robust[i]),
                    xytext=(x, label_y[i]), textcoords="data", va="center",
                    ha="left" if right else "right", fontsize=10,
                    arrowprops={"arrowstyle": "-", "color": GREY, "lw": 0.8} if moved else None)
    ax.set_xlim(lo_x, hi_x)
    ax.set_ylim(lo_y, hi_y)
    ax.set_xlabel("clean test accuracy, %")
    ax.set_ylabel("CIFAR-10-C (regenerated) mean accuracy, %")
    ax.set_title(title)
    ax.plot([], [], "o", color=PALETTE[0], label="trained with noise/blur/colour augmentation"
            + (f" ({prefix}…)" if prefix else ""))
    for net in sorted({n for n, o in zip(nets, other_net) if o}):
        ax.plot([], [], "^", ms=10, color=PALETTE[0], label=f"the same on another net ({net})")
    ax.plot([], [], "s", color=PALETTE[1], label="trained without")
    for members, colour in zip(repeats, colours):
        first = rows[members[0]]["model"]
        ax.errorbar([], [], xerr=[], yerr=[], fmt="D", mfc="white", color=colour,
                    label=f"{short(first) if prefix else first}'s recipe, {len(members)} "
                          "seeds: mean and range (other seeds hollow)")
    # the empty middle: the augmented points sit high, the unaugmented ones low
    ax.legend(loc="center left", fontsize=10, frameon=False)
    fig.tight_layout()
    return save(fig, path)
