"""The project's own files agree with each other (environment.yml vs pyproject.toml, CLI)."""

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

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
    assert f"up to {classroom.CAPACITY} visitors at once" in text
    assert f"idle for {classroom.IDLE_MINUTES} minutes" in text
