"""The course's exercises: a parameter change, a question, and a *measured* expectation.

Each exercise of notebooks 01-03 names the papermill parameters to change, asks a question,
and says what to expect with numbers read from a results file — never typed by hand:

- ``source="course"``: ``benchmarks/results/course_exercises.csv``, written by running the
  exercise itself (``python -m wic.experiments.course 01``: papermill with the exercise's
  parameters, the metrics the notebook records read back);
- a results CSV with one row per variant (the ablation summaries): the exercise's ``row``
  against the study's ``base`` row.

The notebooks render :func:`exercises_markdown`; ``tests/test_course.py`` checks the
committed notebooks show exactly what the files say today.

One command builder and one definition of each study's runs serve the whole course: the
commands are :func:`wic.experiments.ablation.papermill_command` (figures to ``runs/``, never
the committed ``figures/``), and an exercise that repeats an ablation variant takes its
parameters from the study itself (:func:`study_run`), so it runs what was measured. Notebooks
04 and 07 render theirs with :func:`wic.experiments.ablation.exercise`, which fills the
expectation from the same summaries with one fixed sentence.
"""

from __future__ import annotations

import json
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


@dataclass(frozen=True)
class Exercise:
    params: dict
    question: str
    expect: str  # a template: the measured values by name (``course``) or ``row`` / ``base``
    source: str | Path = "course"
    row: str | None = None  # the variant of an ablation summary
    base: str | None = None  # ... and the row it is compared with
    extra: dict = field(default_factory=dict)  # parameters that reproduce the file's budget


def study_run(study: str, variant: str, out_name: str) -> dict:
    """Notebook 03's parameters for one variant of an ablation study, exactly as its sweep ran
    it (less :data:`~wic.experiments.ablation.SWEEP_ONLY`: a student sees the whole lesson)."""
    run = ablation.plan(variants=[variant], study=study)[0]
    return {**{k: v for k, v in run.items() if k not in ablation.SWEEP_ONLY}, "out_name": out_name}


def _ablation_exercise(study: str, variant: str, out_name: str, question: str,
                       expect: str) -> Exercise:
    st = ablation.study_named(study)
    source = FAST_ABLATION if study == "fast" else SEED_ABLATION
    return Exercise(study_run(study, variant, out_name), question, expect, source, variant,
                    st.baseline)


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
            "{row.mean:.2%} test accuracy (mean of {row.runs:.0f} seeds, "
            "{row.min:.2%}-{row.max:.2%}) against {base.mean:.2%} with smoothing: "
            "{row.delta_points:+.2f} points."),
        _ablation_exercise(
            "fast", "no lookahead", "ex_no_lookahead",
            "is the change bigger than the spread between two seeds of the same recipe?",
            "{row.mean:.2%} against {base.mean:.2%} ({row.delta_points:+.2f} points), while "
            "two seeds of the recipe as is differ by {spread:.2f} points: the change is "
            "{verdict} the seed-to-seed spread."),
        _ablation_exercise(
            "seed", "SGD + momentum 0.9, lr 0.01 (not Adam)", "ex_seed_sgd",
            "plain SGD with momentum instead of Adam, on the seed net: which learns faster "
            "in 10 epochs?",
            "{row.mean:.2%} with SGD against {base.mean:.2%} with Adam (means of "
            "{row.runs:.0f} seeds, {row.delta_points:+.2f} points)."),
        _ablation_exercise(
            "seed", "data augmentation (crop + flip)", "ex_seed_augment",
            "does augmentation help the seed net within 10 epochs on 5,000 images?",
            "{row.mean:.2%} with crops and flips against {base.mean:.2%} without "
            "({row.delta_points:+.2f} points, means of {row.runs:.0f} seeds): a harder "
            "training set {helps} in a budget this short."),
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


def expectation(notebook: str, index: int) -> str:
    """The exercise's expectation, filled in from its results file (or a note that it has not
    been measured yet: the exercise runs themselves execute this notebook)."""
    import pandas as pd

    ex = EXERCISES[notebook][index]
    if ex.source == "course":
        try:
            return ex.expect.format(**measured(notebook, index))
        except (LookupError, FileNotFoundError):
            return NOT_MEASURED.format(prefix=notebook[:2])
    table = pd.read_csv(_root() / ex.source).set_index("variant")
    row, base = _Row(table.loc[ex.row]), _Row(table.loc[ex.base])
    spread = 100 * (base.max - base.min)
    return ex.expect.format(
        row=row, base=base, spread=spread,
        verdict="within" if abs(row.delta_points) <= spread else "larger than",
        helps="helps" if row.delta_points > 0 else "does not help")


def command(notebook: str, params: dict, output: str | None = None) -> str:
    """The papermill command of an exercise, run from ``notebooks/``
    (:func:`wic.experiments.ablation.papermill_command`: ``-p`` for numbers and words, one
    ``-y`` for booleans, lists and dicts; figures to ``runs/exercise-figures``)."""
    output = output or f"{params.get('out_name') or 'ex_' + notebook[:2]}.ipynb"
    return ablation.papermill_command(params, notebook=f"{notebook}.ipynb", output=output)


def exercises_markdown(notebook: str) -> str:
    """The notebook's exercises as Markdown: parameters, command, question, measured expectation."""
    lines = []
    for i, ex in enumerate(EXERCISES[notebook]):
        params = {**ex.params}
        if ex.row:  # an ablation variant: its change is its name, its budget the study's
            what = f"Train the ablation variant *{ex.row}* under its study's budget"
        else:
            what = "Set " + ", ".join(f"`{k}={v!r}`" for k, v in params.items())
        output = None if "out_name" in params else f"ex_{notebook[:2]}_{i + 1}.ipynb"
        source = ("measured by running this exercise" if ex.source == "course"
                  else f"from `{Path(ex.source).as_posix()}`")
        lines.append(f"{i + 1}. {what}:\n   `{command(notebook, params, output)}`\n"
                     f"   *Question:* {ex.question}\n"
                     f"   *Expect* ({source}): {expectation(notebook, i)}")
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
