"""The course's first notebooks (01-03) as committed: the shape of a lesson, exercises whose
expectations are the measured ones, and prose that agrees with the outputs beside it.

These read the executed notebooks in ``notebooks/`` (no kernel is started); re-publish a
notebook with ``wic pipeline --profile full --only NN --publish`` after changing it.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import nbformat
import pytest

from wic.experiments import course

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ["01_data_exploration", "02_model_construction", "03_training"]
NEXT = {"01_data_exploration": "02_model_construction.ipynb",
        "02_model_construction": "03_training.ipynb", "03_training": "04_tuning_ablations.ipynb"}


def _nb(name: str):
    return nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", 4)


def _texts(cell) -> str:
    """Everything a reader sees below a code cell: printed text and rendered Markdown."""
    out = []
    for o in cell.get("outputs", []):
        if o.get("output_type") == "stream":
            out.append(o["text"])
        else:
            out.append(o.get("data", {}).get("text/markdown", ""))
    return "".join(out)


def _all_text(nb) -> str:
    return "\n".join(c.source if c.cell_type == "markdown" else _texts(c) for c in nb.cells)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_a_lesson_opens_with_objectives_and_closes_with_what_was_learned(name):
    nb = _nb(name)
    first = nb.cells[0].source
    assert "**You will learn to**" in first and "**Builds on:**" in first
    objectives = re.findall(r"^\d\. ", first.split("**Builds on:**")[0], re.M)
    assert 2 <= len(objectives) <= 4
    if name != "01_data_exploration":  # the first lesson builds on nothing yet
        assert re.search(r"\]\(0\d_\w+\.ipynb\)", first.split("**Builds on:**")[1])
    md = [c.source for c in nb.cells if c.cell_type == "markdown"]
    assert any("## What we learned" in s for s in md)
    assert NEXT[name] in md[-1] and md[-1].startswith("Next:")


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_exercises_show_the_measured_expectations_of_today(name):
    """The rendered exercises are exactly what the results files say now, all measured."""
    nb = _nb(name)
    cells = [c for c in nb.cells if c.cell_type == "code" and "exercises_markdown" in c.source]
    assert len(cells) == 1
    shown = _texts(cells[0])
    assert shown == course.exercises_markdown(name)
    assert len(course.EXERCISES[name]) >= 3
    assert "not measured yet" not in shown
    for ex in course.EXERCISES[name]:
        assert "papermill" in course.command(name, ex.params)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_clean_outputs_no_stray_reprs_no_duplicate_figures(name):
    nb = _nb(name)
    seen = set()
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            assert o["output_type"] != "execute_result", (name, cell.source[:60])
            assert o["output_type"] != "error", (name, cell.source[:60])
            png = o.get("data", {}).get("image/png")
            if png:
                digest = hashlib.sha1("".join(png).encode()).hexdigest()
                assert digest not in seen, (name, "the same figure twice", cell.source[:60])
                seen.add(digest)
            text = o.get("data", {}).get("text/plain", "")
            assert not re.match(r"^\w+ = ", "".join(text)), (name, "a recorded metric's repr")


def test_course_figures_are_small():
    for path in sorted((ROOT / "figures").glob("course_*.png")):
        assert path.stat().st_size <= 200_000, path.name


def test_01_baselines_prose_agrees_with_its_numbers():
    text = _all_text(_nb("01_data_exploration"))
    m = re.search(r"right \*\*([\d.]+)%\*\* of the time .* classifier \*\*([\d.]+)%\*\*", text)
    assert m, "the baseline sentence is missing"
    knn, linear = (float(v) / 100 for v in m.groups())
    # "Both beat chance (10%) ... and both are far from useful"
    assert 0.10 < knn < 0.5 and 0.10 < linear < 0.5


def test_03_trains_course_fast_s_with_a_validation_split_and_shows_overfitting():
    nb = _nb("03_training")
    params = next(c.source for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    assert 'out_name = "course_fast_s"' in params
    assert re.search(r"^validation_split = 0\.\d+ ", params, re.M)
    text = _all_text(nb)
    assert "val_accuracy" in text  # the training log reports validation after every epoch
    assert re.search(r"validation images\s+[1-9][\d,]*", text)
    assert re.search(r"temperature \(on validation images\)\s+\d\.\d{3}", text)
    # the overfitting run parted (the honest branch of the generated sentence)
    assert "This is **overfitting**" in text
    m = re.search(r"a gap of (\d+) points", text)
    assert m and int(m.group(1)) > 10


def test_exercise_commands_use_papermill_types_correctly():
    cmd = course.command("03_training", {"recipe_overrides": {"label_smoothing": 0.0},
                                         "epochs": 3, "augment": True})
    assert "-p epochs 3" in cmd
    assert "-y '{augment: true, recipe_overrides: {label_smoothing: 0.0}}'" in cmd
    # one command builder for the whole course: exercise figures never land in figures/
    assert cmd.startswith("WIC_FIGURES_DIR=../runs/exercise-figures papermill 03_training.ipynb ")


def test_an_exercise_repeating_an_ablation_variant_runs_what_the_study_ran():
    from wic.experiments import ablation

    for name, exercises in course.EXERCISES.items():
        for ex in exercises:
            if ex.row is None:
                continue
            study = "fast" if ex.source == course.FAST_ABLATION else "seed"
            run = ablation.plan(variants=[ex.row], study=study)[0]
            assert {k: v for k, v in ex.params.items() if k != "out_name"} == \
                {k: v for k, v in run.items() if k not in ablation.SWEEP_ONLY}, (name, ex.row)
            assert ex.base == ablation.study_named(study).baseline


def test_02_formula_counts_agree_with_keras_and_the_seed_table():
    text = _all_text(_nb("02_model_construction"))
    m = re.search(r"Formula and Keras agree on (\d+) of (\d+) layers", text)
    assert m and m.group(1) == m.group(2)
    # the seed's published summary: 187,402 parameters, 576 non-trainable
    assert "'total': 187402, 'trainable': 186826, 'non_trainable': 576" in text


def test_parting_epoch_finds_where_validation_turns():
    from wic.evaluation import teaching

    h = {"loss": [2.0, 1.5, 1.0, 0.5], "val_loss": [2.1, 1.6, 1.8, 2.2],
         "accuracy": [0.3, 0.5, 0.7, 0.9], "val_accuracy": [0.3, 0.45, 0.44, 0.46]}
    p = teaching.parting_epoch(h)
    assert p["best_epoch"] == 2 and p["train_loss_falls"]
    assert p["final_gap"] == pytest.approx(0.44) and p["gap_at_best"] == pytest.approx(0.05)


def test_thumbnails_are_small_palette_pngs_and_baselines_work_on_toy_data():
    import numpy as np

    from wic.data import explore
    from wic.evaluation import teaching

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (60, 32, 32, 3), dtype=np.uint8)  # noise: the worst case for PNG
    y = np.repeat(np.arange(10), 6)
    png = teaching.thumbnail_rows(teaching.class_sample_rows(x, y), [str(c) for c in range(10)],
                                  title="noise")
    assert png[:4] == b"\x89PNG" and len(png) < 150_000
    # two well-separated clusters: both baselines get them right
    xs = np.concatenate([np.zeros((20, 32, 32, 3), np.uint8), np.full((20, 32, 32, 3), 200, np.uint8)])
    ys = np.repeat([0, 1], 20)
    assert explore.nearest_neighbour_accuracy(xs, ys, xs, ys, k=3) == 1.0
    assert explore.linear_accuracy(xs, ys, xs, ys) == 1.0
    assert teaching.neighbour_agreement(xs.reshape(40, -1).astype(float), ys) == 1.0


@pytest.mark.parametrize("name", ["seed_v1_3", "airbench_cpu_s", "airbench94_cpu"])
def test_penultimate_features_for_every_kind_of_net_03_trains(name, tmp_path):
    """03's t-SNE reads the last Dense layer's input: from a Sequential net (the seed, whose
    `model.input` Keras 3 refuses), a functional one (the fast nets, TTA switched off and back
    on) and both after a save and load."""
    import numpy as np

    from wic import models
    from wic.backend import keras
    from wic.evaluation import teaching
    from wic.models import airbench

    x = np.random.default_rng(0).integers(0, 256, (6, 32, 32, 3), dtype=np.uint8)
    model = models.build(name)
    head = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)][-1]
    features = teaching.penultimate_features(model, x, batch=4)
    assert features.shape == (6, head.kernel.shape[0]) and np.isfinite(features).all()
    if isinstance(model, keras.Sequential):  # the head is the last layer: it reproduces the output
        np.testing.assert_allclose(np.asarray(head(features)),
                                   np.asarray(model(x.astype(np.float32) / 255.0, training=False)),
                                   rtol=1e-4, atol=1e-5)
    assert airbench.tta_level(model) is None or all(
        layer.enabled for layer in model.layers if isinstance(layer, airbench._TTABase))
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(teaching.penultimate_features(loaded, x), features, rtol=1e-4, atol=1e-5)
