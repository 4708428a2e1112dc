"""The ablation studies (wic.experiments.ablation) and the recipe changes they drive."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from wic import training, values
from wic.experiments import ablation


@pytest.mark.parametrize("name", list(ablation.STUDIES))
def test_every_run_is_the_budget_plus_one_change(name):
    study = ablation.study_named(name)
    runs = ablation.plan(study=name)
    assert len(runs) == len(study.variants)
    # the baseline changes nothing; every sweep run skips notebook 03's teaching demos
    assert runs[0] == {**study.budget, **study.fixed, "demos": False}
    # what notebook 03's own defaults would otherwise decide is pinned by the study
    assert "validation_split" in study.fixed
    for run, change in zip(runs[1:], list(study.variants.values())[1:]):
        assert change, "a variant must change something"
        assert {k: run[k] for k in study.budget if k not in change} == \
            {k: v for k, v in study.budget.items() if k not in change}
        assert {k: run[k] for k in change} == change


def test_an_exercise_is_the_studys_run_with_measured_expectations(tmp_path, monkeypatch):
    """Notebook 04's exercises: notebook 03's command for the study's run, the expectation
    read from the summary file 04 wrote (its split and budget included)."""
    from wic.experiments import course

    summary = ablation.summarize(_table({ablation.BASELINE: [0.44, 0.45, 0.46],
                                         "no dropout": [0.50, 0.51, 0.52],
                                         "batch size 128 (not 32)": [0.20, 0.46, 0.30],
                                         "SGD + momentum 0.9, lr 0.01 (not Adam)": [0.40, 0.41, 0.42]}))
    (tmp_path / "figures").mkdir()
    summary.assign(metric="best_val_accuracy", train_subset=3000, epochs=6).to_csv(
        tmp_path / course.SEED_ABLATION, index_label="variant")
    monkeypatch.setattr(course, "_root", lambda: tmp_path)
    text = course.exercises_markdown("04_tuning_ablations")
    assert "papermill 03_training.ipynb ex_no_dropout.ipynb -p model_name seed_v1_3" in text
    assert "-p validation_split 0.2" in text and "-y '{model_kwargs: {dropout: [0.0, 0.0, 0.0]}}'" in text
    assert "**no dropout** 51.0% (mean of 3 seeds, 50.0%–52.0%) against the baseline's 45.0%" in text
    assert "demos" not in text  # a student's run shows the whole lesson
    # the one-seed exercise names the variant whose seeds straddle the baseline's mean
    assert "papermill 04_tuning_ablations.ipynb ex_04_1.ipynb -y '{seeds: [0]}'" in text
    assert "the same ranking as 3 seeds do?" in text
    assert "**batch size 128 (not 32)** 20.0%–46.0% lay on both sides" in text
    assert "**no dropout** 50.0%" not in text.split("both sides")[0].split("seeds of")[-1]
    # the split that ranked them and the file's budget, not the study's defaults
    assert "41.00% validation accuracy with SGD against 45.00% with Adam" in text
    assert "which learns faster in 6 epochs?" in text


def test_the_test_set_is_scored_once_for_the_variant_chosen_on_validation():
    rows = []
    for v, (val, test) in {ablation.BASELINE: ([0.40, 0.42], [0.41, 0.43]),
                           "no dropout": ([0.50, 0.52], [0.47, 0.49]),
                           "no BatchNorm": ([0.30, 0.32], [0.60, 0.62])}.items():
        rows += [{"variant": v, "seed": s, "status": "ok", "best_val_accuracy": a,
                  "test_accuracy": t} for s, (a, t) in enumerate(zip(val, test))]
    table = pd.DataFrame(rows)
    summary = ablation.summarize(table, metric="best_val_accuracy")
    text = ablation.final_test_score(table, summary, metric="best_val_accuracy")
    # chosen by validation (not by the better test score of "no BatchNorm")
    assert text.startswith("Chosen on validation: **no dropout** (51.0% validation accuracy, +10.0")
    assert "48.0% ± 1.4% (2 seeds) against the baseline's 42.0% ± 1.4% (2 seeds): +6.0 points" in text
    assert "confirms the choice" in text
    ranked_on_test = ablation.final_test_score(table, ablation.summarize(table), metric="test_accuracy")
    assert "no longer a fair estimate" in ranked_on_test and "**no BatchNorm**" in ranked_on_test


def test_unknown_study_or_variant_is_refused_with_the_accepted_names():
    with pytest.raises(ValueError, match="unknown study 'nope'; accepted: seed, fast"):
        ablation.study_named("nope")
    with pytest.raises(ValueError, match="no lookahead"):
        ablation.plan(variants=["no lookahead"], study="seed")  # a fast variant, seed study


def test_fast_variants_are_valid_recipes_and_builder_arguments():
    from wic import models

    base = training.recipe_named("fast")
    for change in ablation.FAST_VARIANTS.values():
        recipe = base.with_(**change.get("recipe_overrides", {}))
        for field, value in change.get("recipe_overrides", {}).items():
            assert getattr(recipe, field) == value != getattr(base, field)
        kwargs = change.get("model_kwargs")
        if kwargs:
            model = models.build("airbench_cpu_s", widths=(4, 8, 8), **kwargs)
            assert model.output_shape == (None, 10)


def test_budget_text_names_the_images():
    fast = ablation.study_named("fast")
    assert fast.budget_text() == "fast recipe, small fast net (airbench_cpu_s), all 50,000 images, 3 epochs"
    assert "1,000 images, 5 epochs" in fast.budget_text({"train_subset": 1000, "epochs": 5})
    assert ablation.study_named("seed").budget_text({"train_subset": 5000, "epochs": 10}) == \
        "seed recipe, 5,000 images, up to 10 epochs"


def _table(accuracies: dict[str, list[float]]) -> pd.DataFrame:
    rows = [{"variant": v, "seed": s, "status": "ok", "test_accuracy": a, "train_wall_time_s": 100.0 + s}
            for v, accs in accuracies.items() for s, a in enumerate(accs)]
    rows.append({"variant": "no lookahead", "seed": 9, "status": "failed", "test_accuracy": np.nan,
                 "train_wall_time_s": np.nan})
    return pd.DataFrame(rows)


def test_summary_and_conclusions_with_several_seeds():
    base = ablation.FAST_BASELINE
    table = _table({base: [0.850, 0.852, 0.848], "no lookahead": [0.820, 0.822, 0.818],
                    "no translation (not 2 px)": [0.851, 0.849, 0.853],
                    "no patch whitening (a trainable 2x2 conv)": [0.870, 0.872, 0.868]})
    summary = ablation.summarize(table, study="fast")
    assert list(summary.index) == [base, "no patch whitening (a trainable 2x2 conv)", "no lookahead",
                                   "no translation (not 2 px)"]  # the study's order
    assert summary.loc["no lookahead", "runs"] == 3  # the failed run is not counted
    assert summary.loc["no lookahead", "delta_points"] == pytest.approx(-3.0)
    lines = ablation.conclusions(summary, study="fast")
    assert lines[0].startswith("Baseline (fast recipe, small fast net (airbench_cpu_s), all 50,000 images, 3 epochs): "
                               "test accuracy 0.850 ± 0.002 over 3 seeds")
    text = "\n".join(lines)
    assert "no lookahead: 0.820 ± 0.002 — hurts: -3.0 points" in text
    assert "no patch whitening (a trainable 2x2 conv): 0.870 ± 0.002 — helps: +2.0 points" in text
    assert "no translation (not 2 px): 0.851 ± 0.002 — no clear effect at this budget " \
           "(within the seed-to-seed spread)" in text


def test_one_run_per_variant_needs_half_a_point():
    base = ablation.FAST_BASELINE
    summary = ablation.summarize(_table({base: [0.850], "no lookahead": [0.846],
                                         "float32 (not bfloat16)": [0.840]}), study="fast")
    text = "\n".join(ablation.conclusions(summary, study="fast"))
    assert "test accuracy 0.850 (one run)" in text
    assert "no lookahead: 0.846 — no clear effect at this budget (within half a point)" in text
    assert "float32 (not bfloat16): 0.840 — hurts: -1.0 points" in text


def test_summarize_without_any_finished_run_names_the_errors():
    table = pd.DataFrame([{"variant": ablation.BASELINE, "seed": 0, "status": "failed",
                           "test_accuracy": np.nan, "error_message": "ParameterError: epochs=-1"}])
    with pytest.raises(ValueError, match="epochs=-1"):
        ablation.summarize(table)


def test_plot_draws_one_row_per_variant(tmp_path):
    base = ablation.FAST_BASELINE
    table = _table({base: [0.85], "no lookahead": [0.84]})
    summary = ablation.summarize(table, study="fast")
    fig = ablation.plot(table, summary, study="fast", path=tmp_path / "a.png")
    assert (tmp_path / "a.png").stat().st_size > 10_000
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels == [base, "no lookahead"]


def test_recipe_overrides_are_checked_like_parameters():
    base = training.recipe_named("fast")
    named, overrides = {"epochs": 2}, {"lookahead": False}
    recipe = base.with_(**named, **overrides)  # how notebook 03 applies recipe_overrides
    assert recipe.lookahead is False and recipe.epochs == 2 and base.lookahead is True
    with pytest.raises(values.ParameterError, match=r"unknown recipe field\(s\) label_smothing; "
                                                    r"accepted: .*label_smoothing"):
        base.with_(label_smothing=0.0)
    with pytest.raises(TypeError, match="multiple values for keyword argument 'epochs'"):
        base.with_(**{"epochs": 3}, **named)  # one or the other
    with pytest.raises(values.ParameterError, match="^flip='sideways' is invalid; accepted: one of "
                                                    "random, alternate, none$"):
        base.with_(flip="sideways")
    with pytest.raises(values.ParameterError, match="^lookahead='maybe' is invalid; accepted: "):
        base.with_(lookahead="maybe")
    assert base.with_(lookahead="false").lookahead is False  # papermill text is parsed


def test_wic_train_sets_any_recipe_field_and_builder_argument():
    from wic import cli

    args = cli.build_parser().parse_args(["train", "--recipe", "fast", "--set", "lookahead=False",
                                          "--set", "flip=random", "--set", "translate=0"])
    recipe = cli._recipe_from_args(args)
    assert (recipe.lookahead, recipe.flip, recipe.translate) == (False, "random", 0)
    args = cli.build_parser().parse_args(["train", "--model", "airbench_cpu_s", "--model-arg",
                                          "widths=(8, 16, 16)", "--model-arg", "whiten=False",
                                          "--model-arg", "bias_scale=1"])
    assert cli._model_kwargs(args) == {"widths": (8, 16, 16), "whiten": False, "bias_scale": 1.0}
    assert type(cli._model_kwargs(args)["bias_scale"]) is float  # typed by the builder's default


@pytest.mark.parametrize("argv, message", [
    (["--set", "lookahed=False"], "unknown recipe field(s) lookahed; accepted: "),
    (["--set", "flip=sideways"], "flip='sideways' is invalid; accepted: one of random, alternate, none"),
    (["--set", "lookahead"], "--set 'lookahead': accepted: NAME=VALUE"),
    (["--model-arg", "colour=1"], "--model-arg colour: not an argument of airbench_cpu_s; accepted: "),
    (["--model-arg", "whiten=maybe"], "whiten='maybe' is invalid; accepted: true/false, yes/no or 1/0"),
    (["--test-subset", "0"], "--test-subset 0: accepted: 1 to 10,000 (the first N test images"),
    (["--test-subset", "10001"], "--test-subset 10001: accepted: 1 to 10,000"),
])
def test_wic_train_refuses_bad_settings_before_loading_data(argv, message, capsys, monkeypatch):
    from wic import cli

    monkeypatch.setenv("WIC_DATA_DIR", "/nonexistent")  # reaching the data would be another error
    try:
        code = cli.main(["train", "--model", "airbench_cpu_s", "--recipe", "fast", *argv])
    except SystemExit as exc:
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"wic train: error: {message}") and err.count("\n") == 1, err


def test_sweep_only_parameters_are_notebook_03_parameters_and_label_runs_matches_them():
    from pathlib import Path

    import nbformat

    from wic.experiments import sweep

    nb = nbformat.read(Path(__file__).resolve().parents[1] / "notebooks" / "03_training.ipynb", 4)
    params = next(c.source for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    for name, value in ablation.SWEEP_ONLY.items():
        assert f"\n{name} = " in f"\n{params}", name  # papermill would inject an unknown name silently
        assert value is not True, "a sweep switches the demos off"
    notebook = Path("03_training.ipynb")
    run = ablation.plan(variants=["no dropout"])[0]
    table = pd.DataFrame({"run_id": [sweep.run_id(notebook, {**run, "seed": 1})], "seed": [1]})
    labelled = ablation.label_runs(table, notebook, variants=[ablation.BASELINE, "no dropout"])
    assert labelled["variant"].tolist() == ["no dropout"]


def test_training_time_is_compared_within_a_seed():
    # seed 1 ran on a machine twice as slow: the mean times' ratio would mix the machines,
    # the per-seed ratio does not (variant takes 1.1x the baseline's time on both)
    base, var = ablation.FAST_BASELINE, "no lookahead"
    table = pd.DataFrame([{"variant": v, "seed": s, "status": "ok", "test_accuracy": 0.85,
                           "train_wall_time_s": t}
                          for v, s, t in [(base, 0, 100.0), (var, 0, 110.0), (base, 1, 300.0),
                                          (var, 1, 330.0), (var, 2, 1000.0)]])
    summary = ablation.summarize(table, study="fast")
    assert summary.loc[base, "time_ratio"] == pytest.approx(1.0)
    # seed 2 has no baseline run: it has no ratio and is left out of the median
    assert summary.loc[var, "time_ratio"] == pytest.approx(1.1)
    assert summary.loc[var, "train_s"] == pytest.approx(480.0)
    assert "training time 1.10x the baseline's." in "\n".join(ablation.conclusions(summary, study="fast"))
    # one run slowed by a passing load moves the range, not the median
    slowed = pd.concat([table, pd.DataFrame([
        {"variant": base, "seed": 3, "status": "ok", "test_accuracy": 0.85, "train_wall_time_s": 100.0},
        {"variant": var, "seed": 3, "status": "ok", "test_accuracy": 0.85, "train_wall_time_s": 200.0}])])
    s2 = ablation.summarize(slowed, study="fast")
    assert s2.loc[var, ["time_ratio", "time_ratio_min", "time_ratio_max"]].tolist() == \
        pytest.approx([1.1, 1.1, 2.0])
    assert "training time 1.10x the baseline's (per seed 1.10x–2.00x)." in \
        "\n".join(ablation.conclusions(s2, study="fast"))
    # a summary written before the column existed: the ratio of the mean times
    old = summary.drop(columns="time_ratio")
    assert "training time 2.40x the baseline's" in "\n".join(ablation.conclusions(old, study="fast"))


def test_a_new_sweep_adds_its_runs_to_the_record():
    base, var = ablation.FAST_BASELINE, "no lookahead"
    previous = pd.DataFrame([{"variant": v, "seed": s, "test_accuracy": 0.80 + s / 100,
                              "load_avg_end": 2.17}
                             for s in (0, 1) for v in (base, var)])
    new = pd.DataFrame([{"variant": v, "seed": s, "test_accuracy": 0.90 + s / 100, "cpu": "X"}
                        for s in (1, 2) for v in (base, var)])
    merged = ablation.merge_runs(previous, new)
    assert list(merged["seed"]) == [0, 0, 1, 1, 2, 2]
    # seed 1 ran again: the new rows replace the old ones; seed 0 is kept as it was
    assert merged.set_index(["variant", "seed"])["test_accuracy"].to_dict() == pytest.approx({
        (base, 0): 0.80, (var, 0): 0.80, (base, 1): 0.91, (var, 1): 0.91,
        (base, 2): 0.92, (var, 2): 0.92})
    assert merged["cpu"].isna().tolist() == [True, True, False, False, False, False]
    assert ablation.merge_runs(None, new).equals(new)
    with pytest.raises(ValueError, match=r"previous runs table has no \['seed'\] column"):
        ablation.merge_runs(previous.drop(columns="seed"), new)
    # runs under another budget are refused, not mixed in
    with pytest.raises(ValueError, match=r"differ in budget: \['3 epochs', '5 epochs'\]"):
        ablation.merge_runs(previous.assign(budget="3 epochs"), new.assign(budget="5 epochs"))


def test_redraw_rewrites_summary_and_figure_from_the_runs_csv(tmp_path, capsys):
    from benchtools import load_benchmark

    base, var = ablation.FAST_BASELINE, "no lookahead"
    budget = "fast recipe, small fast net (airbench_cpu_s), 500 images, 1 epochs"
    rows = [{"variant": v, "seed": s, "status": "ok", "test_accuracy": a, "train_wall_time_s": t,
             "budget": budget}
            for v, s, a, t in [(base, 0, 0.50, 10.0), (var, 0, 0.40, 12.0),
                               (base, 1, 0.52, 20.0), (var, 1, 0.42, 22.0)]]
    pd.DataFrame(rows).to_csv(tmp_path / "fast_ablation_runs.csv", index=False)
    script = load_benchmark("fast_ablation.py")
    assert script.main(["--redraw", "--results", str(tmp_path), "--figure",
                        str(tmp_path / "f.png")]) == 0
    summary = pd.read_csv(tmp_path / "fast_ablation_summary.csv", index_col="variant")
    assert summary.loc[var, "delta_points"] == pytest.approx(-10.0)
    # per seed: 12 / 10 and 22 / 20 -> median 1.15
    assert summary.loc[var, ["time_ratio", "time_ratio_min", "time_ratio_max"]].tolist() == \
        pytest.approx([1.15, 1.1, 1.2])
    assert (tmp_path / "f.png").stat().st_size > 10_000
    out = capsys.readouterr().out
    assert f"- Baseline ({budget}): test accuracy 0.510 ± 0.014 over 2 seeds." in out
    with pytest.raises(SystemExit, match="--redraw needs .*fast_ablation_runs.csv"):
        script.main(["--redraw", "--results", str(tmp_path / "none")])
