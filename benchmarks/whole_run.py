"""A whole training run under each setting of wic's fast kernels: what a user's `wic train` gains.

``benchmarks/throughput.py`` (stage 7) times training *steps* with and without the fast kernels;
a run also loads the data, compiles, evaluates and writes its card, so its gain may be smaller.
This runs the same ``wic train`` command once per setting, each in a fresh process, the settings
in a rotated order each repeat (every setting runs first, second and last once in three repeats,
so a machine that drifts favours none), and reads each run's card: training time, data loading,
the test score (with TTA) and its accuracy. The seed is the same in every run, so every setting
does the same work; accuracies differ only where rounding does (bfloat16 sums added in another
order, by another kernel or another thread), a tiny change that training amplifies, so they do
not say which setting learns better.

    .venv/bin/python benchmarks/whole_run.py                                  # 3 epochs, 3 repeats
    .venv/bin/python benchmarks/whole_run.py --csv benchmarks/results/whole_run_zen4.csv
    .venv/bin/python benchmarks/whole_run.py --settings on no-xla --repeats 5 --epochs 2

Settings (``wic.models.airbench``; ``WIC_FAST_KERNELS`` / ``WIC_XLA_GELU`` in the child's
environment): ``on`` — all fast kernels; ``no-xla`` — without GELU compiled by XLA; ``off`` —
Keras' own ops; each with TensorFlow's oneDNN ops as wic sets them (``wic.backend``). Not run
unless asked for: ``onednn-off`` — all fast kernels, oneDNN ops off (``TF_ENABLE_ONEDNN_OPTS=0``),
TensorFlow's own default on a CPU without AVX-512 VNNI/BF16 or AMX:

    .venv/bin/python benchmarks/whole_run.py --settings on onednn-off --csv benchmarks/results/whole_run_zen1.csv

``held`` — all fast kernels, the whitening layer's bias held from the first step
(``--set whiten_bias_epochs=0.001``: under one step's worth, so the step is traced once, without
that bias): what a whole run keeps of the held step's saving (``benchmarks/step_profile.py
--settings on held`` times the step alone). ``--set FIELD=VALUE`` (repeatable) gives every run
the same recipe field, e.g. the 78% race's one epoch of the narrow net with Muon:

    .venv/bin/python benchmarks/whole_run.py --model airbench_cpu_xs --recipe fast --epochs 1 \
        --set optimizer=muon --set batch_size=512 --settings on held --repeats 3

Each distinct command is first run with ``--dry-run`` (no data loaded), so a recipe value wic
refuses stops the benchmark before its first timed run.

The CSV is rewritten after every run, so an interrupted benchmark keeps the runs
it finished. The summary (``wic.experiments.results.whole_run``) gives, per repeat, each other
setting's training time over ``on``'s, and their median.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from throughput import FAST_SETTINGS, cpu_info, load, rotated, unknown_models

from wic.config import ONEDNN_VAR  # TensorFlow-free, unlike wic.backend
from wic.values import assignments

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CSV = ROOT / "benchmarks" / "results" / "whole_run.csv"
RECIPES = ("seed", "fast", "fast94")

#: the environment of each setting (the switches wic.models.airbench reads at import; None
#: removes a variable): the fast kernels' three, each with wic's own choice of TensorFlow's
#: oneDNN ops (wic.backend.onednn_setting), and ``onednn-off``: all fast kernels with
#: TensorFlow's oneDNN ops off, as TensorFlow leaves them on a CPU without AVX-512 VNNI/BF16
SETTING_ENV = {"on": {"WIC_FAST_KERNELS": "1", "WIC_XLA_GELU": "1", ONEDNN_VAR: None},
               "no-xla": {"WIC_FAST_KERNELS": "1", "WIC_XLA_GELU": "0", ONEDNN_VAR: None},
               "off": {"WIC_FAST_KERNELS": "0", "WIC_XLA_GELU": "0", ONEDNN_VAR: None},
               "onednn-off": {"WIC_FAST_KERNELS": "1", "WIC_XLA_GELU": "1", ONEDNN_VAR: "0"},
               "held": {"WIC_FAST_KERNELS": "1", "WIC_XLA_GELU": "1", ONEDNN_VAR: None}}
SETTINGS = (*FAST_SETTINGS, "onednn-off", "held")
assert set(SETTING_ENV) == set(SETTINGS)

#: the recipe fields a setting adds to the command (``wic train --set``); ``held``: a value under
#: one step's worth holds the bias from the first step (wic.training.schedules.HoldWhiteningBias),
#: so the step is traced once, already without it, as in the races' ``_wb0`` runs
SETTING_SET = {"held": {"whiten_bias_epochs": "0.001"}}


def setting_env(setting: str, base) -> dict:
    """``base`` (the parent's environment) with ``setting``'s switches set or removed."""
    env = {**base, "TF_CPP_MIN_LOG_LEVEL": "2"}
    for name, value in SETTING_ENV[setting].items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


#: the card fields a row keeps (``wic train`` writes them; tests read a shipped card)
CARD_FIELDS = ("train_wall_time_s", "data_load_s", "test_eval_s", "test_accuracy", "epochs_run",
               "precision_used")


def row_from_card(card: dict) -> dict:
    """The measured fields of a run's card; a card without one of them is refused by name."""
    missing = [f for f in CARD_FIELDS if f not in card]
    if missing:
        raise ValueError(f"the run's card has no {', '.join(missing)} "
                         f"(expected wic train's card with {', '.join(CARD_FIELDS)})")
    return {f: card[f] for f in CARD_FIELDS}


def recipe_set(common: dict[str, str], setting: str) -> dict[str, str]:
    """The ``--set`` fields of ``setting``'s runs: every run's, then the setting's own."""
    return {**common, **SETTING_SET.get(setting, {})}


def train_command(args, out: str, run_dir: Path, fields: dict[str, str]) -> list[str]:
    cmd = [sys.executable, "-m", "wic.cli", "train", "--model", args.model, "--recipe",
           args.recipe, "--epochs", str(args.epochs), "--seed", str(args.seed), "--out", out,
           "--run-dir", str(run_dir), "--verbose", "0"]
    if args.train_subset:
        cmd += ["--train-subset", str(args.train_subset)]
    for name, text in fields.items():
        cmd += ["--set", f"{name}={text}"]
    return cmd


def write_rows(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".csv.part")
    with open(tmp, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    os.replace(tmp, path)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="airbench94_cpu")
    p.add_argument("--recipe", default="fast", choices=RECIPES)
    p.add_argument("--epochs", type=int, default=3, help="the recipe's schedule length")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--settings", nargs="+", default=list(FAST_SETTINGS), choices=SETTINGS)
    p.add_argument("--train-subset", type=int, help="train on this many images (smoke runs)")
    p.add_argument("--set", action="append", metavar="FIELD=VALUE",
                   help="a recipe field for every run (repeatable), as wic train's --set")
    p.add_argument("--csv", default=str(DEFAULT_CSV), help=f"output CSV (default {DEFAULT_CSV})")
    args = p.parse_args(argv)
    if args.epochs < 1 or args.repeats < 1:
        p.error(f"--epochs and --repeats must be at least 1, got {args.epochs} and {args.repeats}")
    if "on" not in args.settings or len(set(args.settings)) < 2:
        p.error(f"--settings must hold 'on' and at least one other setting to compare it with, "
                f"got {' '.join(args.settings)} (settings: {', '.join(SETTINGS)})")
    settings = list(dict.fromkeys(args.settings))
    try:
        common = assignments(args.set or [], "--set")
    except ValueError as e:
        p.error(str(e))
    for s in settings:
        both = sorted(set(common) & set(SETTING_SET.get(s, {})))
        if both:
            p.error(f"--set {', '.join(both)}: the setting {s!r} sets it itself; drop one")
    unknown = unknown_models([args.model])
    if unknown:
        p.error(unknown.replace("--models", "--model"))
    if not os.environ.get("WIC_DATA_DIR"):
        print("note: WIC_DATA_DIR is not set; wic train looks in Keras' cache", flush=True)
    cpu = cpu_info()["label"]
    runs = len(settings) * args.repeats
    print(f"CPU: {cpu}\nwic train --model {args.model} --recipe {args.recipe} --epochs "
          f"{args.epochs} --seed {args.seed}{''.join(f' --set {k}={v}' for k, v in common.items())}: "
          f"{runs} runs ({args.repeats} repeats of "
          f"{', '.join(settings)}), each in a fresh process", flush=True)
    rows: list[dict] = []
    out = Path(args.csv)
    with tempfile.TemporaryDirectory(prefix="wic-whole-run-") as tmp:
        # each distinct command once: a value wic refuses stops here, before any timed run
        distinct = {tuple(recipe_set(common, s).items()): s for s in settings}
        for fields, setting in distinct.items():
            cmd = train_command(args, "dry_run", Path(tmp) / "dry_run", dict(fields)) + ["--dry-run"]
            proc = subprocess.run(cmd, env=setting_env(setting, os.environ), capture_output=True,
                                  text=True, cwd=str(ROOT))
            if proc.returncode != 0:
                tail = (proc.stderr.strip().splitlines() or ["?"])[-1]
                print(f"wic train refused the {setting!r} runs' command (exit {proc.returncode}): "
                      f"{tail}", file=sys.stderr, flush=True)
                return 2
        for rep in range(args.repeats):
            for pos, setting in enumerate(rotated(settings, rep)):
                name = f"whole_run_{setting.replace('-', '_')}_{rep}"
                env = setting_env(setting, os.environ)
                load_before = load()[0]
                t0 = time.perf_counter()
                fields = recipe_set(common, setting)
                proc = subprocess.run(train_command(args, name, Path(tmp) / name, fields),
                                      env=env, capture_output=True, text=True, cwd=str(ROOT))
                wall = time.perf_counter() - t0
                done = len(rows) + 1
                card_file = Path(tmp) / name / f"{name}.json"
                if proc.returncode != 0 or not card_file.is_file():
                    tail = (proc.stderr.strip().splitlines() or ["?"])[-1]
                    print(f"  [{done}/{runs}] repeat {rep} {setting}: FAILED (exit "
                          f"{proc.returncode}: {tail[-300:]})", flush=True)
                    return 1
                row = {"cpu": cpu, "model": args.model, "recipe": args.recipe,
                       "epochs": args.epochs, "seed": args.seed, "train_images":
                       args.train_subset or "all", "repeat": rep, "position": pos,
                       "setting": setting, "set": " ".join(f"{k}={v}" for k, v in common.items()),
                       **row_from_card(json.loads(card_file.read_text())),
                       "process_s": round(wall, 1), "load_before": load_before}
                rows.append(row)
                write_rows(out, rows)
                print(f"  [{done}/{runs}] repeat {rep} {setting:<7s} training "
                      f"{row['train_wall_time_s']:7.1f} s, process {wall:7.1f} s, test accuracy "
                      f"{row['test_accuracy']:.2%} (load before {load_before})", flush=True)
    from wic.experiments import results

    print()
    print(results.whole_run_table(out))
    print(f"\nwrote {out} ({len(rows)} rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
