"""Tuning-ablation studies: one change at a time from a baseline recipe, under one budget.

Two studies are defined. ``"seed"`` (notebook 04) takes the seed's recipe apart on a small
budget; ``"fast"`` (``benchmarks/fast_ablation.py``, shown in notebook 07) removes one
ingredient at a time from the fast recipe on the full training set. Every variant is a set of
parameters for notebook 03 on top of the study's fixed budget, run with
:func:`wic.experiments.sweep.run_sweep` over one or more seeds; :func:`summarize` turns the sweep's table
into mean, spread and difference from the baseline, and :func:`conclusions` writes the sentences.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

BASELINE = "seed recipe (baseline)"

#: The fixed budget every variant trains under (overridable from notebook 04's parameters).
#: 5,000 images (1,000 of them held out) and 6 epochs keep notebook 04's 24 runs near a quarter of
#: an hour on two cores (the course's ``make pipeline`` must fit in 30 minutes). Measured: 2,000
#: images and 8 epochs were twice as fast, but left the baseline at 25% validation accuracy, too
#: undertrained for its effects to mean anything about the recipe.
BUDGET = {"model_name": "seed_v1_3", "recipe": "seed", "train_subset": 5000, "epochs": 6}

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

#: How each metric a run records is named on a figure's axis.
METRIC_LABELS = {"test_accuracy": "test accuracy (10,000 test images)",
                 "best_val_accuracy": "best validation accuracy (the run's held-out 20%)"}
#: ... and in a sentence.
METRIC_SHORT = {"test_accuracy": "test accuracy", "best_val_accuracy": "validation accuracy"}

FAST_BASELINE = "fast recipe (baseline)"

#: One ingredient of the fast recipe (:mod:`wic.training.recipes`, :mod:`wic.models.airbench`) removed or swapped at a time; the
#: budget is notebook 03's default run (airbench_cpu_s, all 50,000 images, 3 epochs).
FAST_VARIANTS: dict[str, dict] = {
    FAST_BASELINE: {},
    "no patch whitening (a trainable 2x2 conv)": {"model_kwargs": {"whiten": False}},
    "no identity (dirac) init": {"model_kwargs": {"dirac": False}},
    "BatchNorm bias at the weights' rate (not 64x)": {"model_kwargs": {"bias_scale": 1.0}},
    "no label smoothing (not 0.2)": {"recipe_overrides": {"label_smoothing": 0.0}},
    "no lookahead": {"recipe_overrides": {"lookahead": False}},
    "random flips (not alternating)": {"recipe_overrides": {"flip": "random"}},
    "no translation (not 2 px)": {"recipe_overrides": {"translate": 0}},
    "float32 (not bfloat16)": {"recipe_overrides": {"precision": "float32"}},
}


@dataclass(frozen=True)
class Study:
    """A baseline, the variants that each change one thing, and the budget they share."""

    name: str
    baseline: str
    budget: dict
    variants: dict
    describe: str  # the budget in words; formatted with the budget's values and {images}
    fixed: dict = field(default_factory=dict)  # held constant, whatever notebook 03's defaults

    def budget_text(self, budget: dict | None = None) -> str:
        values = {**self.budget, **(budget or {})}
        subset = values.get("train_subset")
        images = f"{subset:,}" if subset else "all 50,000"
        return self.describe.format(**{"images": images, **values})


STUDIES: dict[str, Study] = {
    # the seed's recipe holds out 20% for its callbacks; the fast one trains on everything
    "seed": Study("seed", BASELINE, BUDGET, VARIANTS,
                  "seed recipe, {images} images, up to {epochs} epochs",
                  {"validation_split": 0.2}),
    "fast": Study("fast", FAST_BASELINE,
                  {"model_name": "airbench_cpu_s", "recipe": "fast", "epochs": 3},
                  FAST_VARIANTS, "fast recipe, small fast net ({model_name}), {images} images, "
                  "{epochs} epochs", {"validation_split": 0.0}),
}


#: Given to every sweep run of notebook 03 and left out of the exercise commands: they change what
#: the notebook shows, not what it measures. ``demos=False`` skips 03's teaching demos (the
#: overfitting run of the seed net and the t-SNE of learned features), which would multiply every
#: run's time. Part of each run's parameters, so part of its id (:func:`label_runs` matches).
SWEEP_ONLY = {"demos": False}


def study_named(study: str | Study) -> Study:
    """A :class:`Study` from its name (``"seed"`` or ``"fast"``); a Study is returned as is."""
    if isinstance(study, Study):
        return study
    if study not in STUDIES:
        raise ValueError(f"unknown study {study!r}; accepted: {', '.join(STUDIES)}")
    return STUDIES[study]


def plan(budget: dict | None = None, variants: list[str] | None = None,
         study: str | Study = "seed") -> list[dict]:
    """The sweep's runs (without seeds): the budget plus each variant's changes (and
    :data:`SWEEP_ONLY`)."""
    st = study_named(study)
    budget = {**st.budget, **(budget or {})}
    names = variants or list(st.variants)
    unknown = set(names) - set(st.variants)
    if unknown:
        raise ValueError(f"unknown variants {sorted(unknown)}; accepted: {list(st.variants)}")
    return [{**budget, **st.fixed, **st.variants[n], **SWEEP_ONLY} for n in names]


def label_runs(table, notebook: Path, budget: dict | None = None,
               variants: list[str] | None = None, study: str | Study = "seed"):
    """Add a ``variant`` column to the sweep table by matching each run's id."""
    from wic.experiments import sweep

    st = study_named(study)
    budget = {**st.budget, **(budget or {})}
    names = variants or list(st.variants)
    ids = {}
    for name in names:
        for seed in table["seed"].dropna().unique():
            params = {**budget, **st.fixed, **st.variants[name], **SWEEP_ONLY,
                      "seed": int(seed)}
            ids[sweep.run_id(notebook, params)] = name
    table = table.copy()
    table["variant"] = table["run_id"].map(ids)
    return table


def summarize(table, metric: str = "test_accuracy", study: str | Study = "seed"):
    """Per variant: runs, mean, std, min, max of ``metric``, difference from the baseline
    (in accuracy points) and mean training time. Variants keep the study's order."""
    import pandas as pd

    st = study_named(study)
    ok = table[table["status"] == "ok"]
    if ok.empty or metric not in ok:
        errors = table["error_message"].dropna().unique()[:3] if "error_message" in table else []
        raise ValueError(f"no run finished with a recorded {metric!r}; first errors: {list(errors)}")
    g = ok.groupby("variant")[metric]
    df = pd.DataFrame({"runs": g.size(), "mean": g.mean(), "std": g.std(ddof=1), "min": g.min(),
                       "max": g.max()})
    if "train_wall_time_s" in ok:
        df["train_s"] = ok.groupby("variant")["train_wall_time_s"].mean()
        ratios = _time_ratios(ok, st.baseline)
        df["time_ratio"] = ratios.median()
        df["time_ratio_min"], df["time_ratio_max"] = ratios.min(), ratios.max()
    base = df.loc[st.baseline, "mean"] if st.baseline in df.index else np.nan
    df["delta_points"] = 100 * (df["mean"] - base)
    order = [v for v in st.variants if v in df.index]
    return df.loc[order]


def _time_ratios(ok, baseline: str):
    """Each run's training time over the baseline's in the same seed, grouped by variant (take
    ``.median()``, ``.min()``, ``.max()``). Each seed's runs go one after another on one machine,
    so a sweep that adds a seed on another (faster or slower) machine still compares like with
    like, and the median keeps one run slowed by a passing load from moving the summary. A run
    without a baseline run in its seed has no ratio."""
    import pandas as pd

    if "seed" not in ok:
        return pd.Series(dtype=float).groupby(level=0)
    base = ok[ok["variant"] == baseline].groupby("seed")["train_wall_time_s"].mean()
    ratio = ok["train_wall_time_s"] / ok["seed"].map(base)
    return ratio.groupby(ok["variant"])


def merge_runs(previous, new, same: tuple[str, ...] = ("budget",)):
    """The runs table after a sweep that added runs: ``new``'s rows, and ``previous``'s rows for
    every (variant, seed) the sweep did not run (a run that ran again replaces its old row).
    The committed CSV is the record; the sweep folder that resumes runs may be gone. Columns
    missing on one side are left empty; rows are ordered by seed, then as they came.

    Runs under another budget are not comparable: a column of ``same`` present in both tables
    must hold one value throughout, or this refuses (naming both values)."""
    import pandas as pd

    if previous is None or len(previous) == 0:
        return new.reset_index(drop=True)
    for name, t in (("previous", previous), ("new", new)):
        missing = {"variant", "seed"} - set(t.columns)
        if missing:
            raise ValueError(f"the {name} runs table has no {sorted(missing)} column; "
                             f"columns: {list(t.columns)}")
    for col in same:
        if col in previous and col in new:
            values = set(previous[col].dropna()) | set(new[col].dropna())
            if len(values) > 1:
                raise ValueError(f"the earlier runs and these differ in {col}: "
                                 f"{sorted(map(str, values))}; only runs under one {col} can "
                                 "share a table (start a new one, or replace it)")
    ran = set(zip(new["variant"], new["seed"].astype(int)))
    kept = previous[[(v, int(s)) not in ran for v, s in zip(previous["variant"], previous["seed"])]]
    merged = pd.concat([kept, new], ignore_index=True, sort=False)
    merged["seed"] = pd.to_numeric(merged["seed"]).astype("Int64")
    return merged.sort_values("seed", kind="stable").reset_index(drop=True)


def conclusions(summary, budget: dict | str | None = None, study: str | Study = "seed",
                metric: str = "test_accuracy") -> list[str]:
    """One sentence per variant, from the numbers (difference vs the runs' own spread).
    ``budget`` is the runs' budget (changes to the study's), or its description as written in
    a runs CSV's ``budget`` column.

    With one seed per variant there is no spread to compare with: a difference is then called
    an effect only beyond ``0.005`` (half a point), and the sentence says it is a single run."""
    st = study_named(study)
    lines = []
    base = summary.loc[st.baseline]
    runs = int(base["runs"])
    spread = f" ± {base['std']:.3f} over {runs} seeds" if runs > 1 else " (one run)"
    what = METRIC_SHORT.get(metric, metric.replace("_", " "))
    said = budget if isinstance(budget, str) else st.budget_text(budget)
    lines.append(f"Baseline ({said}): {what} {base['mean']:.3f}{spread}.")
    for name, row in summary.iterrows():
        if name == st.baseline:
            continue
        floor = 0.002 if runs > 1 and row["runs"] > 1 else 0.005
        noise = np.nanmax([row["std"], base["std"], floor])
        d = row["delta_points"]
        if abs(d) < 100 * noise:
            verdict = ("no clear effect at this budget (within the seed-to-seed spread)"
                       if floor < 0.005 else "no clear effect at this budget (within half a point)")
        elif d > 0:
            verdict = f"helps: +{d:.1f} points"
        else:
            verdict = f"hurts: {d:.1f} points"
        extra = ""
        ratio = _ratio_to_baseline(summary, name, st.baseline)
        if np.isfinite(ratio):
            extra = f"; training time {ratio:.2f}x the baseline's{_ratio_range(row)}"
        acc = f"{row['mean']:.3f} ± {row['std']:.3f}" if row["runs"] > 1 else f"{row['mean']:.3f}"
        lines.append(f"{name}: {acc} — {verdict}{extra}.")
    return lines


def _ratio_range(row) -> str:
    """`` (per seed 0.96x-1.53x)`` when a variant's per-seed time ratios differ, else empty."""
    lo, hi = row.get("time_ratio_min", np.nan), row.get("time_ratio_max", np.nan)
    if not (np.isfinite(lo) and np.isfinite(hi)) or f"{lo:.2f}" == f"{hi:.2f}":
        return ""
    return f" (per seed {lo:.2f}x–{hi:.2f}x)"


def _ratio_to_baseline(summary, name: str, baseline: str) -> float:
    """``time_ratio`` (the median per seed, :func:`_time_ratios`) where the summary has it, else the ratio
    of mean training times (summaries written before it existed); NaN without times."""
    row = summary.loc[name]
    if "time_ratio" in summary and np.isfinite(row.get("time_ratio", np.nan)):
        return float(row["time_ratio"])
    base = summary.loc[baseline].get("train_s", np.nan) if baseline in summary.index else np.nan
    if "train_s" in summary and np.isfinite(row.get("train_s", np.nan)) and np.isfinite(base):
        return float(row["train_s"] / base)
    return float("nan")


def plot(table, summary, metric: str = "test_accuracy", title: str = "", path=None,
         study: str | Study = "seed"):
    """Every run as a point, mean ± std as a bar, the baseline mean as a dashed line
    (:func:`wic.evaluation.plots.ablation_runs`, the x axis named after ``metric``)."""
    from wic.evaluation import plots

    st = study_named(study)
    return plots.ablation_runs(table, summary, metric=metric, title=title, baseline=st.baseline,
                               xlabel=METRIC_LABELS.get(metric), path=path)


#: Where an exercise's figures go: the committed figures/ are never scratch space.
EXERCISE_FIGURES = "../runs/exercise-figures"


def papermill_command(params: dict, notebook: str = "03_training.ipynb",
                      output: str = "exercise.ipynb") -> str:
    """The shell command (from ``notebooks/``) that runs ``notebook`` with ``params``: ``-p``
    for numbers and words, one ``-y`` for lists, dicts and booleans (``-p flag false`` would be
    the string "false"); its figures go to :data:`EXERCISE_FIGURES`, not ``figures/``."""
    import shlex

    import yaml

    simple = {k: v for k, v in params.items()
              if isinstance(v, (int, float, str)) and not isinstance(v, bool)}
    structured = {k: v for k, v in params.items() if k not in simple}
    parts = ["papermill", notebook, output]
    for k, v in simple.items():
        parts += ["-p", k, str(v)]
    if structured:
        flow = yaml.safe_dump(structured, default_flow_style=True, width=1000).strip()
        parts += ["-y", flow]
    return f"WIC_FIGURES_DIR={EXERCISE_FIGURES} " + " ".join(shlex.quote(p) for p in parts)


def final_test_score(table, summary, metric: str = "best_val_accuracy",
                     study: str | Study = "seed") -> str:
    """The test set, touched once after choosing: the baseline's and the chosen variant's
    (first on ``metric``) mean test accuracy over their seeds, as a Markdown sentence.

    With ``metric="test_accuracy"`` the choice was already made on the test set; the sentence
    says so instead of pretending the test number is a fresh estimate."""
    st = study_named(study)
    best = summary["mean"].idxmax()
    ok = table[table["status"] == "ok"]
    test = ok.groupby("variant")["test_accuracy"].agg(["mean", "std", "size"])

    def score(name: str) -> str:
        r = test.loc[name]
        spread = f" ± {r['std']:.1%}" if r["size"] > 1 else ""
        return f"{r['mean']:.1%}{spread} ({int(r['size'])} seeds)"

    if metric == "test_accuracy":
        return (f"These variants were ranked on the test set itself (`metric = \"test_accuracy\"`): "
                f"**{best}** scores {score(best)}, but that number chose the winner, so it is no "
                "longer a fair estimate for new images. Rank on `best_val_accuracy` to keep it one.")
    chosen = summary.loc[best]
    if best == st.baseline:
        return (f"No variant beat the baseline on validation, so we keep the baseline: "
                f"{score(best)} test accuracy.")
    base = test.loc[st.baseline, "mean"]
    gain = 100 * (test.loc[best, "mean"] - base)
    agrees = "confirms" if gain > 0 else "does not confirm"
    return (f"Chosen on validation: **{best}** ({chosen['mean']:.1%} validation accuracy, "
            f"{chosen['delta_points']:+.1f} points over the baseline). On the test set it scores "
            f"{score(best)} against the baseline's {score(st.baseline)}: {gain:+.1f} points — "
            f"the test set {agrees} the choice.")
