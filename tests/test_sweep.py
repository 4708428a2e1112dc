"""wic.experiments.sweep and wic.experiments.record: plans, typing, refusals, failures, resume, interruption, pool, Dask.

The notebooks here are tiny ones written with nbformat into tmp_path (no TensorFlow), so a
run costs a kernel start (~1 s); the whole file stays well under two minutes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from wic.experiments import record as rec
from wic.experiments import sweep
from wic.experiments.sweep import SweepError

PARAMS = 'x = 1\nfail = False\nseed = 0\nlabel = "a"\n'
BODY = [
    "import os, time\nfrom wic.experiments.record import record\n"
    "record('y', x * 2)\nrecord('tf_threads', os.environ.get('WIC_TF_THREADS'))\n"
    "record('cwd', os.getcwd())\nrecord('models_dir', os.environ.get('WIC_MODELS_DIR'))\n"
    "record('runs_dir', os.environ.get('WIC_RUNS_DIR'))",
    # cell 3 of the notebook (0: markdown, 1: parameters, 2: records): fails on request,
    # unless the test says the problem is fixed
    "if fail and os.environ.get('WIC_TEST_HEALED') != '1':\n    raise ValueError(f'boom x={x}')",
    # cell 4: blocks while the file WIC_TEST_BLOCK exists (interruption and timeout tests)
    "while x == 2 and os.path.exists(os.environ.get('WIC_TEST_BLOCK', '/nonexistent')):\n"
    "    time.sleep(0.2)",
    "record('z', x + seed)",
]


def make_notebook(folder: Path, name: str = "tiny.ipynb", params: str | None = PARAMS) -> Path:
    nb = nbformat.v4.new_notebook()
    cells = [nbformat.v4.new_markdown_cell("# A tiny notebook for sweep tests")]
    if params is not None:
        p = nbformat.v4.new_code_cell(params)
        p.metadata["tags"] = ["parameters"]
        cells.append(p)
    cells += [nbformat.v4.new_code_cell(src) for src in BODY]
    nb.cells = cells
    # a kernel that does not exist here: the sweep must pass kernel_name="python3" itself
    nb.metadata["kernelspec"] = {"name": "some-other-kernel", "display_name": "x",
                                 "language": "python"}
    path = folder / name
    nbformat.write(nb, path)
    return path


@pytest.fixture
def nb(tmp_path) -> Path:
    return make_notebook(tmp_path)


# ----------------------------------------------------------------------------- values and plans


@pytest.mark.parametrize("text, value", [
    ("false", False), ("True", True), ("yes", True), ("No", False), ("1e-3", 0.001),
    ("3E5", 300000.0), (".5", 0.5), ("-2", -2), ("3", 3), ("null", None), ("~", None),
    ("none", None), ("'3'", "3"), ("'007'", "007"), ("adam", "adam"), ("off", "off"),
    ("2024-01-01", "2024-01-01"), ("[1, 2]", [1, 2]), ("007.5", 7.5), ("1e5", 100000.0),
    ("hello world", "hello world"),
])
def test_untyped_values_are_guessed_by_the_one_parser(text, value):
    got = sweep.parse_value(text)
    assert got == value and type(got) is type(value)


@pytest.mark.parametrize("text, kind, value", [
    ("no", bool, False), ("YES", bool, True), ("1", bool, True), ("0", bool, False),
    ("3", int, 3), ("-2", int, -2), ("1", float, 1.0), ("1e-3", float, 0.001),
    ("3", str, "3"), ("adam", str, "adam"), ("none", int | None, None),
])
def test_values_are_typed_by_the_parameters_default(text, kind, value):
    got = sweep.parse_value(text, kind, "p")
    assert got == value and type(got) is type(value)


@pytest.mark.parametrize("text, kind, accepted", [
    ("maybe", bool, "true/false, yes/no or 1/0"), ("off", bool, "true/false, yes/no or 1/0"),
    ("[1,", int, "an integer"), ("2.5", int, "an integer"), ("fast", float, "a number"),
    ("inf", float, "a number"),
])
def test_values_that_do_not_fit_the_type_are_refused(text, kind, accepted):
    with pytest.raises(SweepError) as info:
        sweep.parse_value(text, kind, "p")
    assert str(info.value) == f"p={text!r} is invalid; accepted: {accepted}"


def test_cli_params_typed_and_empty_refused():
    grid = sweep.parse_cli_params([["lr", "1e-3", "3e-3"], ["augment", "false", "true"]])
    assert grid == {"lr": [0.001, 0.003], "augment": [False, True]}
    defaults = {"augment": True, "epochs": 3, "lr": 1e-3, "label": "a", "subset": None}
    grid = sweep.parse_cli_params([["augment", "no", "1", "YES"], ["epochs", "2"], ["lr", "1"],
                                   ["label", "3"], ["subset", "none", "500"]], defaults)
    assert grid == {"augment": [False, True, True], "epochs": [2], "lr": [1.0], "label": ["3"],
                    "subset": [None, 500]}
    assert type(grid["lr"][0]) is float and type(grid["label"][0]) is str
    with pytest.raises(SweepError, match="^epochs='2.5' is invalid; accepted: an integer$"):
        sweep.parse_cli_params([["epochs", "2.5"]], defaults)
    with pytest.raises(SweepError, match="no values"):
        sweep.parse_cli_params([["lr"]])
    with pytest.raises(SweepError, match="twice"):
        sweep.parse_cli_params([["lr", "1"], ["lr", "2"]])


def test_plan_is_grid_product_times_seeds():
    runs = sweep.plan_runs({"a": [1, 2], "b": ["x", "y"]}, seeds=[0, 1])
    assert len(runs) == 8
    assert runs[:4] == [{"a": 1, "b": "x", "seed": 0}, {"a": 1, "b": "y", "seed": 0},
                        {"a": 2, "b": "x", "seed": 0}, {"a": 2, "b": "y", "seed": 0}]
    assert sweep.plan_runs(None, seeds=[5]) == [{"seed": 5}]
    with pytest.raises(SweepError, match="empty grid"):
        sweep.plan_runs(None)
    with pytest.raises(SweepError, match="empty"):
        sweep.plan_runs({"a": []})
    with pytest.raises(SweepError, match="seed"):
        sweep.plan_runs({"seed": [1]}, seeds=[2])


def test_grid_file_yaml_and_json(tmp_path):
    f = tmp_path / "grid.yaml"
    f.write_text("grid:\n  lr: [1e-3, 1e-2]\n  augment: false\n"
                 "runs:\n  - {lr: 0.1, batch_norm: off}\nfixed: {epochs: 2}\nseeds: [0, 1]\n")
    runs, seeds = sweep.load_grid_file(f)
    assert seeds == [0, 1]
    assert runs == [{"epochs": 2, "lr": 0.001, "augment": False},
                    {"epochs": 2, "lr": 0.01, "augment": False},
                    {"epochs": 2, "lr": 0.1, "batch_norm": "off"}]
    # the command line crosses with the file and wins on a shared name; --seeds overrides
    plan = sweep.plan_runs({"lr": [5e-4]}, f, seeds=[7])
    assert {r["lr"] for r in plan} == {0.0005} and len(plan) == 3 and {r["seed"] for r in plan} == {7}

    j = tmp_path / "grid.json"
    j.write_text(json.dumps([{"lr": 1e-3}, {"lr": 1e-2}]))
    assert sweep.load_grid_file(j) == ([{"lr": 0.001}, {"lr": 0.01}], None)
    j.write_text(json.dumps({"lr": [1e-3]}))  # a bare mapping is a grid
    assert sweep.load_grid_file(j)[0] == [{"lr": 0.001}]
    j.write_text(json.dumps({"seeds": [1, 2]}))  # only seeds: the defaults, once per seed
    assert sweep.plan_runs(None, j) == [{"seed": 1}, {"seed": 2}]

    for text, match in [("grid: {lr: []}", "empty"), ("runs: []", "no runs"), ("{}", "no runs"),
                        ("grid: {lr: [1]}\nseed: [1]", "unknown keys"), ("[1, 2]", "runs"), ("grid: [", "parse"),
                        ("seeds: [a]", "seeds")]:
        f.write_text(text)
        with pytest.raises(SweepError, match=match):
            sweep.load_grid_file(f)


def test_run_ids_are_stable_hashes_of_notebook_and_parameters(nb):
    a = sweep.run_id(nb, {"x": 1, "fail": False})
    assert a == sweep.run_id(nb, {"fail": False, "x": 1})  # order does not matter
    assert a != sweep.run_id(nb, {"x": 2, "fail": False})
    assert a != sweep.run_id(nb, {"x": 1.0, "fail": False})  # 1 and 1.0 inject differently
    assert a != sweep.run_id(nb.with_name("other.ipynb"), {"x": 1, "fail": False})
    assert len(a) == 12 and int(a, 16) >= 0


# ----------------------------------------------------------------------------- refused before running


def test_unknown_parameter_refused_before_anything_runs(nb, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(SweepError, match=r"unknown parameter\(s\) 'nope'.*accepted: x, fail, seed, label"):
        sweep.run_sweep(nb, {"x": [1], "nope": [2]}, out=out, progress=False)
    assert not out.exists()
    bare = make_notebook(tmp_path, "bare.ipynb", params=None)
    with pytest.raises(SweepError, match="no cell tagged 'parameters'"):
        sweep.run_sweep(bare, {"x": [1]}, out=out, progress=False)
    with pytest.raises(SweepError, match="empty"):
        sweep.run_sweep(nb, {"x": []}, out=out, progress=False)
    with pytest.raises(SweepError, match="not found"):
        sweep.run_sweep(tmp_path / "missing.ipynb", {"x": [1]}, out=out, progress=False)
    assert not out.exists()


def test_declared_parameters_read_with_pythons_parser(tmp_path):
    # papermill.inspect_notebook drops a line whose comment holds a comma; we must not
    nb = make_notebook(tmp_path, params="%matplotlib inline\nsubset = None  # None = all 50,000\n"
                                        "lr: float = 1e-3\na, b = 1, 2\nd = dict(k=1)\n")
    assert sweep.declared_parameters(nb) == ["subset", "lr", "a", "b", "d"]
    assert sweep.declared_defaults(nb) == {"subset": None, "lr": 0.001, "a": None, "b": None,
                                           "d": None}
    assert sweep.check_parameters(nb, [{"subset": 500, "a": 2}]) == ["subset", "lr", "a", "b", "d"]
    with pytest.raises(SweepError, match="not a plain value"):
        sweep.check_parameters(nb, [{"subset": object()}])


def test_grid_values_are_checked_against_the_notebooks_defaults(nb):
    runs = [{"x": "2", "fail": "no", "label": "3"}, {"x": 3, "fail": True, "seed": 1}]
    sweep.check_parameters(nb, runs)  # text from a grid file is parsed in place
    assert runs == [{"x": 2, "fail": False, "label": "3"}, {"x": 3, "fail": True, "seed": 1}]
    for bad, message in (({"x": 2.5}, "x=2.5 is invalid; accepted: an integer"),
                         ({"fail": "maybe"}, "fail='maybe' is invalid; accepted: true/false"),
                         ({"x": True}, "x=True is invalid; accepted: an integer")):
        with pytest.raises(SweepError, match=f"^tiny.ipynb: {message}"):
            sweep.check_parameters(nb, [bad])


def test_cli_refusals_are_one_line_usage_errors(nb, capsys):
    from wic import cli

    for args, msg in [([], "empty grid"), (["-p", "x", "[1,"], "x='[1,' is invalid; accepted: an integer"),
                      (["-p", "fail", "maybe"], "fail='maybe' is invalid; accepted: true/false, yes/no or 1/0"),
                      (["--seeds", "1", "--dask", "nowhere"], "--dask")]:
        assert cli.main(["sweep", str(nb), *args]) == 2
        err = capsys.readouterr().err
        assert err.startswith("wic sweep: error:") and msg in err and len(err.splitlines()) == 1
    r = subprocess.run([sys.executable, "-m", "wic.cli", "sweep", str(nb), "-p", "nope", "1"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "unknown parameter(s) 'nope'" in r.stderr
    assert "Traceback" not in r.stderr


def test_dask_is_refused_at_once_without_the_distributed_scheduler(nb, tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a, **k: None if name == "distributed" else real(name, *a, **k))
    out = tmp_path / "out"
    for address in ("local", "tcp://127.0.0.1:8786"):
        with pytest.raises(SweepError, match=r"--dask needs Dask's distributed scheduler.*"
                                             r"pip install 'wic\[cluster\]'"):
            sweep.run_sweep(nb, {"x": [1]}, dask=address, out=out, progress=False)
    assert not out.exists()


def test_the_table_is_csv_and_parquet_only_with_pyarrow(tmp_path, monkeypatch):
    df = pd.DataFrame([{"run_id": "a", "status": "ok", "x": 1}, {"run_id": "b", "status": "failed", "x": 2}])
    csv_path, pq_path = sweep.write_table(df, tmp_path)
    assert (csv_path, pq_path) == (tmp_path / "runs.csv", tmp_path / "runs.parquet")
    assert pd.read_parquet(pq_path).equals(pd.read_csv(csv_path))
    assert sweep.load_table(tmp_path).equals(df)
    other = tmp_path / "no_pyarrow"
    other.mkdir()
    monkeypatch.setattr(sweep, "has_parquet", lambda: False)
    assert sweep.write_table(df, other) == (other / "runs.csv", None)
    assert not (other / "runs.parquet").exists() and sweep.load_table(other).equals(df)
    with pytest.raises(FileNotFoundError, match="no runs table"):
        sweep.load_table(tmp_path / "missing")


def test_kernel_that_cannot_start_is_retried_then_recorded(nb, tmp_path):
    res = sweep.execute_run({"notebook": str(nb), "run_id": "r1", "params": {"x": 1},
                             "run_dir": str(tmp_path / "r1"), "retries": 1,
                             "kernel_name": "no-such-kernel", "threads": 1})
    assert res["status"] == "failed" and res["attempts"] == 2
    assert "did not start after 2 attempt" in res["error"]["message"]
    assert json.loads((tmp_path / "r1" / "result.json").read_text())["status"] == "failed"


# ----------------------------------------------------------------------------- wic.record


def test_record_without_a_sweep_just_returns(monkeypatch, capsys):
    monkeypatch.delenv(rec.ENV_VAR, raising=False)
    assert rec.record("acc", 0.5) == 0.5
    assert capsys.readouterr().out == ""  # outside a kernel: quiet


def test_record_appends_json_lines(monkeypatch, tmp_path):
    np = pytest.importorskip("numpy")
    f = tmp_path / "m.jsonl"
    monkeypatch.setenv(rec.ENV_VAR, str(f))
    rec.record("acc", np.float32(0.25))
    rec.record("acc", 0.75)
    rec.record("curve", np.arange(3))
    rec.record("name", "seed")
    with open(f, "a") as fh:
        fh.write('{"name": "torn"')  # a kernel killed mid-write
    entries = rec.read_jsonl(f)
    assert [e["name"] for e in entries] == ["acc", "acc", "curve", "name"]
    assert rec.latest(entries) == {"acc": 0.75, "curve": [0, 1, 2], "name": "seed"}
    with pytest.raises(ValueError, match="non-empty string"):
        rec.record("", 1)
    with pytest.raises(TypeError, match="cannot record a object"):
        rec.record("bad", object())


# ----------------------------------------------------------------------------- real runs


def _results(out: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in out.glob("runs/*/result.json")}


@pytest.mark.slow
def test_local_pool_failures_table_and_resume(nb, tmp_path, monkeypatch):
    monkeypatch.delenv("WIC_TEST_HEALED", raising=False)
    out = tmp_path / "out"
    grid = {"x": [1, 2], "fail": [False, True]}
    r = sweep.run_sweep(nb, grid, out=out, workers=2, progress=False)
    assert (r.ok, r.failed, r.skipped) == (2, 2, 0)

    # the table: CSV and Parquet, one row per run, parameters, metrics, status, errors
    csv, pq = pd.read_csv(out / "runs.csv"), pd.read_parquet(out / "runs.parquet")
    assert len(csv) == len(pq) == 4 and list(csv.columns) == list(pq.columns)
    ok, bad = pq[pq.status == "ok"], pq[pq.status == "failed"]
    assert sorted(ok.x) == [1, 2] and not ok.fail.any()
    assert sorted(ok.y) == [2, 4] and sorted(ok.z) == [1, 2]
    assert set(ok.cwd) == {str(nb.parent)}  # the kernel ran in the notebook's folder
    assert set(ok.tf_threads) == {str(max(1, sweep.cpu_count() // 2))}  # no oversubscription
    for row in ok.itertuples():  # each run's models/checkpoints stay in its own folder
        assert row.models_dir == str(out / "runs" / row.run_id / "models")
        assert row.runs_dir == str(out / "runs" / row.run_id / "runs")
    assert (pq.wall_time_s > 0).all() and (pq.overhead_s >= 0).all()
    assert list(bad.error_cell) == [3, 3] and set(bad.error_name) == {"ValueError"}
    assert sorted(bad.error_message) == ["boom x=1", "boom x=2"]
    assert all("raise ValueError" in s for s in bad.error_source)
    assert sorted(bad.y) == [2, 4] and bad.z.isna().all()  # metrics before the failure kept
    for row in pq.itertuples():
        assert (out / row.notebook).is_file() and (out / "runs" / row.run_id / "result.json").is_file()
    first = _results(out)

    # resume: finished runs are skipped, the failed ones retried (and now they pass)
    monkeypatch.setenv("WIC_TEST_HEALED", "1")
    r2 = sweep.run_sweep(nb, grid, out=out, workers=2, progress=False)
    assert (r2.ok, r2.failed, r2.skipped) == (2, 0, 2)
    assert (r2.table.status == "ok").all() and r2.table.z.notna().all()
    again = _results(out)
    for rid, res in first.items():
        if res["status"] == "ok":
            assert again[rid] == res  # untouched
        else:
            assert again[rid]["status"] == "ok" and again[rid]["params"] == res["params"]


@pytest.mark.slow
def test_dask_local_cluster_with_two_workers(nb, tmp_path):
    out = tmp_path / "dask"
    r = sweep.run_sweep(nb, {"x": [1, 2, 3]}, seeds=[0], out=out, workers=2, dask="local",
                        progress=False)
    assert (r.ok, r.failed) == (3, 0)
    t = sweep.load_table(out)
    assert sorted(t.z) == [1, 2, 3] and set(t.seed) == {0}
    assert set(t.tf_threads) == {str(max(1, sweep.cpu_count() // 2))}
    assert set(t.threads) == {max(1, sweep.cpu_count() // 2)}
    assert all((out / n).is_file() for n in t.notebook)


@pytest.mark.slow
def test_dask_scheduler_address_ships_results_back(nb, tmp_path):
    """``--dask tcp://…``: an existing cluster; notebooks and metrics travel back to OUT."""
    import logging

    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=logging.ERROR) as cluster:
        out = tmp_path / "remote"
        r = sweep.run_sweep(nb, {"x": [1, 2], "fail": [True]}, out=out,
                            dask=cluster.scheduler_address, progress=False)
    assert (r.ok, r.failed) == (0, 2)
    t = sweep.load_table(out)
    assert sorted(t.y) == [2, 4] and set(t.error_cell) == {3}
    for row in t.itertuples():
        run_dir = out / "runs" / row.run_id
        assert (out / row.notebook).is_file() and (run_dir / "metrics.jsonl").is_file()
        assert (run_dir / "result.json").is_file()
        # the run ran in a scratch folder on the worker, not in OUT
        assert row.models_dir != str(run_dir / "models")


@pytest.mark.slow
def test_timeout_kills_the_run_and_records_the_cell(nb, tmp_path, monkeypatch):
    block = tmp_path / "block"
    block.touch()
    monkeypatch.setenv("WIC_TEST_BLOCK", str(block))
    t0 = time.perf_counter()
    r = sweep.run_sweep(nb, {"x": [2]}, out=tmp_path / "t", workers=1, timeout=3, progress=False)
    assert time.perf_counter() - t0 < 40
    row = r.table.iloc[0]
    assert row.status == "failed" and row.error_name == "RunTimeout" and row.error_cell == 4
    assert "while x == 2" in row.error_source and row.y == 4


def _kernels_of(run_id: str) -> list:
    import psutil

    found = []
    for p in psutil.process_iter():
        try:
            if p.environ().get("WIC_SWEEP_RUN_ID") == run_id:
                found.append(p)
        except (psutil.Error, OSError):
            continue
    return found


@pytest.mark.slow
def test_interrupted_sweep_keeps_finished_runs_and_resumes(nb, tmp_path):
    out, block = tmp_path / "int", tmp_path / "block"
    block.touch()
    env = {**os.environ, "WIC_TEST_BLOCK": str(block)}
    ids = [sweep.run_id(nb, {"x": x}) for x in (1, 2, 3)]
    proc = subprocess.Popen([sys.executable, "-m", "wic.cli", "sweep", str(nb), "-p", "x", "1", "2",
                             "3", "--workers", "1", "--out", str(out)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 90
        while not (out / "runs" / ids[1] / "tiny.ipynb").is_file() and time.time() < deadline:
            time.sleep(0.2)  # run 1 finished, run 2 started (and blocks)
        assert (out / "runs" / ids[0] / "result.json").is_file(), "run 1 did not finish in time"
        time.sleep(1.0)
        proc.send_signal(signal.SIGTERM)  # `kill PID`: stop like Ctrl-C
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    t = pd.read_csv(out / "runs.csv")
    assert dict(zip(t.x, t.status, strict=True)) == {1: "ok", 2: "pending", 3: "pending"}
    deadline = time.time() + 10
    while _kernels_of(ids[1]) and time.time() < deadline:  # the blocked kernel is gone too
        time.sleep(0.2)
    assert not _kernels_of(ids[1])

    block.unlink()
    r = sweep.run_sweep(nb, {"x": [1, 2, 3]}, out=out, workers=2, progress=False)
    assert (r.ok, r.failed, r.skipped) == (2, 0, 1)
    assert list(r.table.status) == ["ok"] * 3 and list(r.table.z) == [1, 2, 3]
