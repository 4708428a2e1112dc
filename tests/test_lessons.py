"""Notebooks 04-07 as committed: the shape of a lesson, exercises with measured expectations,
and prose that agrees with the outputs beside it.

These read the executed notebooks in ``notebooks/`` (no kernel is started) and the result files
their numbers come from (``figures/ablation_summary.csv``, ``benchmarks/results/*.csv``, the
model cards). A notebook whose text and outputs disagree on a checked number fails here;
re-publish it with ``wic pipeline --profile full --only NN --publish`` after changing it.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from wic import cards
from wic.experiments import ablation, course, nbtools
from wic.experiments.nbtools import WIDGET_VIEW

ROOT = Path(__file__).resolve().parents[1]
LESSONS = ["04_tuning_ablations", "05_evaluation", "06_interactive_classifier", "07_fast_recipe"]
NEXT = {"04_tuning_ablations": "(05_evaluation.ipynb)",
        "05_evaluation": "(06_interactive_classifier.ipynb)",
        "06_interactive_classifier": "(07_fast_recipe.ipynb)",
        "07_fast_recipe": "(01_data_exploration.ipynb)"}
MINE = ["04_tuning_ablations", "06_interactive_classifier", "07_fast_recipe"]


def _nb(name: str):
    return nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", 4)


def _out(cell) -> str:
    return nbtools.shown_text(cell)


def _reader_text(nb) -> str:
    return "\n".join(nbtools.shown_text(c) for c in nb.cells)


def _cell(nb, needle: str):
    return next(c for c in nb.cells if needle in c.source)


def _summary_csv() -> pd.DataFrame:
    return pd.read_csv(ROOT / "figures" / "ablation_summary.csv", index_col="variant")


@pytest.mark.parametrize("name", LESSONS)
def test_a_lesson_opens_with_objectives_and_ends_with_what_was_learned_and_next(name):
    nb = _nb(name)
    first = nb.cells[0].source
    assert "**You will learn to**" in first and "**Builds on:**" in first, name
    objectives = re.findall(r"^\d\. ", first.split("**Builds on:**")[0], re.M)
    assert 2 <= len(objectives) <= 4, objectives
    earlier = re.findall(r"\]\((0\d)_\w+\.ipynb\)", first.split("**Builds on:**")[1])
    assert earlier and all(n < name[:2] for n in earlier), earlier
    md = [c.source for c in nb.cells if c.cell_type == "markdown"]
    assert any("## What we learned" in s for s in md), name
    assert NEXT[name] in md[-1] and "Next" in md[-1], md[-1][-200:]


@pytest.mark.parametrize("name", MINE)
def test_three_or_more_exercises_each_a_command_a_question_and_a_measured_expectation(name):
    text = _reader_text(_nb(name))
    exercises = text.split("## Exercises", 1)[1]
    items = re.split(r"^\d\. ", exercises, flags=re.M)[1:]
    assert len(items) >= 3, name
    for item in items:
        assert "*Question:*" in item and "*Expect" in item, item[:200]
    assert "papermill" in exercises


@pytest.mark.parametrize("name", MINE)
def test_committed_lessons_carry_no_dead_widgets_or_stray_reprs(name):
    for cell in _nb(name).cells:
        for o in cell.get("outputs", []):
            data = o.get("data", {})
            assert WIDGET_VIEW not in data, (name, cell.source[:80])  # a frozen progress bar
            if o.get("output_type") == "execute_result":  # an image, never a bare repr
                assert set(data) - {"text/plain"}, (name, data.get("text/plain"))
            assert o.get("output_type") != "error", name


# ----------------------------------------------------------------------------- 04


def test_04_table_conclusions_and_prose_are_the_committed_sweep():
    nb = _nb("04_tuning_ablations")
    summary = _summary_csv()
    printed = _out(_cell(nb, "shown = summary.rename"))
    for variant, row in summary.iterrows():  # the printed table is the committed CSV
        line = next(ln for ln in printed.splitlines() if ln.startswith(variant))
        numbers = [float(x) for x in line[len(variant):].split()]
        assert numbers[0] == row["runs"] and abs(numbers[1] - row["mean"]) < 1e-4, line
    runs = _out(_cell(nb, "values.parameters("))
    n_seeds = int(re.search(r"x (\d+) seeds", runs).group(1))
    assert set(summary["runs"]) == {n_seeds}  # "N seeds" in the setup line = the table's
    conclusions = _out(_cell(nb, "ablation.conclusions("))
    metric = summary["metric"].iloc[0]
    budget = {**ablation.BUDGET, "train_subset": int(summary["train_subset"].iloc[0]),
              "epochs": int(summary["epochs"].iloc[0])}
    for line in ablation.conclusions(summary, budget, metric=metric):
        assert line.split(";")[0] in conclusions, line

    prose = _out(_cell(nb, "## How to read this")).replace("\n  ", " ")
    std = (100 * summary["std"]).round(1)
    assert f"ranges from {std.min():.1f} points ({std.idxmin()}) to {std.max():.1f} points " \
           f"({std.idxmax()})" in prose
    worst = summary["delta_points"].idxmin()
    assert f"**{worst}** ({summary.loc[worst, 'delta_points']:+.1f} points)" in prose
    train = int(budget["train_subset"] * 0.8)
    assert f"on the {train:,} training images left" in prose


def test_04_exercises_are_rendered_from_the_committed_sweep():
    nb = _nb("04_tuning_ablations")
    shown = _out(_cell(nb, 'course.exercises_markdown("04_tuning_ablations")'))
    assert shown.strip() == course.exercises_markdown("04_tuning_ablations").strip()


def test_04_says_which_split_ranks_the_variants():
    nb = _nb("04_tuning_ablations")
    intro = nb.cells[0].source
    params = _cell(nb, "metric =").source
    ranked_by = re.search(r'metric = "(\w+)"', params).group(1)
    assert ranked_by == "best_val_accuracy" and "ranked on **validation**" in intro.replace("\n", " ")
    assert "touched last" in intro
    assert set(_summary_csv()["metric"]) == {ranked_by}  # the committed table is that ranking
    chosen = _out(_cell(nb, "ablation.final_test_score("))
    assert chosen.startswith(("Chosen on validation:", "No variant beat the baseline"))


# ----------------------------------------------------------------------------- 05


def _pct(text: str) -> float:
    return float(text.rstrip("%")) / 100


def test_05_gives_the_accuracy_its_standard_error_and_exercise_4_its_range():
    from wic.evaluation import metrics
    from wic.serving.classifier import resolve_model_path

    nb = _nb("05_evaluation")
    # the headline accuracy carries the standard error of its own count of images
    line = _out(_cell(nb, "se = metrics.accuracy_standard_error(ev.accuracy, len(y_test))"))
    m = re.search(r"test accuracy on ([\d,]+) images: ([\d.]+%) ± ([\d.]+%).* within two standard "
                  r"errors, ([\d.]+%) to ([\d.]+%)", line)
    assert m, line
    n, acc, se, lo, hi = int(m[1].replace(",", "")), _pct(m[2]), _pct(m[3]), _pct(m[4]), _pct(m[5])
    assert se == pytest.approx(metrics.accuracy_standard_error(acc, n), abs=5e-5)
    assert (lo, hi) == pytest.approx((acc - 2 * se, acc + 2 * se), abs=2e-4)
    # exercise 4's range is the page's default card's accuracy, two standard errors either side
    card = cards.read_card(resolve_model_path(None))
    text = " ".join(_out(_cell(nb, "se_few = metrics.accuracy_standard_error")).split())
    acc, few = card["test_accuracy"], 1000
    se_few = metrics.accuracy_standard_error(acc, few)
    se_all = metrics.accuracy_standard_error(acc, card["test_examples"])
    assert f"`-p model_name None -p test_subset {few}`" in text  # a number papermill reads
    assert f"one standard error on {few:,} images is {se_few:.2%}" in text
    assert f"{card['test_examples']:,}: {se_all:.2%}, {se_few / se_all:.1f} times smaller" in text
    assert (f"between {acc - 2 * se_few:.1%} and {acc + 2 * se_few:.1%}, two standard errors "
            f"either side of the card's {acc:.1%}") in text


# ----------------------------------------------------------------------------- 06


def test_06_shows_the_screenshot_and_its_exercises_match_the_cards():
    nb = _nb("06_interactive_classifier")
    shot = _cell(nb, "page_screenshot()")
    assert any("image/png" in o.get("data", {}) for o in shot.outputs)
    assert (ROOT / "figures" / "app_page.png").is_file()
    text = _cell(nb, "## Exercises").source.replace("\n   ", " ")
    from wic.serving.classifier import (
        ACCURACY_TOLERANCE,
        believable,
        default_model,
        robustness_mean,
    )

    # the default the exercises name is the one the page's rule picks (the most accurate shipped
    # model), and the most robust shipped model is the one exercise 3 contrasts with it

    shipped = cards.catalogue(ROOT / "models")
    default = default_model(shipped)["name"]
    best = max(shipped, key=lambda r: r["card"]["test_accuracy"])["name"]
    robustest = max(shipped, key=lambda r: robustness_mean(r["card"]))["name"]
    assert f"with the default (`{default}`)" in text and best == default != robustest
    card = {r["name"]: r["card"] for r in shipped}
    acc = {m: card[m]["test_accuracy"] for m in card}
    assert f"{acc['seed_v1_3']:.2%} test accuracy for `seed_v1_3`" in text
    assert f"{acc[default]:.2%} for `{default}`" in text
    one_in = {m: round(1 / (1 - acc[m])) for m in ("seed_v1_3", default)}
    assert f"one picture in {one_in['seed_v1_3']} wrong against one in {one_in[default]}" in text
    params = {m: card[m]["parameters"]["total"] for m in card}
    assert f"its card gives {acc['fast_cpu_v2']:.2%} test accuracy ({params['fast_cpu_v2']:,}" in text
    assert f"against {params[default]:,})" in text
    assert "a ninth of" in text and round(params[default] / params["fast_cpu_v2"]) == 9
    ece = {m: card[m]["calibration"]["test_ece_after"] for m in card}
    assert f"after scaling are {ece['fast_cpu_v2']:.3f} and {ece[default]:.3f}" in text
    assert all(believable(card[m]) for m in ("fast_cpu_v2", default))  # fitted on held-out images
    robust = {m: card[m]["robustness"]["mean_accuracy"] for m in (robustest, default)}
    assert f'`model_name = "{robustest}"`, the most robust shipped model' in text
    # "the default's net, trained on noisy, blurred and re-coloured pictures"
    assert "the most robust shipped model: the default's net, trained on noisy" in text
    assert card[robustest]["registry_model"] == card[default]["registry_model"]
    assert (f"gives {acc[robustest]:.2%} on the test set and {robust[robustest]:.1%} on CIFAR-10-C "
            f"(regenerated), against {acc[default]:.2%} and {robust[default]:.1%} for the default"
            in text)
    gap = acc[default] - acc[robustest]
    assert gap > ACCURACY_TOLERANCE and f"this one is {gap * 100:.2f} points below it" in text
    assert card[robustest]["recipe"]["noise"] > 0 and card[robustest]["recipe"]["blur"] > 0
    assert card[default]["recipe"]["noise"] == card[default]["recipe"]["blur"] == 0  # "never saw noise or blur"
    assert f"compare `seed_v1_3` with `{default}`" in text


@pytest.mark.slow
def test_06_grad_cam_grid_sizes_are_the_nets_last_convolutions():
    from wic import models
    from wic.evaluation import explain

    text = _cell(_nb("06_interactive_classifier"), "## Exercises").source
    size = {}
    for name in ("seed_v1_3", "airbench_cpu_s", "airbench94_cpu"):
        shape = explain.last_spatial_layer(models.build(name)).output.shape
        size[name] = f"{shape[1]}×{shape[2]}"
    assert size["airbench_cpu_s"] == size["airbench94_cpu"]
    assert f"{size['seed_v1_3']} for `seed_v1_3`, {size['airbench_cpu_s']} for the fast nets" in text


# ----------------------------------------------------------------------------- 07


def test_07_ablation_and_exercises_are_the_benchmark_csvs():
    nb = _nb("07_fast_recipe")
    summary = pd.read_csv(ROOT / "benchmarks" / "results" / "fast_ablation_summary.csv",
                          index_col="variant")
    printed = _out(_cell(nb, 'summary = pd.read_csv(results / "fast_ablation_summary.csv"'))
    for variant, row in summary.iterrows():
        line = next(ln for ln in printed.splitlines() if ln.startswith(variant))
        assert abs(float(line[len(variant):].split()[1]) - row["mean"]) < 1e-4, line
    exercises = _out(_cell(nb, 'course.exercises_markdown("07_fast_recipe")'))
    assert exercises.strip() == course.exercises_markdown("07_fast_recipe").strip()
    assert len(re.findall(r"^\d\. ", exercises, re.M)) >= 3


def _prose_allowances() -> dict[str, set[str]]:
    """Per notebook, the numbers its Markdown may quote because they are settings, targets or
    quotations, not measurements; derived from the code where the code holds them."""
    from wic import CLASS_NAMES
    from wic.training import recipe_named

    split = f"{recipe_named('seed').validation_split:.0%}"  # the seed recipe's validation split
    return {
        "01_data_exploration": {f"{1 / len(CLASS_NAMES):.0%}"},  # chance: one class in ten
        "02_model_construction": {"94%", "3.29 seconds"},  # airbench's published title, quoted
        "03_training": {"100%"},  # "pushed to be 100% sure": a certainty, not a result
        "04_tuning_ablations": {split},
        "05_evaluation": {"90%"},  # "does '90% sure' mean right 90% of the time?"
        "06_interactive_classifier": set(),
        # the seed's 78% (the race's name), a share, the seed's split, the backends' decision
        # rule, the 94% target of the fewer-epochs study
        "07_fast_recipe": {"78%", "100%", split, "1.3x", "94%"},
    }


@pytest.mark.parametrize("name", sorted(_prose_allowances()))
def test_lesson_prose_has_no_hand_written_measurements(name):
    """Every measured number in a lesson is printed by a cell: its Markdown cells quote none
    (percentages, minutes, seconds, ratios), except the settings, targets and quotations allowed
    above. 06's exercises quote the cards and are checked against them
    (test_06_shows_the_screenshot_and_its_exercises_match_the_cards); 07's closing list of
    sources names the benchmark scripts' own targets."""
    allowed = _prose_allowances()[name]
    checked_elsewhere = {"06_interactive_classifier": "## Exercises",
                         "07_fast_recipe": "## Where the numbers come from"}.get(name)
    cells = [c for c in _nb(name).cells if c.cell_type == "markdown"]
    assert cells, name
    for cell in cells:
        if checked_elsewhere and checked_elsewhere in cell.source:
            continue
        found = set(re.findall(r"\d+(?:\.\d+)?%", cell.source))
        found |= set(re.findall(r"\d+(?:\.\d+)? ?(?:min(?:utes)?|s|seconds)\b", cell.source))
        found |= set(re.findall(r"\bx\d+\.\d+|\d+\.\d+x\b", cell.source))
        assert not found - allowed, (name, found - allowed, cell.source[:120])


def test_07_describes_the_wider_net_as_the_registry_builds_it():
    from wic import models

    text = " ".join(next(c.source for c in _nb("07_fast_recipe").cells
                         if c.cell_type == "markdown" and "`airbench94_cpu_wide`:" in c.source).split())
    wide = models.spec("airbench94_cpu_wide").defaults["widths"]
    base = models.spec("airbench94_cpu").defaults["widths"]
    assert wide[0] == base[0] and base[1] == base[2]  # what "the last two blocks" says
    assert (f"`airbench94_cpu_wide`: {wide[1]} and {wide[2]} filters in the last two blocks "
            f"instead of {base[1]}") in text
