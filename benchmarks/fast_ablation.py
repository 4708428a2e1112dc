"""What each ingredient of the fast recipe buys: remove one at a time, train, compare.

The study is ``wic.experiments.ablation.STUDIES["fast"]``: notebook 03's default run (airbench_cpu_s,
recipe ``fast``, all 50,000 training images, 3 epochs, TTA in the final test score) and one
variant per ingredient (whitening, dirac init, the fast BatchNorm bias, label smoothing,
lookahead, alternating flips, translation, bfloat16). Every run is a papermill execution of
notebook 03 through ``wic.sweep`` (so it resumes: finished runs are skipped on a re-run, and
``--dask`` sends the runs to a cluster), with 03's teaching demos off (``demos=False``,
``ablation.SWEEP_ONLY``). Writes

- ``benchmarks/results/fast_ablation_runs.csv`` — one row per run (variant, seed, accuracy,
  training seconds, status);
- ``benchmarks/results/fast_ablation_summary.csv`` — per variant mean, spread, difference
  from the baseline in points, training time over the baseline's in the same seed (median
  and range over seeds);
- ``figures/fast_ablation.png`` — every run as a point, the baseline as a dashed line;

and prints the conclusions. Notebook 07 reads the two CSVs.

    WIC_DATA_DIR=/path/to/folder-with-cifar-10-batches-py \\
        python benchmarks/fast_ablation.py --seeds 0            # ~25 min per seed on 2 cores
    python benchmarks/fast_ablation.py --seeds 0 1 --only "no lookahead"   # add runs
    python benchmarks/fast_ablation.py --seeds 2        # one more seed, kept beside 0 and 1

The runs CSV is the record: a sweep adds its rows to the committed ones, replacing a
(variant, seed) it ran again and keeping the rest (``ablation.merge_runs``), so a new seed
needs no old sweep folder; ``--replace`` starts the CSV afresh. Each row records its budget and
CPU. ``--redraw`` trains nothing: the summary, the figure and the conclusions again from the runs
CSV.

Training times are comparable between variants only when runs go one at a time on an
otherwise idle machine (``--workers 1``, the default); the CSV records the load average.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUN_COLUMNS = ["variant", "seed", "status", "test_accuracy", "epochs_run", "train_wall_time_s",
               "wall_time_s", "error_name", "error_message", "run_id", "budget", "load_avg_end", "cpu"]


def main(argv: list[str] | None = None) -> int:
    from wic.experiments import ablation

    study = ablation.STUDIES["fast"]
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0], help="one run per variant per seed")
    ap.add_argument("--epochs", type=int, default=study.budget["epochs"], help="schedule length")
    ap.add_argument("--only", nargs="+", metavar="VARIANT", choices=list(study.variants),
                    help="run only these variants (the baseline is always included)")
    ap.add_argument("--train-subset", type=int, help="train on this many images (smoke runs)")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--dask", help="'local' or tcp://host:port")
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "fast_ablation",
                    help="sweep folder: executed notebooks, per-run results")
    ap.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results")
    ap.add_argument("--figure", type=Path, default=ROOT / "figures" / "fast_ablation.png")
    ap.add_argument("--replace", action="store_true",
                    help="write only this sweep's runs (default: add them to the runs CSV's rows)")
    ap.add_argument("--redraw", action="store_true",
                    help="train nothing: summary, figure and conclusions again from the runs CSV")
    args = ap.parse_args(argv)
    runs_csv = args.results / "fast_ablation_runs.csv"
    if args.redraw:
        import pandas as pd

        if not runs_csv.is_file():
            sys.exit(f"error: --redraw needs {runs_csv}; run a sweep first")
        table = pd.read_csv(runs_csv)
        budgets = table["budget"].dropna().unique() if "budget" in table else []
        write_outputs(table, study, budgets[0] if len(budgets) == 1 else
                      study.budget_text({"epochs": args.epochs}), args, runs_csv)
        return 0
    if os.environ.get("WIC_PROFILE") == "smoke":
        print("note: WIC_PROFILE=smoke shrinks every run of notebook 03 to 1 epoch on 500 images",
              file=sys.stderr)

    import pandas as pd
    import yaml

    from wic import config
    from wic.experiments import sweep

    variants = list(study.variants)
    if args.only:
        variants = [study.baseline] + [v for v in variants if v in args.only and v != study.baseline]
    budget = {**study.budget, "epochs": args.epochs}
    if args.train_subset:
        budget["train_subset"] = args.train_subset
    args.out.mkdir(parents=True, exist_ok=True)
    grid_file = args.out / "fast_ablation_grid.yaml"
    grid_file.write_text(yaml.safe_dump({"runs": ablation.plan(budget, variants, study),
                                         "seeds": args.seeds}))
    notebook = ROOT / "notebooks" / "03_training.ipynb"
    print(f"{len(variants)} variants x {len(args.seeds)} seeds; budget {budget}", flush=True)
    result = sweep.run_sweep(notebook, grid_file=grid_file, out=args.out, workers=args.workers,
                             dask=args.dask)
    print(result.summary())
    table = ablation.label_runs(result.table, notebook, budget, variants, study)
    smoke = " (WIC_PROFILE=smoke)" if os.environ.get("WIC_PROFILE") == "smoke" else ""
    table = table.assign(budget=study.budget_text(budget) + smoke, load_avg_end=round(os.getloadavg()[0], 2),
                         cpu=config.describe_cpu())
    if runs_csv.is_file() and not args.replace:
        previous = pd.read_csv(runs_csv)
        try:
            table = ablation.merge_runs(previous, table)
        except ValueError as exc:
            sys.exit(f"error: {exc}: this sweep's runs are in {args.out}; pass --replace to "
                     f"start {runs_csv} afresh, or --results DIR to keep both")
        print(f"kept {len(table) - len(result.table)} earlier run(s) from {runs_csv}", flush=True)
    write_outputs(table, study, study.budget_text(budget) + smoke, args, runs_csv)
    return 0 if result.failed == 0 else 1


def write_outputs(table, study, budget_text: str, args, runs_csv: Path) -> None:
    """The runs CSV, the per-variant summary, the figure and the printed conclusions."""
    from wic.experiments import ablation

    summary = ablation.summarize(table, study=study)
    args.results.mkdir(parents=True, exist_ok=True)
    runs = table[[c for c in RUN_COLUMNS if c in table]]
    runs.to_csv(runs_csv, index=False)
    summary.round(5).to_csv(args.results / "fast_ablation_summary.csv", index_label="variant")
    n_seeds = table["seed"].nunique()
    seeds = f"{n_seeds} seed{'s' if n_seeds > 1 else ''}"
    ablation.plot(table, summary, study=study, path=args.figure,
                  title=f"One ingredient removed at a time from the fast recipe\n"
                        f"({budget_text}, {seeds})")
    print(summary.round(4).to_string())
    for line in ablation.conclusions(summary, budget_text, study):
        print("-", line)
    print(f"wrote {runs_csv}, {args.results / 'fast_ablation_summary.csv'}, {args.figure}")


if __name__ == "__main__":
    sys.exit(main())
