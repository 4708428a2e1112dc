"""The project's own files agree with each other (environment.yml vs pyproject.toml, CLI)."""

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml
from benchtools import load_benchmark

ROOT = Path(__file__).resolve().parents[1]


def _names(specs):
    return {re.split(r"[<>=!\[ ]", s, maxsplit=1)[0].lower() for s in specs}


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert _names(conda) - {"python", "pip"} == _names(project["dependencies"])
    # the same lower bounds on both sides
    assert {c for c in conda if ">=" in c} == set(project["dependencies"])
    assert any(p.startswith("-e") and "[dev]" in p for p in pip)


def test_cli_help_lists_every_command():
    out = subprocess.run([sys.executable, "-m", "wic.cli", "--help"], capture_output=True,
                         text=True, check=True).stdout
    for command in ("train", "evaluate", "predict", "models", "pipeline", "sweep", "export"):
        assert command in out


def test_cli_unknown_model_is_a_usage_error():
    r = subprocess.run([sys.executable, "-m", "wic.cli", "train", "--model", "nope"],
                       capture_output=True, text=True)
    assert r.returncode == 2
    assert "unknown model 'nope'; accepted:" in r.stderr and "Traceback" not in r.stderr


def test_readme_model_table_is_the_one_the_cards_produce():
    """Numbers in the README's model table come from the model cards (`wic models --update-readme`)."""
    from wic import cards

    table = cards.markdown_table(cards.catalogue(ROOT / "models"))
    assert table in (ROOT / "README.md").read_text(), "run: wic models --update-readme README.md"


def test_readme_names_the_two_commands_and_ci_calls_the_test_one():
    readme = (ROOT / "README.md").read_text()
    assert "make pipeline" in readme and "make test" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_fast_recipe_results_block_is_the_one_the_csvs_produce():
    """Numbers in benchmarks/FAST_RECIPE.md's results block come from benchmarks/results/*.csv."""
    from wic.experiments import results

    doc = (ROOT / "benchmarks" / "FAST_RECIPE.md").read_text()
    block = results.render(ROOT / "benchmarks" / "results")
    assert "| `fast` |" in block and "≥ 94% within 45 min" in block
    assert f"{results.BEGIN}\n{block}\n{results.END}" in doc, "run: python benchmarks/report.py"


def test_readme_states_the_rules_the_code_applies():
    """The numbers the README gives for the default-model rule and the class page are the code's."""
    from wic.serving import classifier, classroom

    text = " ".join((ROOT / "README.md").read_text().split())  # line breaks are spaces
    assert f"at most {classifier.LATENCY_BUDGET_MS:g} ms" in text
    assert f"at most {classifier.ECE_BUDGET:g} on those images" in text
    assert f"within {classifier.ACCURACY_TOLERANCE * 100:g} point" in text.replace("half a", "0.5")
    assert f"up to {classroom.CAPACITY} visitors at once" in text
    assert f"idle for {classroom.IDLE_MINUTES} minutes" in text
    # the model the README says the rule picks is the one it picks, beside the most accurate
    from wic import cards

    shipped = cards.catalogue(ROOT / "models")
    best = max(shipped, key=lambda r: r["card"]["test_accuracy"])
    robust = max(shipped, key=lambda r: classifier.robustness_mean(r["card"]))
    chosen = classifier.default_model(shipped)
    default = chosen["name"]
    assert default == best["name"] != robust["name"]
    assert f"By that rule the page serves `{default}`, the most accurate model" in text
    # the most robust model lost the page because its gap on clean pictures is over the tolerance
    gap = best["card"]["test_accuracy"] - robust["card"]["test_accuracy"]
    assert gap > classifier.ACCURACY_TOLERANCE
    assert (f"`{robust['name']}`, the most robust model, which is {gap * 100:.2f} points less "
            "accurate on clean pictures: more than the half point the rule allows") in text
    assert f"choose `{robust['name']}` in the page's Model menu" in text
    # "the same robust recipe on the default's wider net"
    assert robust["card"]["registry_model"] == chosen["card"]["registry_model"]
    assert "The same robust recipe on the default's wider net ships beside it" in text


def test_readme_says_how_often_each_shipped_robust_recipe_meets_both_targets():
    """For each shipped robust model whose recipe robust_study.csv holds several seeds of: every
    run meets the corrupted target; if only the shipped run meets the clean one too, it is the
    most accurate and the README calls it "the luckier one of three / two"; otherwise the README
    says in how many runs the recipe "meets both targets"."""
    from wic import cards
    from wic.evaluation.metrics import CLEAN_TARGET, CORRUPTED_TARGET, robust_repeats
    from wic.experiments import results

    text = " ".join((ROOT / "README.md").read_text().split())
    rows = results.read_rows(ROOT / "benchmarks" / "results" / "robust_study.csv")
    shipped = {r["name"] for r in cards.catalogue(ROOT / "models")}
    words = {1: "one", 2: "two", 3: "three"}
    said = []
    for members in robust_repeats(rows):
        runs = [rows[i] for i in members]
        first = runs[0]["model"]
        if first not in shipped:
            continue
        assert f"`{first}`'s" in text
        assert all(float(r["corruption_mean"]) >= CORRUPTED_TARGET for r in runs)
        clean = [float(r["test_accuracy"]) >= CLEAN_TARGET for r in runs]
        if clean == [True] + [False] * (len(runs) - 1):
            assert f"the shipped run is the luckier one of {words[len(runs)]}" in text
            assert max(runs, key=lambda r: float(r["test_accuracy"]))["model"] == first
        else:
            assert clean[0], "a shipped robust run meets both targets"
            assert (f"`{first}`'s, trained again with {words[len(runs) - 1]} other seeds, meets "
                    f"both targets in {words[sum(clean)]} runs of {words[len(runs)]}") in text
        # "lands just under 94% clean": the runs that miss it, by less than 0.2 points
        assert all(float(r["test_accuracy"]) > CLEAN_TARGET - 0.002 for r in runs)
        said.append(first)
    # v9's recipe: only its shipped run is clean enough; the wider net's: two runs of three
    assert said == ["airbench94_cpu_robust_v9", "airbench94_cpu_wide_robust_v1"]


def test_readme_predict_example_is_a_real_run_of_the_default_model(monkeypatch):
    """The README's `wic predict` example is `benchmarks/readme_predict.py`'s output: the model
    it names is the default the rule picks, and re-running it gives the same answers (top class
    and percentage within 0.3 points: the last digit may move between CPUs)."""
    from wic.serving.classifier import resolve_model_path

    monkeypatch.setenv("WIC_MODELS_DIR", str(ROOT / "models"))  # the shipped models
    readme = (ROOT / "README.md").read_text()
    shown = readme.split("<!-- predict-example:begin -->")[1].split("<!-- predict-example:end -->")[0]
    assert f"the default model `{resolve_model_path(None).stem}`" in " ".join(shown.split())
    fresh = load_benchmark("readme_predict.py").block()

    def answers(text):
        found = re.findall(r"^(\w+)\.png:\n  (\w+): ([\d.]+)%", text, flags=re.M)
        return {pic: (top, float(p)) for pic, top, p in found}

    old, new = answers(shown), answers(fresh)
    assert set(old) == {"cat", "truck"} and set(new) == set(old)
    for pic in old:
        assert old[pic][0] == new[pic][0] and abs(old[pic][1] - new[pic][1]) <= 0.3, (old, new)
    assert fresh.split("$ echo $?")[1].split()[0] == "2"  # notes.txt refused, the rest classified
