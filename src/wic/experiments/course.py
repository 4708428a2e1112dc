"""The course's exercises: a parameter change, a question, and a *measured* expectation.

Every notebook's exercises (01-07) are :data:`EXERCISES`, rendered by :func:`exercises_markdown`:
each names the papermill parameters to change, asks a question, and says what to expect with
numbers read from a results file — never typed by hand:

- ``source="course"``: ``benchmarks/results/course_exercises.csv``, written by running the
  exercise itself (``python -m wic.experiments.course 01``: papermill with the exercise's
  parameters, the metrics the notebook records read back);
- an ablation summary (one row per variant: ``figures/ablation_summary.csv`` from notebook 04,
  ``benchmarks/results/fast_ablation_summary.csv`` from ``benchmarks/fast_ablation.py``): the
  exercise's ``row`` against the study's ``base`` row, with the split that ranked them.

``tests/test_course.py`` checks the committed notebooks show exactly what the files say today.

One command builder and one definition of each study's runs serve the whole course: the
commands are :func:`wic.experiments.ablation.papermill_command` (figures to ``runs/``, never
the committed ``figures/``), and an exercise that repeats an ablation variant takes its
parameters from the study itself (:func:`study_run`), so it runs what was measured.
"""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from wic import config
from wic.experiments import ablation

RESULTS = Path("benchmarks/results/course_exercises.csv")
FAST_ABLATION = Path("benchmarks/results/fast_ablation_summary.csv")
SEED_ABLATION = Path("figures/ablation_summary.csv")
#: Where each ablation study's summary is written (the study an exercise's file belongs to).
STUDY_SOURCES = {"fast": FAST_ABLATION, "seed": SEED_ABLATION}


@dataclass(frozen=True)
class Exercise:
    params: dict
    question: str
    expect: str  # a template: the measured values by name (``course``) or ``row`` / ``base``
    source: str | Path = "course"
    row: str | None = None  # the variant of an ablation summary
    base: str | None = None  # ... and the row it is compared with
    extra: dict = field(default_factory=dict)  # parameters that reproduce the file's budget
    runs: str | None = None  # the notebook the command executes (None: the exercise's own)


def study_run(study: str, variant: str, out_name: str) -> dict:
    """Notebook 03's parameters for one variant of an ablation study, exactly as its sweep ran
    it (less :data:`~wic.experiments.ablation.SWEEP_ONLY`: a student sees the whole lesson)."""
    run = ablation.plan(variants=[variant], study=study)[0]
    return {**{k: v for k, v in run.items() if k not in ablation.SWEEP_ONLY}, "out_name": out_name}


#: The expectation of an ablation exercise when nothing more specific is said.
AGAINST_BASELINE = ("**{row_name}** {row_range} against the baseline's {base_range}.{took}")


def _ablation_exercise(study: str, variant: str, out_name: str, question: str,
                       expect: str = AGAINST_BASELINE) -> Exercise:
    """Train one variant of an ablation study (notebook 03, the study's budget); the question
    and the expectation are templates filled from the study's summary (:func:`expectation`)."""
    st = ablation.study_named(study)
    source = STUDY_SOURCES[study]
    return Exercise(study_run(study, variant, out_name), question, expect, source, variant,
                    st.baseline, runs="03_training")


EXERCISES: dict[str, list[Exercise]] = {
    "01_data_exploration": [
        Exercise({"baseline_train_images": 50000},
                 "does comparing with five times as many training images make the raw-pixel "
                 "baselines much better?",
                 "the {knn_neighbours}-nearest-neighbour vote scores {knn_accuracy:.1%} and the "
                 "linear classifier {linear_accuracy:.1%} on the same {baseline_test_images:,.0f} "
                 "test images — compare with the numbers above."),
        Exercise({"knn_neighbours": 1},
                 "is the single closest training image a better guess than a vote of five?",
                 "{knn_accuracy:.1%} for the 1-nearest-neighbour guess."),
        Exercise({"near_copy_threshold": 0.95},
                 "how many test images have a near-copy when 'near' means a similarity above "
                 "0.95 instead of 0.98?",
                 "{near_copies:,.0f} of {duplicate_test_images:,.0f} test images "
                 "({near_copy_share:.1%})."),
    ],
    "02_model_construction": [
        Exercise({"fast_model": "airbench94_cpu"},
                 "how much bigger, and how much costlier per image, is the full-width net that "
                 "reaches 94%?",
                 "{fast_parameters:,.0f} parameters and {fast_mmacs:.1f} million multiply-adds per "
                 "image (forward, one view) — compare with airbench_cpu_s above."),
        Exercise({"whiten_images": 500},
                 "do the whitening filters change when they are computed from 500 training "
                 "images instead of 5,000?",
                 "the first direction still carries {whitening_top_share:.1%} of the patch "
                 "variance, and the filters point the same way as with 5,000 images (mean "
                 "|cosine| {whitening_cosine_to_default:.3f}; 1 would be identical)."),
        Exercise({"logits_scale": 3.0},
                 "what happens to the probabilities and the loss when every logit is three "
                 "times larger (a more confident net)?",
                 "the top probability becomes {softmax_top:.1%} and the cross-entropy for the "
                 "right answer {cross_entropy_right:.3f}; for the wrong answer "
                 "{cross_entropy_wrong:.3f}. Confidence is cheap when right, expensive when "
                 "wrong."),
    ],
    "03_training": [
        _ablation_exercise(
            "fast", "no label smoothing (not 0.2)", "ex_no_smoothing",
            "does training towards hard 0/1 targets help or hurt the test accuracy?",
            "{row.mean:.2%} {split} (mean of {row.runs:.0f} seeds, "
            "{row.min:.2%}-{row.max:.2%}) against {base.mean:.2%} with smoothing: "
            "{row.delta_points:+.2f} points."),
        _ablation_exercise(
            "fast", "no lookahead", "ex_no_lookahead",
            "is the change bigger than the spread between {base.runs:.0f} seeds of the same recipe?",
            "{row.mean:.2%} against {base.mean:.2%} ({row.delta_points:+.2f} points), while "
            "{base.runs:.0f} seeds of the recipe as is span {spread:.2f} points: the change is "
            "{verdict} the seed-to-seed spread."),
        _ablation_exercise(
            "fast", "no translation (not 2 px)", "ex_no_translation",
            "does shifting the training images by up to 2 pixels help the fast net within "
            "{budget[epochs]} epochs?",
            "{row.mean:.2%} {split} without shifts against {base.mean:.2%} with them "
            "({row.delta_points:+.2f} points), while {base.runs:.0f} seeds of the recipe as is span "
            "{spread:.2f} points: the change is {verdict} the seed-to-seed spread. A harder "
            "training set pays off over longer runs (notebook 07's 94% recipe keeps it)."),
    ],
    "04_tuning_ablations": [
        Exercise({"seeds": [0]},
                 "does one seed per variant give the same ranking as {base.runs:.0f} seeds do?",
                 "{both_sides} ({n_variants} runs; those already in `sweep_dir` are skipped).",
                 SEED_ABLATION, base=ablation.BASELINE),
        _ablation_exercise(
            "seed", "no dropout", "ex_no_dropout",
            "Dropout is a regulariser: why does removing it *help* under this budget? Compare "
            "training and validation accuracy in the run's curves."),
        _ablation_exercise(
            "seed", "batch size 128 (not 32)", "ex_batch_size_128",
            "How many optimiser steps does one epoch take at batch 128, against batch 32? Then "
            "add `-p learning_rate 0.004` and see whether a larger step makes up for fewer steps."),
        _ablation_exercise(
            "seed", "SGD + momentum 0.9, lr 0.01 (not Adam)", "ex_seed_sgd",
            "plain SGD with momentum instead of Adam, on the seed net: which learns faster "
            "in {budget[epochs]} epochs?",
            "{row.mean:.2%} {split} with SGD against {base.mean:.2%} with Adam (means of "
            "{row.runs:.0f} seeds, {row.delta_points:+.2f} points)."),
    ],
    "07_fast_recipe": [
        _ablation_exercise(
            "fast", "no label smoothing (not 0.2)", "ex_no_smoothing",
            "How many points does label smoothing buy in {budget[epochs]} epochs? Then evaluate "
            "your model in notebook 05 (`-p model_name ex_no_smoothing`): is it more or less "
            "confident than the shipped one?"),
        _ablation_exercise(
            "fast", "no patch whitening (a trainable 2x2 conv)", "ex_no_whitening",
            "The whitening layer is frozen, so it costs almost nothing to train: what does it "
            "buy?"),
        _ablation_exercise(
            "fast", "float32 (not bfloat16)", "ex_float32",
            "Is bfloat16 worth it on your machine? Compare your run's accuracy and its training "
            "seconds (`train_wall_time_s` in the card) with the baseline's. On a CPU without "
            "bfloat16 in hardware the recipe already trains in float32, so both runs are the "
            "same."),
    ],
}


def _root() -> Path:
    return config.project_root()


def measured(notebook: str, index: int, results: Path | None = None) -> dict:
    """The metrics the exercise's own run recorded (``course_exercises.csv``)."""
    import pandas as pd

    df = pd.read_csv(results or _root() / RESULTS, dtype={"value": str, "params": str})
    rows = df[(df.notebook == notebook) & (df.exercise == index)]
    if rows.empty:
        raise LookupError(f"no measured run of {notebook} exercise {index} in {RESULTS}; "
                          f"run: python -m wic.experiments.course {notebook[:2]}")
    return {r.metric: json.loads(r.value) for r in rows.itertuples()}


class _Row:
    def __init__(self, series):
        self.__dict__.update(series.to_dict())


NOT_MEASURED = "not measured yet: run `python -m wic.experiments.course {prefix}`"


def _range(row: _Row) -> str:
    if row.runs > 1:
        return f"{row.mean:.1%} (mean of {row.runs:.0f} seeds, {row.min:.1%}–{row.max:.1%})"
    return f"{row.mean:.1%} (one run)"


def _both_sides(table, base_name: str) -> str:
    """The variants whose seeds landed on both sides of the baseline's mean: the ones a
    single seed could rank either way."""
    base = table.loc[base_name]
    both = [(v, r) for v, r in table.iterrows()
            if v != base_name and r["runs"] > 1 and r["min"] <= base["mean"] <= r["max"]]
    if not both:
        return ("in the sweep no variant's seeds lay on both sides of the baseline's mean "
                f"({base['mean']:.1%}); compare the size of each difference with its spread")
    named = "; ".join(f"**{v}** {r['min']:.1%}–{r['max']:.1%}" for v, r in both)
    return (f"in the sweep the seeds of {named} lay on both sides of the baseline's mean "
            f"({base['mean']:.1%}): with one seed, each could come out better or worse than the "
            "baseline, by chance")


def _table_fields(ex: Exercise, table) -> dict:
    """What an ablation exercise's templates may name: ``row``/``base`` (the summary rows),
    their ranges, the split that ranked them, the study's budget and spreads."""
    base = _Row(table.loc[ex.base])
    study = ablation.study_named(next(k for k, v in STUDY_SOURCES.items() if v == ex.source))
    metric = str(table["metric"].iloc[0]) if "metric" in table else "test_accuracy"
    budget = {"train_subset": 50000, **study.budget}  # the study's, unless the file says
    budget.update({k: table[k].iloc[0].item() for k in ("train_subset", "epochs") if k in table})
    fields = {"base": base, "base_range": _range(base), "spread": 100 * (base.max - base.min),
              "split": ablation.METRIC_SHORT.get(metric, metric), "budget": budget,
              "n_variants": len(table)}
    if "{both_sides}" in ex.expect:  # the one-seed exercise's sentence, only where it is used
        fields["both_sides"] = _both_sides(table, ex.base)
    if ex.row:
        row = _Row(table.loc[ex.row])
        train_s = getattr(row, "train_s", math.nan)
        took = (f" Training took {train_s / 60:.1f} min per run where this was measured."
                if math.isfinite(train_s) else "")
        fields.update(row=row, row_name=ex.row, row_range=_range(row), took=took,
                      verdict="within" if abs(row.delta_points) <= fields["spread"] else "larger than")
    return fields


def _fill(notebook: str, index: int, tables: dict | None = None) -> tuple[str, str]:
    """The exercise's question and expectation, filled in from its results file (or a note
    that it has not been measured yet: the exercise runs themselves execute this notebook)."""
    import pandas as pd

    ex = EXERCISES[notebook][index]
    if ex.source == "course":
        try:
            return ex.question, ex.expect.format(**measured(notebook, index))
        except (LookupError, FileNotFoundError):
            return ex.question, NOT_MEASURED.format(prefix=notebook[:2])
    tables = {} if tables is None else tables  # one read per file for a whole notebook
    if ex.source not in tables:
        tables[ex.source] = pd.read_csv(_root() / ex.source).set_index("variant")
    fields = _table_fields(ex, tables[ex.source])
    return ex.question.format(**fields), ex.expect.format(**fields)


def expectation(notebook: str, index: int) -> str:
    """The exercise's expectation, filled in from its results file."""
    return _fill(notebook, index)[1]


def command(notebook: str, params: dict, output: str | None = None) -> str:
    """The papermill command of an exercise, run from ``notebooks/``
    (:func:`wic.experiments.ablation.papermill_command`: ``-p`` for numbers and words, one
    ``-y`` for booleans, lists and dicts; figures to ``runs/exercise-figures``)."""
    output = output or f"{params.get('out_name') or 'ex_' + notebook[:2]}.ipynb"
    return ablation.papermill_command(params, notebook=f"{notebook}.ipynb", output=output)


def exercises_markdown(notebook: str) -> str:
    """The notebook's exercises as Markdown: parameters, command, question, measured expectation."""
    lines, tables = [], {}
    for i, ex in enumerate(EXERCISES[notebook]):
        params = {**ex.params}
        if ex.row:  # an ablation variant: its change is its name, its budget the study's
            what = f"Train the ablation variant *{ex.row}* under its study's budget"
        else:
            what = "Set " + ", ".join(f"`{k}={v!r}`" for k, v in params.items())
        output = None if "out_name" in params else f"ex_{notebook[:2]}_{i + 1}.ipynb"
        source = ("measured by running this exercise" if ex.source == "course"
                  else f"from `{Path(ex.source).as_posix()}`")
        question, expect = _fill(notebook, i, tables)
        lines.append(f"{i + 1}. {what}:\n   `{command(ex.runs or notebook, params, output)}`\n"
                     f"   *Question:* {question}\n"
                     f"   *Expect* ({source}): {expect}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- measuring


def run(notebook_prefix: str, indices: list[int] | None = None, *, out: Path | None = None) -> Path:
    """Run a notebook's ``course`` exercises with papermill and store what they record."""
    import pandas as pd
    import papermill as pm

    from wic.experiments.record import ENV_VAR, read_jsonl

    config.absolutize_env()
    nb_dir = _root() / "notebooks"
    name = next(p.stem for p in nb_dir.glob(f"{notebook_prefix}*.ipynb"))
    out = out or _root() / RESULTS
    rows = (pd.read_csv(out, dtype={"value": str, "params": str}).to_dict("records")
            if out.is_file() else [])
    for i, ex in enumerate(EXERCISES[name]):
        if ex.source != "course" or (indices and i not in indices):
            continue
        with tempfile.TemporaryDirectory() as tmp:
            metrics = Path(tmp) / "metrics.jsonl"
            env = {ENV_VAR: str(metrics), "WIC_FIGURES_DIR": str(Path(tmp) / "figures"),
                   "WIC_RUNS_DIR": str(Path(tmp) / "runs")}
            old = {k: os.environ.get(k) for k in env}
            os.environ.update(env)
            t = time.perf_counter()
            try:
                pm.execute_notebook(nb_dir / f"{name}.ipynb", Path(tmp) / "out.ipynb",
                                    parameters=ex.params, kernel_name="python3", cwd=str(nb_dir),
                                    progress_bar=False)
            finally:
                for k, v in old.items():
                    os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
            seconds = time.perf_counter() - t
            latest = {e["name"]: e["value"] for e in read_jsonl(metrics)}
        rows = [r for r in rows if not (r["notebook"] == name and r["exercise"] == i)]
        rows += [{"notebook": name, "exercise": i, "params": json.dumps(ex.params),
                  "metric": k, "value": json.dumps(v), "run_s": round(seconds, 1),
                  "cpu": config.describe_cpu()} for k, v in latest.items()]
        print(f"{name} exercise {i + 1}: {len(latest)} metrics in {seconds:.0f} s", flush=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(out, index=False)
    return out


if __name__ == "__main__":  # python -m wic.experiments.course 01 [02 ...]
    for prefix in sys.argv[1:] or ["01", "02"]:
        run(prefix)
