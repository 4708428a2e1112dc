"""benchmarks/robust_study.py: one row per model from its card, the net and seed each run
trained with."""

from __future__ import annotations

import pytest
from benchtools import load_benchmark

from wic.experiments import results


def _robust_study():
    return load_benchmark("robust_study.py")


def test_the_net_of_a_training_command_is_its_model_flag_else_the_seeds_net():
    rs = _robust_study()
    assert rs.net_of("wic train --model airbench94_cpu_wide --recipe fast94 --out w") == (
        "airbench94_cpu_wide")
    assert rs.net_of("src/wic/cli.py train --recipe fast94 --out m") == "seed_v1_3"  # the default
    assert rs.net_of("wic evaluate --model airbench94_cpu_v2") == ""  # not a training run
    assert rs.net_of(None) == ""


def test_the_seed_of_a_training_command_is_its_flag_else_its_recipes_default():
    rs = _robust_study()
    assert rs.seed_of("wic train --model m --recipe fast94 --seed 2 --out m_s2") == 2
    assert rs.seed_of("wic train --model m --recipe fast94 --out m") == 1337  # the recipe's
    assert rs.seed_of("wic train --model seed_v1_3 --out seed_v1_3") == 1337  # the seed's recipe
    assert rs.seed_of("src/wic/cli.py train --model m --recipe fast --seed 5") == 5  # as called
    assert rs.seed_of("src/wic/cli.py evaluate --model m") == ""
    assert rs.seed_of("python benchmarks/optimizer_study.py --seeds 0") == ""  # not a training run
    assert rs.seed_of(None) == ""
    with pytest.raises(ValueError, match="accepted: fast, fast94, seed"):
        rs.seed_of("wic train --model m --recipe fast95")


def test_rows_older_than_a_column_get_the_seed_and_net_their_command_trained_with(tmp_path):
    """An older CSV (no seed or net column) keeps its rows; each gets the seed and net its
    command used, and the shipped robust model's row is rebuilt from its card in its place. Two
    runs of one recipe with different seeds get their spread drawn."""
    rs = _robust_study()
    old = [{c: 0 for c in rs.COLUMNS if c not in ("seed", "net")} for _ in range(3)]
    # the first row is the shipped model's, stale: measured again, it keeps its place
    for r, name, cmd in zip(old, ("airbench94_cpu_robust_v9", "older", "older_s2"), (
            "wic train --out airbench94_cpu_robust_v9",
            "wic train --model airbench94_cpu --recipe fast94 --out older",
            "wic train --model airbench94_cpu --recipe fast94 --seed 2 --out older_s2")):
        r.update(model=name, optimizer="muon", command=cmd, test_accuracy=0.93,
                 corruption_mean=0.86, corruption_images=300)
    csv = results.write_rows(tmp_path / "robust_study.csv", old,
                             [c for c in rs.COLUMNS if c not in ("seed", "net")])
    assert rs.main(["airbench94_cpu_robust_v9", "--csv", str(csv),
                    "--figure", str(tmp_path / "tradeoff.png"),
                    "--seeds-figure", str(tmp_path / "seeds.png")]) == 0
    rows = {r["model"]: r for r in results.read_rows(csv)}
    assert list(rows) == ["airbench94_cpu_robust_v9", "older", "older_s2"]
    assert {n: rows[n]["seed"] for n in rows} == {
        "older": "1337", "older_s2": "2", "airbench94_cpu_robust_v9": "1337"}
    # and the net: an older row's from its command, the new row's from its card
    assert {n: rows[n]["net"] for n in rows} == {
        "older": "airbench94_cpu", "older_s2": "airbench94_cpu",
        "airbench94_cpu_robust_v9": "airbench94_cpu"}
    assert rows["airbench94_cpu_robust_v9"]["test_accuracy"] == 0.9402  # its card's
    assert (tmp_path / "tradeoff.png").stat().st_size > 10_000
    # the two older rows are one recipe with two seeds: their spread is drawn
    assert (tmp_path / "seeds.png").stat().st_size > 10_000
    (line,) = results.robust_repeats_lines(csv)
    assert line.startswith("`older`'s recipe, 2 seeds (1337, 2)")
