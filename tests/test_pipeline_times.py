"""The course's run time: what ``wic pipeline --publish`` records, and the README line it writes."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from wic.experiments import pipeline

ROOT = Path(__file__).resolve().parents[1]


def _run(tmp_path: Path, seconds: dict[str, float]) -> Path:
    run = tmp_path / "runs" / "20260101-000000-full"
    run.mkdir(parents=True)
    for name, s in seconds.items():
        (run / f"{Path(name).stem}.log").write_text(f"some output\n[wic] {name}: {s:.1f} s\n")
    return run


def test_a_whole_run_is_recorded_and_written_into_the_readme(tmp_path):
    (tmp_path / "README.md").write_text(
        f"intro\n{pipeline.TIMES_BEGIN}\nold line\n{pipeline.TIMES_END}\nrest\n")
    seconds = dict(zip(pipeline.PIPELINE, [38.7, 15.1, 225.2, 840.0, 101.1, 7.8, 10.0]))
    line = pipeline.record_times(_run(tmp_path, seconds), root=tmp_path)
    assert "took **20.6 min** for the 7 notebooks (01 39 s · 02 15 s · 03 3.8 min · " \
           "04 14.0 min · 05 1.7 min · 06 8 s · 07 10 s)" in line
    readme = (tmp_path / "README.md").read_text()
    assert line in readme and "old line" not in readme and readme.endswith("rest\n")
    table = pd.read_csv(tmp_path / pipeline.TIMES_CSV)
    assert list(table.notebook) == list(pipeline.PIPELINE)
    assert table.seconds.sum() == pytest.approx(1237.9)


def test_a_partial_run_is_not_a_course_time(tmp_path):
    seconds = dict(zip(pipeline.PIPELINE[:3], [38.7, 15.1, 225.2]))
    with pytest.raises(ValueError, match="no time for 04_tuning_ablations.ipynb"):
        pipeline.record_times(_run(tmp_path, seconds), root=tmp_path)


def test_the_readme_states_the_last_recorded_run_within_the_course_budget():
    table = pd.read_csv(ROOT / pipeline.TIMES_CSV)
    last = table[table.run == table.run.iloc[-1]]
    total_min = last.seconds.sum() / 60
    readme = (ROOT / "README.md").read_text()
    assert f"(`{last.run.iloc[0]}`) took **{total_min:.1f} min**" in readme
    assert total_min <= 30  # the course runs in one sitting (make pipeline, full profile)
