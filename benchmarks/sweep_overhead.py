"""Sweep overhead: what papermill + a fresh kernel add per run, and the local pool's speed-up.

The same function, :func:`tiny_training` (load CIFAR-10, build the seed model, ``wic.training.fit``
for a few steps), is timed four ways:

1. direct, warm: called in this process after a warm-up call (TensorFlow already imported);
2. direct, cold: ``python -c "...tiny_training(...)"`` in a fresh interpreter (TF import paid);
3. papermill: a small generated notebook that calls it, run by ``wic.sweep`` (1 worker);
   the table splits each run into cell time and overhead (kernel start, papermill I/O);
4. pool speed-up: a sweep of ``--runs`` runs with 1 worker, then 2 workers (and a Dask
   LocalCluster with 2 workers), total wall time each.

Prints seconds and ratios, no verdicts. Run with CIFAR-10 configured (WIC_DATA_DIR), on a quiet
machine:

    python benchmarks/sweep_overhead.py [--steps 8] [--repeats 3] [--runs 4] [--no-dask]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def tiny_training(seed: int = 0, steps: int = 8, batch_size: int = 32) -> dict:
    """Load the data, build ``seed_v1_3`` and train it for ``steps`` steps (one epoch)."""
    t0 = time.perf_counter()
    from wic import data, training

    ds = data.load_cifar10()
    recipe = training.Recipe(epochs=1, batch_size=batch_size, seed=seed,
                          train_subset=int(steps * batch_size / 0.8), validation_split=0.2,
                          early_stopping=False, reduce_lr=False)
    with tempfile.TemporaryDirectory(prefix="wic-bench-run-") as run_dir:
        result = training.fit("seed_v1_3", ds, recipe, run_dir=run_dir, resume=False, verbose=0)
    return {"val_accuracy": float(result.history["val_accuracy"][-1]),
            "seconds": time.perf_counter() - t0}


def make_notebook(folder: Path) -> Path:
    """A walkthrough-sized notebook: parameters, imports, the call, the record."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("seed = 0\nsteps = 8\nbench_dir = ''")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Sweep overhead probe"),
        params,
        nbformat.v4.new_code_cell(
            "import sys, time\nt0 = time.perf_counter()\n"
            "from wic import config\nfrom wic.experiments.record import record\n"
            "config.configure_threads()\nimport tensorflow as tf\n"
            "record('import_s', time.perf_counter() - t0)"),
        nbformat.v4.new_code_cell(
            "sys.path.insert(0, bench_dir)\nimport sweep_overhead\n"
            "r = sweep_overhead.tiny_training(seed, steps)\n"
            "record('val_accuracy', r['val_accuracy'])\nrecord('train_s', r['seconds'])"),
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = folder / "overhead_probe.ipynb"
    nbformat.write(nb, path)
    return path


def _mean(xs) -> float:
    return statistics.fmean(xs) if xs else float("nan")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=8, help="training steps per run (batch 32)")
    ap.add_argument("--repeats", type=int, default=3, help="runs timed for the per-run numbers")
    ap.add_argument("--runs", type=int, default=4, help="runs in the 1-vs-2-worker sweeps")
    ap.add_argument("--no-dask", action="store_true", help="skip the Dask LocalCluster timing")
    args = ap.parse_args(argv)

    from wic.experiments import sweep

    cores = sweep.cpu_count()
    os.environ.update(sweep.thread_env(cores))  # the same thread settings for every path
    load0 = os.getloadavg()[0]
    print(f"{cores} cores, load average {load0:.1f} at start; tiny_training = load CIFAR-10 + "
          f"build seed_v1_3 + {args.steps} steps of batch 32 (+ validation); {args.repeats} repeats")

    # 1. direct, warm (in this process)
    tiny_training(0, args.steps)  # warm-up: TF import, first graph tracing
    warm = [tiny_training(s, args.steps)["seconds"] for s in range(1, args.repeats + 1)]

    # 2. direct, cold (fresh interpreter each time)
    cold = []
    code = (f"import sys; sys.path.insert(0, {str(HERE)!r}); import sweep_overhead as b; "
            f"b.tiny_training(0, {args.steps})")
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
        cold.append(time.perf_counter() - t0)

    with tempfile.TemporaryDirectory(prefix="wic-bench-") as tmp:
        tmp = Path(tmp)
        nb = make_notebook(tmp)
        fixed = {"steps": [args.steps], "bench_dir": [str(HERE)]}

        # 3. papermill, one worker: per-run split into cells and overhead
        r = sweep.run_sweep(nb, fixed, seeds=range(1, args.repeats + 1), out=tmp / "pm",
                            workers=1, progress=False)
        t = r.table
        if r.failed:
            raise SystemExit(f"probe runs failed: {t.error_message.tolist()}")
        pm_wall, pm_cells, pm_over = (t.wall_time_s.tolist(), t.cells_time_s.tolist(),
                                      t.overhead_s.tolist())
        pm_import, pm_train = t.import_s.tolist(), t.train_s.tolist()
        pm_sweep_per_run = r.wall_time_s / len(t)

        # 4. speed-up: the same sweep with 1 and 2 workers (fresh folders: nothing skipped)
        totals = {}
        configs = [("pool, 1 worker", {"workers": 1}), ("pool, 2 workers", {"workers": 2})]
        if not args.no_dask:
            configs.append(("dask LocalCluster, 2 workers", {"workers": 2, "dask": "local"}))
        for i, (label, kw) in enumerate(configs):
            rr = sweep.run_sweep(nb, fixed, seeds=range(100, 100 + args.runs),
                                 out=tmp / f"speed{i}", progress=False, **kw)
            totals[label] = (rr.wall_time_s, _mean(rr.table.train_s.tolist()),
                             _mean(rr.table.wall_time_s.tolist()))

    w, c = _mean(warm), _mean(cold)
    print("\nper run (mean seconds)")
    print(f"  direct, warm process     {w:7.2f}   (the training call alone)")
    print(f"  direct, fresh python     {c:7.2f}   ({c / w:.2f}x warm; +{c - w:.2f} s interpreter + imports)")
    print(f"  papermill run, wall      {_mean(pm_wall):7.2f}   ({_mean(pm_wall) / w:.2f}x warm, "
          f"{_mean(pm_wall) / c:.2f}x fresh python)")
    print(f"    of which cells         {_mean(pm_cells):7.2f}   (imports {_mean(pm_import):.2f}, "
          f"training call {_mean(pm_train):.2f})")
    print(f"    kernel start + papermill {_mean(pm_over):5.2f}   (wall - cells)")
    print(f"  sweep wall / runs        {pm_sweep_per_run:7.2f}   (adds plan check, worker spawn, "
          "table writes)")
    over = _mean(pm_wall) - w
    print(f"  overhead vs warm direct  {over:7.2f} s per run = {over / _mean(pm_wall):.0%} of a "
          "papermill run of this size")
    for share in (0.10, 0.25):
        print(f"  training time per run for overhead <= {share:.0%}: {over * (1 - share) / share:.0f} s")

    print(f"\nsweep of {args.runs} runs (total wall seconds; load average now "
          f"{os.getloadavg()[0]:.1f}: other work on the machine shrinks any speed-up)")
    base = totals["pool, 1 worker"][0]
    for label, (total, train_s, run_wall) in totals.items():
        print(f"  {label:<30s} {total:7.2f}   speed-up {base / total:.2f}x   "
              f"(per run: wall {run_wall:.2f}, training call {train_s:.2f})")


if __name__ == "__main__":
    main()
