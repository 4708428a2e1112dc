"""The tuning-ablation study (notebook 04): one change at a time from the seed's recipe.

Every variant is a set of parameters for notebook 03 on top of one fixed budget, run with
:func:`wic.sweep.run_sweep` over several seeds; :func:`summarize` turns the sweep's table into
mean, spread and difference from the baseline, and :func:`conclusions` writes the sentences.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

BASELINE = "seed recipe (baseline)"

#: The fixed budget every variant trains under (overridable from notebook 04's parameters).
BUDGET = {"model_name": "seed_v1_3", "recipe": "seed", "train_subset": 5000, "epochs": 10}

#: One element of the seed's recipe switched off or swapped, everything else unchanged.
VARIANTS: dict[str, dict] = {
    BASELINE: {},
    "glorot_uniform init (not he_normal)": {"model_kwargs": {"initializer": "glorot_uniform"}},
    "no BatchNorm": {"model_kwargs": {"batch_norm": False}},
    "no dropout": {"model_kwargs": {"dropout": [0.0, 0.0, 0.0]}},
    "SGD + momentum 0.9, lr 0.01 (not Adam)": {"optimizer": "sgd", "learning_rate": 0.01},
    "no EarlyStopping / ReduceLROnPlateau": {"early_stopping": False, "reduce_lr": False},
    "batch size 128 (not 32)": {"batch_size": 128},
    "data augmentation (crop + flip)": {"augment": True},
}


def plan(budget: dict | None = None, variants: list[str] | None = None) -> list[dict]:
    """The sweep's runs (without seeds): the budget plus each variant's changes."""
    budget = {**BUDGET, **(budget or {})}
    names = variants or list(VARIANTS)
    unknown = set(names) - set(VARIANTS)
    if unknown:
        raise ValueError(f"unknown variants {sorted(unknown)}; accepted: {list(VARIANTS)}")
    return [{**budget, **VARIANTS[n]} for n in names]


def label_runs(table, notebook: Path, budget: dict | None = None,
               variants: list[str] | None = None):
    """Add a ``variant`` column to the sweep table by matching each run's id."""
    from wic import sweep

    budget = {**BUDGET, **(budget or {})}
    names = variants or list(VARIANTS)
    ids = {}
    for name in names:
        for seed in table["seed"].dropna().unique():
            params = {**budget, **VARIANTS[name], "seed": int(seed)}
            ids[sweep.run_id(notebook, params)] = name
    table = table.copy()
    table["variant"] = table["run_id"].map(ids)
    return table


def summarize(table, metric: str = "test_accuracy"):
    """Per variant: runs, mean, std, min, max of ``metric``, difference from the baseline
    (in accuracy points) and mean training time. Variants keep the VARIANTS order."""
    import pandas as pd

    ok = table[table["status"] == "ok"]
    if ok.empty or metric not in ok:
        errors = table["error_message"].dropna().unique()[:3] if "error_message" in table else []
        raise ValueError(f"no run finished with a recorded {metric!r}; first errors: {list(errors)}")
    g = ok.groupby("variant")[metric]
    df = pd.DataFrame({"runs": g.size(), "mean": g.mean(), "std": g.std(ddof=1), "min": g.min(),
                       "max": g.max()})
    if "train_wall_time_s" in ok:
        df["train_s"] = ok.groupby("variant")["train_wall_time_s"].mean()
    base = df.loc[BASELINE, "mean"] if BASELINE in df.index else np.nan
    df["delta_points"] = 100 * (df["mean"] - base)
    order = [v for v in VARIANTS if v in df.index]
    return df.loc[order]


def conclusions(summary, budget: dict) -> list[str]:
    """One sentence per variant, from the numbers (difference vs the runs' own spread)."""
    lines = []
    base = summary.loc[BASELINE]
    lines.append(f"Baseline (seed recipe, {budget['train_subset']:,} images, up to {budget['epochs']} "
                 f"epochs): test accuracy {base['mean']:.3f} ± {base['std']:.3f} over {int(base['runs'])} seeds.")
    for name, row in summary.iterrows():
        if name == BASELINE:
            continue
        noise = np.nanmax([row["std"], base["std"], 0.002])
        d = row["delta_points"]
        if abs(d) < 100 * noise:
            verdict = "no clear effect at this budget (within the seed-to-seed spread)"
        elif d > 0:
            verdict = f"helps: +{d:.1f} points"
        else:
            verdict = f"hurts: {d:.1f} points"
        extra = ""
        if "train_s" in summary and np.isfinite(row.get("train_s", np.nan)) and base.get("train_s"):
            extra = f"; training time {row['train_s'] / base['train_s']:.2f}x the baseline's"
        lines.append(f"{name}: {row['mean']:.3f} ± {row['std']:.3f} — {verdict}{extra}.")
    return lines


def plot(table, summary, metric: str = "test_accuracy", title: str = "", path=None):
    """Every run as a point, mean ± std as a bar, the baseline mean as a dashed line."""
    from wic import plots

    plt, sns = plots._plt()
    ok = table[table["status"] == "ok"]
    order = list(summary.index)
    fig, ax = plt.subplots(figsize=(9, 0.6 * len(order) + 1.5))
    sns.stripplot(ok, x=metric, y="variant", order=order, ax=ax, size=7, color="tab:blue",
                  alpha=0.7, jitter=0.15)
    ax.errorbar(summary["mean"], np.arange(len(order)), xerr=summary["std"], fmt="D",
                color="black", capsize=4, label="mean ± std")
    if BASELINE in summary.index:
        ax.axvline(summary.loc[BASELINE, "mean"], color="gray", ls="--", lw=1,
                   label="baseline mean")
    ax.set_xlabel("test accuracy (10,000 test images)")
    ax.set_ylabel("")
    ax.set_title(title)
    ax.legend(loc="lower left", fontsize=9)
    fig.tight_layout()
    return plots.save(fig, path)
