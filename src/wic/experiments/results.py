"""The fast recipe's results as markdown tables, written from the benchmarks' CSV files.

``benchmarks/FAST_RECIPE.md`` holds the block between ``<!-- results:begin -->`` and
``<!-- results:end -->``; :func:`update` rewrites it from ``benchmarks/results/`` (run
``python benchmarks/report.py``), and a test checks the committed block is the one the CSVs
produce, so no number in it is typed by hand.
"""

from __future__ import annotations

import csv
from pathlib import Path

from wic import cards
from wic.evaluation.metrics import TIME_TO_ACCURACY_TARGETS as TARGETS
from wic.evaluation.metrics import TIME_TO_ACCURACY_THRESHOLDS as THRESHOLDS
from wic.evaluation.metrics import time_to_threshold

BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"


def write_rows(path, rows: list[dict], fieldnames: list[str] | None = None) -> Path:
    """Write benchmark rows as CSV (columns: ``fieldnames``, default the keys in order of first
    appearance; keys not listed are left out); creates the folder; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fieldnames is None:
        fieldnames = list(dict.fromkeys(k for r in rows for k in r))
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fieldnames, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    return path


def read_rows(path: Path) -> list[dict]:
    """A time-to-accuracy CSV as dicts, numbers as floats."""
    with open(path) as fh:
        rows = list(csv.DictReader(fh))
    for r in rows:
        for k in ("elapsed_s", "train_s", "eval_s", "test_accuracy"):
            if k in r:
                r[k] = float(r[k])
    return rows


def _labels(rows: list[dict]) -> list[str]:
    return list(dict.fromkeys(r["recipe"] for r in rows))


def _final(rows: list[dict], label: str) -> dict | None:
    return next((r for r in rows if r["recipe"] == label and r["epoch"] == "final"), None)


def _minutes(seconds: float | None) -> str:
    return f"{seconds / 60:.1f}" if seconds is not None else "–"


def runs_table(rows: list[dict]) -> str:
    """One line per run: final accuracy, minutes to it, minutes to each threshold."""
    head = "| run | final test accuracy | minutes to final | " + " | ".join(
        f"min to {100 * t:.0f}%" for t in THRESHOLDS) + " | load at end |"
    lines = [head, "|---|---:|---:|" + "---:|" * len(THRESHOLDS) + "---:|"]
    for label in _labels(rows):
        fin = _final(rows, label)
        recorded = rows[[r["recipe"] for r in rows].index(label)]["source"].startswith("recorded")
        name = f"`{label}`" + (" (recorded; validation accuracy per epoch)" if recorded else "")
        acc = f"{fin['test_accuracy']:.2%}" if fin else "–"
        load = (fin or {}).get("load_avg_end") or "–"
        lines.append(f"| {name} | {acc} | {_minutes(fin['elapsed_s'] if fin else None)} | "
                     + " | ".join(_minutes(time_to_threshold(rows, label, t)) for t in THRESHOLDS)
                     + f" | {load} |")
    return "\n".join(lines)


def targets_table(rows: list[dict]) -> str:
    """Each absolute target: the earliest run to reach it, and whether within the limit."""
    lines = ["| target | first reached by | at | met? |", "|---|---|---:|---|"]
    for acc, limit in TARGETS:
        hits = sorted((t, label) for label in _labels(rows)
                      if (t := time_to_threshold(rows, label, acc)) is not None)
        if hits:
            t, label = hits[0]
            lines.append(f"| ≥ {100 * acc:.0f}% within {limit / 60:.0f} min | `{label}` | "
                         f"{t / 60:.1f} min | {'**yes**' if t <= limit else 'no'} |")
        else:
            lines.append(f"| ≥ {100 * acc:.0f}% within {limit / 60:.0f} min | (not reached) | – | no |")
    return "\n".join(lines)


def race_table(rows: list[dict], reference: str = "seed", threshold: float = 0.78) -> str:
    """Time to ``threshold`` of every run against the reference run, as ratios."""
    ref = time_to_threshold(rows, reference, threshold)
    lines = [f"| run | time to {100 * threshold:.0f}% (s) | × sooner than `{reference}` |",
             "|---|---:|---:|"]
    for label in _labels(rows):
        t = time_to_threshold(rows, label, threshold)
        ratio = "–" if label == reference or not (t and ref) else f"**{ref / t:.1f}x**"
        lines.append(f"| `{label}` | {f'{t:.0f}' if t else 'not reached'} | {ratio} |")
    return "\n".join(lines)


def repeats_line(rows: list[dict]) -> str:
    """Mean and range of final accuracy over repeat runs (labels ``X`` and ``X_seedN``)."""
    groups: dict[str, list[float]] = {}
    for label in _labels(rows):
        fin = _final(rows, label)
        if fin and not fin["source"].startswith("recorded"):
            groups.setdefault(label.split("_seed")[0], []).append(fin["test_accuracy"])
    parts = [f"`{g}` over {len(a)} runs: mean {sum(a) / len(a):.2%}, range {min(a):.2%}–{max(a):.2%}"
             for g, a in groups.items() if len(a) > 1]
    return ("Repeat runs (other seeds): " + "; ".join(parts) + ".") if parts else ""


def throughput_table(path: Path) -> str:
    """``benchmarks/throughput.py``'s CSV: images/s of each setting and its ratio."""
    with open(path) as fh:
        rows = list(csv.DictReader(fh))
    lines = ["| setting | model | batch | images/s | ratio |", "|---|---|---:|---:|---:|"]
    for r in rows:
        ratio = f"x{float(r['ratio_to_baseline']):.2f}" if r.get("ratio_to_baseline") else "–"
        lines.append(f"| {r['config']} | {r.get('model') or '(input pipeline)'} | {r['batch']} | "
                     f"{float(r['images_per_s']):,.1f} | {ratio} |")
    return "\n".join(lines)


def ablation_table(summary_csv: Path, runs_csv: Path | None = None) -> str:
    """The fast-recipe ablation: each variant's accuracy, difference and training time."""
    with open(summary_csv) as fh:
        summary = list(csv.DictReader(fh))
    base_s = next((float(r["train_s"]) for r in summary if r.get("train_s")), None)
    lines = ["| variant | runs | mean test accuracy | ± std | vs baseline (points) | training time vs baseline |",
             "|---|---:|---:|---:|---:|---:|"]
    for r in summary:
        std = f"{float(r['std']):.4f}" if r.get("std") not in (None, "", "nan") else "–"
        time_ratio = f"{float(r['train_s']) / base_s:.2f}x" if r.get("train_s") and base_s else "–"
        lines.append(f"| {r['variant']} | {r['runs']} | {float(r['mean']):.4f} | {std} | "
                     f"{float(r['delta_points']):+.2f} | {time_ratio} |")
    if runs_csv and Path(runs_csv).is_file():
        with open(runs_csv) as fh:
            loads = [float(r["load_avg_end"]) for r in csv.DictReader(fh) if r.get("load_avg_end")]
        if loads:
            lines.append(f"\n(1-minute load average when the sweep ended: {max(loads):.2f})")
    return "\n".join(lines)


def render(results_dir: Path) -> str:
    """The whole generated block (sections whose CSV is missing are left out)."""
    d = Path(results_dir)
    parts = []
    if (d / "time_to_accuracy.csv").is_file():
        rows = read_rows(d / "time_to_accuracy.csv")
        parts += ["**Every run** (`time_to_accuracy.csv`; minutes from start, data loading and the "
                  "final TTA evaluation included; '–' = not reached):", "", runs_table(rows)]
        if line := repeats_line(rows):
            parts += ["", line]
        parts += ["", "**The absolute targets:**", "", targets_table(rows)]
    if (d / "time_to_78.csv").is_file():
        parts += ["", "**The seed's 78%, both recipes measured in one invocation** "
                  "(`time_to_78.csv`, test accuracy after every epoch):", "",
                  race_table(read_rows(d / "time_to_78.csv"))]
    if (d / "fast_ablation_summary.csv").is_file():
        parts += ["", "**One ingredient removed at a time** (`fast_ablation_summary.csv`):", "",
                  ablation_table(d / "fast_ablation_summary.csv", d / "fast_ablation_runs.csv")]
    for name, title in (("throughput_idle.csv", "alone on the machine"),
                        ("throughput_contended_1.csv", "while another job shared the CPU")):
        if (d / name).is_file():
            parts += ["", f"**Training throughput, {title}** (`{name}`; ratios within that run):", "",
                      throughput_table(d / name)]
    return "\n".join(parts)


def update(doc: Path, results_dir: Path) -> bool:
    """Rewrite the generated block of ``doc``; True if it changed."""
    return cards.replace_block(doc, BEGIN, END, render(results_dir))
