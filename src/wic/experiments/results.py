"""The fast recipe's results as markdown tables, written from the benchmarks' CSV files.

``benchmarks/FAST_RECIPE.md`` holds the block between ``<!-- results:begin -->`` and
``<!-- results:end -->``; :func:`update` rewrites it from ``benchmarks/results/`` (run
``python benchmarks/report.py``), and a test checks the committed block is the one the CSVs
produce, so no number in it is typed by hand.
"""

from __future__ import annotations

import csv
import re
import statistics
from pathlib import Path

import numpy as np

from wic import cards, values
from wic.evaluation.metrics import (
    CLEAN_TARGET,
    CORRUPTED_TARGET,
    robust_repeats,
    time_to_threshold,
)
from wic.evaluation.metrics import TIME_TO_ACCURACY_TARGETS as TARGETS
from wic.evaluation.metrics import TIME_TO_ACCURACY_THRESHOLDS as THRESHOLDS
from wic.experiments import shipping

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


def recipe_of(label: str) -> str:
    """The recipe a run label repeats: ``fast94_seed2`` -> ``fast94`` (other seeds of one
    recipe are labelled ``X_seedN``)."""
    return label.split("_seed")[0]


def group_finals(rows: list[dict], group: str) -> list[dict]:
    """The final rows of recipe ``group``'s measured runs (not the recorded ones)."""
    return [f for label in _labels(rows) if recipe_of(label) == group
            and (f := _final(rows, label)) and not f["source"].startswith("recorded")]


def _repeat_groups(rows: list[dict]) -> dict[str, list[dict]]:
    """{recipe: its runs' final rows} for each recipe with two or more measured runs."""
    return {g: fins for g in dict.fromkeys(recipe_of(label) for label in _labels(rows))
            if len(fins := group_finals(rows, g)) > 1}


#: The nets by what they are, for legends a reader understands.
NET_NAMES = {"seed_v1_3": "seed net", "airbench_cpu_s": "small fast net",
             "airbench_cpu_xs": "narrow fast net", "airbench94_cpu_wide": "wider fast net",
             "airbench94_cpu": "full-width fast net"}


_LABEL_WORDS = {"muon": "Muon", "nesterov": "Nesterov"}
_PARTS = {"h": "half", "q": "quarter", "q3": "three quarters"}  # of a run, in a label's cNx / rNx


def _label_word(word: str) -> str:
    """One word of a run label spelt out: ``muon``, ``b512`` (batch 512), ``wb3`` / ``wb02`` /
    ``wb0`` (the whitening bias held after 3 epochs / 0.2 of one / from the first step: a leading
    0 is "0."), ``c24h`` / ``r24q`` / ``r24q3`` (24x24 windows / pictures shrunk to 24x24 for the
    first half / quarter / three quarters of the run); any other word as it is."""
    if word in _LABEL_WORDS:
        return _LABEL_WORDS[word]
    if m := re.fullmatch(r"b(\d+)", word):
        return f"batch {m[1]}"
    if m := re.fullmatch(r"wb(\d)(\d*)", word):
        epochs = float(f"{m[1]}.{m[2]}" if m[2] else m[1])
        return "whitening bias held " + ("from the first step" if epochs == 0 else
                                         f"after {epochs:g} epoch{'s' if epochs > 1 else ''}")
    if m := re.fullmatch(r"([cr])(\d+)(h|q|q3)", word):
        smaller = f"{m[2]}x{m[2]} windows" if m[1] == "c" else f"pictures shrunk to {m[2]}x{m[2]}"
        return f"{smaller} for the first {_PARTS[m[3]]}"
    return word


def run_names(rows: list[dict]) -> dict[str, str]:
    """Legend words for each run label of a time-to-accuracy CSV: the recipe, its epochs and
    the net (``fast_3ep`` on airbench_cpu_s -> "fast recipe, 3-epoch schedule, small fast net";
    ``muon_1ep_b512`` -> "fast recipe + Muon, batch 512, 1-epoch schedule, ...");
    a repeat with another seed says so."""
    names = {}
    for label in _labels(rows):
        row = next(r for r in rows if r["recipe"] == label)
        base, _, seed = label.partition("_seed")
        model = row.get("model") if isinstance(row.get("model"), str) else None
        net = NET_NAMES.get(model or "", model or "")
        if base == "seed":
            text = "seed recipe (Adam, batch 32)"
        else:  # the schedule's length: fast_3ep -> 3, else the named recipe's own epochs
            from wic.training import RECIPES

            m = re.search(r"(?:^|_)(\d+)ep(?=_|$)", base)
            epochs = int(m.group(1)) if m else getattr(RECIPES.get(base), "epochs", None)
            # a labelled variant's other words (muon_1ep_b512 -> "Muon, batch 512"); a word
            # naming the net's own suffix (xs for airbench_cpu_xs) is said by the net's name
            suffix = (model or "").rpartition("_")[2]
            extra = [_label_word(w) for w in (base[:m.start()] + "_" + base[m.end():] if m else "").split("_")
                     if w and w not in RECIPES and not (model in NET_NAMES and w == suffix)]
            text = "fast recipe" + (" + " + ", ".join(extra) if extra else "")
            text += f", {epochs}-epoch schedule" if epochs else ""
        text += f", {net}" if net and base != "seed" else ""
        names[label] = text + (f", seed {seed}" if seed else "")
    return names


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


# the wall-clock targets of the second round of the fast recipe (issue 14) on the 2-core
# machine: >= 90% within 5 minutes, >= 94% within 20 (targets_table names the first run to
# reach each; repeat_times_line gives the mean over the repeats)
SECOND_ROUND_TARGETS = ((0.90, 5 * 60), (0.94, 20 * 60))


def targets_table(rows: list[dict], targets=TARGETS) -> str:
    """Each absolute target: the earliest run to reach it, and whether within the limit."""
    lines = ["| target | first reached by | at | met? |", "|---|---|---:|---|"]
    for acc, limit in targets:
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
    groups = {g: [f["test_accuracy"] for f in fins] for g, fins in _repeat_groups(rows).items()}
    parts = [f"`{g}` over {len(a)} runs: mean {sum(a) / len(a):.2%}, range {min(a):.2%}–{max(a):.2%}"
             for g, a in groups.items()]
    return ("Repeat runs (other seeds): " + "; ".join(parts) + ".") if parts else ""


def repeat_times_line(rows: list[dict], threshold: float) -> str:
    """Minutes to ``threshold`` of each group of repeat runs (``X``, ``X_seedN``) with 2+ runs
    that reached it, and their mean and range; a run of the group that never reached it is
    counted and said (``2 of 3 runs reached it``), never silently left out of the mean."""
    groups: dict[str, list[float]] = {}
    finished: dict[str, int] = {}
    for label in _labels(rows):
        group = recipe_of(label)
        if _final(rows, label):
            finished[group] = finished.get(group, 0) + 1
        if (t := time_to_threshold(rows, label, threshold)) is not None:
            groups.setdefault(group, []).append(t / 60)
    parts = []
    for g, ts in groups.items():
        if len(ts) < 2:
            continue
        runs = max(finished.get(g, 0), len(ts))
        who = f"over {len(ts)} runs" if runs == len(ts) else f"{len(ts)} of {runs} runs reached it"
        parts.append(f"`{g}` {who}: mean {sum(ts) / len(ts):.1f} min, range "
                     f"{min(ts):.1f}–{max(ts):.1f}")
    return (f"Minutes to {100 * threshold:.0f}%, repeat runs: " + "; ".join(parts) + ".") \
        if parts else ""


def epoch_steps(rows: list[dict], label: str) -> list[float]:
    """Run ``label``'s training seconds of each epoch after the first: the steps of its
    ``train_s`` clock from one epoch's checkpoint to the next (so the first epoch's data loading
    and compilation, and every checkpoint evaluation, are left out); empty with fewer than two
    epoch rows."""
    clock = [r["train_s"] for r in rows if r["recipe"] == label and r["epoch"] != "final"
             and r.get("train_s") not in (None, "")]
    return [b - a for a, b in zip(clock, clock[1:])]


def epoch_seconds(rows: list[dict], label: str) -> float | None:
    """Run ``label``'s training seconds per epoch: the median of :func:`epoch_steps`. None with
    fewer than two epoch rows."""
    steps = epoch_steps(rows, label)
    return statistics.median(steps) if steps else None


def run_record(rows: list[dict], label: str) -> dict:
    """What run ``label`` trained, as ``benchmarks/time_to_accuracy.py`` records it in the run's
    final row: ``named_recipe``, ``seed`` (an int) and ``changes``, the recipe's fields that
    differ from the named recipe ({field: value as text}). Refuses a run with no final row or
    one written before the script kept this record."""
    f = _final(rows, label)
    if f is None or f.get("seed") in (None, ""):
        raise ValueError(f"run {label!r}: no seed and recipe recorded in its final row; accepted: "
                         "the rows of benchmarks/time_to_accuracy.py (columns named_recipe, seed, "
                         "changes)")
    return {"named_recipe": f["named_recipe"], "seed": int(f["seed"]),
            "changes": values.assignments(f["changes"].split(), option=f"run {label}:")}


def cheaper_first_epochs(rows: list[dict], baseline: str, variant: str) -> dict:
    """Runs of recipe ``variant``, which trains its first epochs on smaller pictures (its
    recorded ``crop_epochs``, whole epochs), against recipe ``baseline``'s runs in one
    time-to-accuracy CSV.

    For each variant run, ``"pairs"`` holds its ``label``, its ``twin`` (the baseline run with the
    same recorded seed, :func:`run_record`) and both final rows; ``cheaper``, the epochs on smaller
    pictures; their seconds (``small_s``; epoch 1 left out: it also loads the data and compiles)
    against the next epoch's, the first whole one (``next_s``: a machine's pace drifts over an
    hour, so the neighbour is the fair yardstick), their ``share`` and the minutes the cheaper
    epochs ``saved_min`` at that pace; how much sooner than its twin it gave its final score
    (``sooner_min``, negative: later); and the median whole epoch of the run and of its twin
    (``whole_s``, ``twin_whole_s``: the two sessions' paces, which decide whether their minutes
    compare). Over the pairs, their means: ``share``, ``saved_min``, ``sooner_min`` and ``pace``
    (``whole_s`` over ``twin_whole_s``); ``accuracy``, the variant's mean final accuracy, and
    ``difference``, its :func:`seed_difference` against all the baseline's runs (None when the
    baseline ran once: no spread between seeds to judge by). Refuses a
    variant with no run, a run without its twin, or one with fewer than two whole epochs on
    smaller pictures (none left to time after the first)."""
    base = {run_record(rows, f["recipe"])["seed"]: f for f in group_finals(rows, baseline)}
    runs = group_finals(rows, variant)
    if not runs:
        raise ValueError(f"cheaper_first_epochs: no finished run of {variant!r}")
    pairs = []
    for f in runs:
        record = run_record(rows, f["recipe"])
        cheaper = float(record["changes"].get("crop_epochs", 0))
        if cheaper < 2 or not cheaper.is_integer():
            raise ValueError(f"cheaper_first_epochs: {f['recipe']!r} trains {cheaper:g} "
                             f"epoch{'s' * (cheaper != 1)} on smaller pictures (crop_epochs); "
                             "accepted: 2 or more whole epochs")
        cheaper = int(cheaper)
        twin = base.get(record["seed"])
        if twin is None:
            raise ValueError(f"cheaper_first_epochs: {f['recipe']!r} (seed {record['seed']}) has "
                             f"no finished twin among the runs of {baseline!r} (seeds: "
                             f"{', '.join(map(str, base)) or 'none'})")
        steps = epoch_steps(rows, f["recipe"])  # epochs 2.. : the cheaper ones first
        small, after = statistics.mean(steps[:cheaper - 1]), steps[cheaper - 1]
        pairs.append({"label": f["recipe"], "final": f, "twin": twin["recipe"], "twin_final": twin,
                      "cheaper": cheaper, "small_s": small, "next_s": after, "share": small / after,
                      "saved_min": cheaper * (after - small) / 60,
                      "sooner_min": (twin["elapsed_s"] - f["elapsed_s"]) / 60,
                      "whole_s": statistics.median(steps[cheaper - 1:]),
                      "twin_whole_s": epoch_seconds(rows, twin["recipe"])})
    accs = [f["test_accuracy"] for f in runs]
    return {"pairs": pairs, "accuracy": statistics.mean(accs),
            "difference": (seed_difference(accs, [f["test_accuracy"] for f in base.values()])
                           if len(base) > 1 else None),
            "share": statistics.mean(p["share"] for p in pairs),
            "saved_min": statistics.mean(p["saved_min"] for p in pairs),
            "sooner_min": statistics.mean(p["sooner_min"] for p in pairs),
            "pace": statistics.mean(p["whole_s"] / p["twin_whole_s"] for p in pairs)}


def _epochs(rows: list[dict], label: str) -> int:
    return sum(1 for r in rows if r["recipe"] == label and r["epoch"] != "final")


#: The second round's trade, raced on one machine: fewer epochs of a costlier net (the wider
#: net with Muon, 8 epochs) against more epochs of the usual one (``fast94``, 15)
EPOCH_TRADE = ("fast94", "muon_8ep")


def epoch_trade_sentence(rows: list[dict], many: str = EPOCH_TRADE[0], few: str = EPOCH_TRADE[1],
                         threshold: float = 0.94) -> str:
    """Fewer epochs or fewer minutes? Run ``few`` against run ``many`` of the same invocation:
    their epochs, the cost of one epoch, and the minutes to ``threshold`` (or that it was not
    reached). Empty when either run is missing."""
    if not (_final(rows, many) and _final(rows, few)):
        return ""
    e_many, e_few = _epochs(rows, many), _epochs(rows, few)
    s_many, s_few = epoch_seconds(rows, many), epoch_seconds(rows, few)
    t_many, t_few = time_to_threshold(rows, many, threshold), time_to_threshold(rows, few, threshold)
    pct = f"{100 * threshold:.0f}%"
    text = (f"`{few}` trained {e_few} epoch{'s' * (e_few != 1)} where `{many}` trained "
            f"{e_many}")
    if s_few and s_many:  # a cost per epoch needs two epochs of each
        text += (f"; each of its epochs took x{s_few / s_many:.2f} the time of one of `{many}`'s "
                 f"({s_few:.0f} s against {s_many:.0f} s), ")
    else:
        text += ", "
    if t_few is not None and t_many is not None:
        verdict = f"x{t_many / t_few:.2f} sooner" if t_few < t_many else f"x{t_few / t_many:.2f} later"
        return text + (f"and it reached {pct} at {t_few / 60:.1f} min against {t_many / 60:.1f}: "
                       f"{verdict}.")
    reached = [(lbl, t) for lbl, t in ((few, t_few), (many, t_many)) if t is not None]
    return text + ("and neither reached " + pct + "." if not reached else
                   f"and only `{reached[0][0]}` reached {pct} (at {reached[0][1] / 60:.1f} min).")


def _first(rows: list[dict], label: str) -> dict | None:
    return next((r for r in rows if r["recipe"] == label and r["epoch"] == "1"), None)


def predicted_finish(rows: list[dict], label: str, epochs: int) -> float | None:
    """Seconds a run like ``label``, but ``epochs`` long, is predicted to take on the machine
    that ran ``label``: its first epoch as measured (data loading and compilation included),
    each further epoch at :func:`epoch_seconds`, and its final evaluation as measured. None
    when ``label`` lacks two epochs or a timed final evaluation."""
    fin, step, first = _final(rows, label), epoch_seconds(rows, label), _first(rows, label)
    if not (fin and step and first) or fin.get("eval_s") in (None, "") or epochs < 1:
        return None
    return float(first["train_s"]) + (epochs - 1) * step + float(fin["eval_s"])


def epochs_that_fit(rows: list[dict], label: str, limit_s: float) -> tuple[int, float] | None:
    """A schedule planned to the clock: the most epochs a run like ``label`` can train on the
    machine that ran it and still finish within ``limit_s`` (:func:`predicted_finish`), and
    that finish in seconds. None when ``label`` cannot be planned from or not even one epoch fits."""
    one = predicted_finish(rows, label, 1)
    if one is None or one > limit_s:
        return None
    epochs = 1 + int((limit_s - one) // epoch_seconds(rows, label))
    return epochs, predicted_finish(rows, label, epochs)


#: Schedules planned to the clock from a machine's first race (:func:`clock_plan_line`): for
#: each target, the run its epochs were worked out from and the label of the recipe that was
#: then run to that plan (three seeds; AMD EPYC Zen 4: 8 epochs of the fast recipe, 11 of the
#: usual net with Muon). Muon's step costs about what Nesterov's does on the usual net, so
#: ``fast94`` also plans the usual net with Muon.
CLOCK_PLAN = {(0.90, 5 * 60): ("fast", "fast_8ep"), (0.94, 20 * 60): ("fast94", "muon_11ep")}


def runs_of(rows: list[dict], groups) -> list[dict]:
    """The rows of the runs whose recipe (the label before any ``_seedN``) is in ``groups``,
    recipe by recipe in the order of ``groups`` (a recipe's repeats together), each run's rows
    in their own order."""
    order = {g: i for i, g in enumerate(groups)}
    return sorted((r for r in rows if recipe_of(r["recipe"]) in order),
                  key=lambda r: order[recipe_of(r["recipe"])])


def clock_plan_line(rows: list[dict], plan: dict = CLOCK_PLAN) -> str:
    """How many epochs each target's minutes hold on this machine, worked out from the runs
    named in ``plan`` with :func:`epochs_that_fit`, and, where the planned recipe ran, how long
    its runs really took, their epochs (the median over its runs of :func:`epoch_seconds`) and
    final evaluation (median); empty when none of the runs planned from ran here."""
    parts = []
    for (_, limit), (label, planned) in plan.items():
        if (fit := epochs_that_fit(rows, label, limit)) is None:
            continue
        epochs, t = fit
        text = (f"{limit / 60:.0f} min hold **{epochs} epochs** like `{label}`'s (predicted "
                f"{t / 60:.1f} min: its first epoch {float(_first(rows, label)['train_s']):.0f} s, then "
                f"{epoch_seconds(rows, label):.0f} s each, and {float(_final(rows, label)['eval_s']):.0f} s "
                f"of final evaluation)")
        if fins := group_finals(rows, planned):
            mins = [float(f["elapsed_s"]) / 60 for f in fins]
            steps = [e for f in fins if (e := epoch_seconds(rows, f["recipe"])) is not None]
            evals = [float(f["eval_s"]) for f in fins if f.get("eval_s") not in (None, "")]
            text += (f"; `{planned}` then took {statistics.mean(mins):.1f} min"
                     + (f" on average over {len(fins)} runs ({min(mins):.1f}–{max(mins):.1f})"
                        if len(fins) > 1 else "")
                     + (f", its epochs {statistics.median(steps):.0f} s each" if steps else "")
                     + (f" and {statistics.median(evals):.0f} s of final evaluation" if evals else ""))
        parts.append(text)
    return ("The targets' minutes in epochs, worked out from this machine's runs: "
            + "; ".join(parts) + ".") if parts else ""


#: issue 14 judges its targets on the mean of three runs of a recipe
REPEATS_ASKED = 3


def _means(fins: list[dict]) -> tuple[float, float]:
    """The mean final test accuracy and mean minutes to it of one recipe's runs."""
    return (statistics.mean(float(f["test_accuracy"]) for f in fins),
            statistics.mean(float(f["elapsed_s"]) for f in fins) / 60)


def _verdict(fins: list[dict], acc: float, limit_s: float, yes: str = "met", no: str = "missed") -> str:
    """Does one recipe's runs' mean meet ``acc`` within ``limit_s``: ``yes``, ``no``, or, met
    by fewer than :data:`REPEATS_ASKED` runs, ``yes in N runs (3 asked)``."""
    mean_acc, minutes = _means(fins)
    if mean_acc < acc or minutes > limit_s / 60:
        return no
    return yes if len(fins) >= REPEATS_ASKED else \
        f"{yes.strip('*')} in {len(fins)} runs ({REPEATS_ASKED} asked)"


def clock_runs_sentence(rows: list[dict], plan: dict = CLOCK_PLAN) -> str:
    """The recipes run to the clock's plan (:data:`CLOCK_PLAN`) against their own targets, on
    the mean of their runs; empty when none ran."""
    parts = []
    for (acc, limit), (_, planned) in plan.items():
        if not (fins := group_finals(rows, planned)):
            continue
        mean_acc, minutes = _means(fins)
        parts.append(f"`{planned}` reached {mean_acc:.2%} in {minutes:.1f} min (mean of {len(fins)} "
                     f"run{'s' * (len(fins) != 1)}): ≥ {100 * acc:.0f}% within {limit / 60:.0f} min "
                     f"{_verdict(fins, acc, limit)}")
    return "; ".join(parts) + "." if parts else ""


def repeat_targets_table(rows: list[dict], targets=SECOND_ROUND_TARGETS) -> str:
    """The targets judged on a recipe's repeat runs (labels ``X``, ``X_seedN``) together, as
    issue 14 asks ("mean of 3 runs"): a recipe meets ``acc`` within ``limit`` when its runs'
    mean final test accuracy is at least ``acc``, its runs' mean minutes to their final score
    are within ``limit``, and it has at least :data:`REPEATS_ASKED` runs (with fewer, the verdict
    says so).
    One row per recipe with two or more measured runs; empty when there is none."""
    groups = _repeat_groups(rows)
    if not groups:
        return ""
    head = ("| recipe | runs | mean final test accuracy (range) | mean minutes to the final score (range) | "
            + " | ".join(f"≥ {100 * a:.0f}% within {s / 60:.0f} min" for a, s in targets) + " |")
    lines = [head, "|---|---:|---:|---:|" + "---|" * len(targets)]
    for g, fins in groups.items():
        accs = [float(f["test_accuracy"]) for f in fins]
        mins = [float(f["elapsed_s"]) / 60 for f in fins]
        acc, minutes = _means(fins)
        verdicts = [_verdict(fins, a, s, yes="**yes**", no="no") for a, s in targets]
        lines.append(f"| `{g}` | {len(fins)} | {acc:.2%} ({min(accs):.2%}–{max(accs):.2%}) | "
                     f"{minutes:.1f} ({min(mins):.1f}–{max(mins):.1f}) | " + " | ".join(verdicts) + " |")
    return "\n".join(lines)


def machine_race(rows: list[dict]) -> list[str]:
    """A per-machine ``time_to_accuracy_*.csv`` as Markdown blocks: every run, the repeat
    runs' accuracy and minutes to 94%, and the second round's targets (:data:`SECOND_ROUND_TARGETS`):
    by the first single run to reach each, then by each recipe's repeats together. The results
    block and notebook 07 show each machine's race with it."""
    parts = [runs_table(rows)]
    parts += [line for line in (repeats_line(rows), repeat_times_line(rows, 0.94),
                                epoch_trade_sentence(rows), clock_plan_line(rows)) if line]
    parts += ["**The second round's targets on that machine, by the first run to reach each:**",
              targets_table(rows, SECOND_ROUND_TARGETS)]
    if table := repeat_targets_table(rows):
        parts += ["**The same targets by each recipe's runs together (mean of its runs, "
                  "as the issue asks):**", table]
    return parts


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


def _value(rows: list[dict], what: str, dtype: str, unit: str, setting: str | None = None):
    for r in rows:
        if (r["what"] == what and r["dtype"] == dtype and r["unit"] == unit
                and (setting is None or r["setting"].startswith(setting))):
            return float(r["value"]), r
    return None, None


DT = {"float32": "fp32", "bfloat16": "bf16", "mixed_bfloat16": "bf16"}


#: the convolution passes of a training step, as throughput.py's peak rows name them
CONV_PASSES = ("conv_fwd", "conv_bwd_input", "conv_bwd_filter")


def hardware_summary(path: Path, batch: int = 1024) -> dict:
    """``benchmarks/throughput.py``'s peak CSV for one CPU, parsed: ``cpu``, ``flags``,
    ``default`` (the oneDNN state the run measured in: TensorFlow's default there unless the run
    was started with ``TF_ENABLE_ONEDNN_OPTS`` set), ``onednn_set`` (whether it was),
    ``peaks`` [(op label, dtype, GFLOP/s best,
    kernel)], ``conv_peak`` {dtype: GFLOP/s}, ``steps`` at ``batch`` [(model, dtype, images/s,
    GFLOP/s, share of the conv peak)], ``pass_peak`` {dtype: the GFLOP/s of the three
    convolution passes each at its own peak — what a step of only convolutions would reach},
    ``fast_kernels`` [(model and batch, dtype, on, off, on/off)] and, where it was measured,
    ``xla_gelu`` (the same, XLA's GELU on vs the fast kernels without it), ``variants``
    [(net and batch, dtype, setting, images/s, x the run's mean baseline)] (threads, oneDNN
    flipped, XLA: stage 6, each in a fresh process); dtypes as ``fp32``/``bf16``."""
    with open(path) as fh:
        rows = list(csv.DictReader(fh))
    out = {"cpu": rows[0]["cpu"] if rows else "?", "file": Path(path).name, "peaks": [],
           "conv_peak": {}, "steps": [],
           "flags": [r["setting"] for r in rows
                     if r["what"] == "cpu flag" and r["value"] in ("1", "1.0")],
           # the run's own oneDNN state (TensorFlow's default on that machine unless the run set
           # the variable): the setting of the first peak row
           "default": next((r["setting"] for r in rows if r["what"].startswith("peak ")), "")}
    out["onednn_set"] = bool(out["default"]) and "_OPTS=unset " not in out["default"]
    passes: dict[str, dict[str, float]] = {}  # dtype: {conv pass: its peak}
    for r in rows:
        if (r["what"].startswith("peak ") and r["unit"] == "GFLOP/s best"
                and r["setting"] == out["default"]):
            dt = DT.get(r["dtype"], r["dtype"])
            out["peaks"].append((r["what"][5:], dt, float(r["value"]), r["kernel"]))
            passes.setdefault(dt, {})[r["what"].split()[1]] = float(r["value"])
            if r["what"].split()[1] == "conv_fwd":
                out["conv_peak"][dt] = float(r["value"])
        elif (r["what"].startswith("train ") and r["what"].endswith(f" b{batch}")
                and r["unit"] == "img/s" and r["setting"].startswith("baseline")):
            gf, _ = _value(rows, r["what"], r["dtype"], "GFLOP/s", "baseline")
            frac, _ = _value(rows, r["what"], r["dtype"], "fraction of conv fwd peak", "baseline")
            out["steps"].append((r["what"].split()[1], DT.get(r["dtype"], r["dtype"]),
                                 float(r["value"]), gf, frac))
    # a training step is three convolution passes of equal FLOPs (forward, backward to the
    # input, backward to the weights); at their own peaks they take F/fwd + F/in + F/w seconds
    out["pass_peak"] = {dt: 3.0 / sum(1.0 / p[k] for k in CONV_PASSES)
                        for dt, p in passes.items() if all(p.get(k) for k in CONV_PASSES)}
    variant = {(r["what"], r["dtype"], r["setting"], r["unit"]): float(r["value"])
               for r in rows if r["what"].startswith("variant ")}
    out["variants"] = [(what[len("variant "):], DT.get(dtype, dtype), setting, value,
                        variant.get((what, dtype, setting, "x baseline")))
                       for (what, dtype, setting, unit), value in variant.items()
                       if unit == "img/s"]
    for key, prefix in (("fast_kernels", "fast kernels "), ("xla_gelu", "xla gelu ")):
        out[key] = []
        on_off = [r for r in rows if r["what"].startswith(prefix)]
        for what, dtype in dict.fromkeys((r["what"], r["dtype"]) for r in on_off):
            vals = [_value(on_off, what, dtype, unit, setting)[0] for unit, setting in
                    (("images/s", "on"), ("images/s", "off"), ("ratio", "on / off"))]
            if None not in vals:
                out[key].append((what[len(prefix):], DT.get(dtype, dtype), *vals))
    return out


#: AMD's microarchitecture by CPU family and model (AMD's published model ranges); other
#: vendors are named by their flags only
_AMD_ZEN = {26: "Zen 5"}
_AMD_ZEN4_MODELS = (range(0x10, 0x20), range(0x60, 0x80), range(0xA0, 0xB0))
#: family 23 (17h) is Zen 1 and Zen+ below model 0x30 (Naples, Raven Ridge, Pinnacle Ridge,
#: Picasso, Dali), Zen 2 from it (Rome 0x31, Renoir, Matisse, Van Gogh, Mendocino)
_AMD_ZEN2_FIRST_MODEL = 0x30


def cpu_kind(cpu: str, flags: list[str]) -> str:
    """A short name a reader recognises for a CPU label of ``benchmarks/throughput.py``, e.g.
    ``AMD EPYC (AuthenticAMD, family 25 model 17)`` → ``AMD EPYC Zen 4``, an Intel Xeon with
    ``amx_bf16`` → ``Intel Xeon with AMX``."""
    name = re.sub(r"\((R|TM)\)| Processor| CPU", "", cpu.split(" (")[0]).strip()
    m = re.search(r"family (\d+) model (\d+)", cpu)
    if "AMD" not in cpu or not m:
        return f"{name} with AMX" if "amx_bf16" in flags else name
    family, model = int(m.group(1)), int(m.group(2))
    if family == 25:  # Zen 3 and Zen 4 share a family; the model tells them apart
        zen = "Zen 4" if any(model in r for r in _AMD_ZEN4_MODELS) else "Zen 3"
    elif family == 23:  # so do Zen 1 (and Zen+) and Zen 2
        zen = "Zen 2" if model >= _AMD_ZEN2_FIRST_MODEL else "Zen 1"
    else:
        zen = _AMD_ZEN.get(family, "")
    return f"{name} {zen}".strip()


def cpu_named(cpu: str) -> str:
    """A benchmark's CPU text with the AMD Zen generation named where the text carries the family
    and model (``AMD EPYC (AuthenticAMD, family 25 model 1), 2 cores, AVX2: ...`` -> ``AMD EPYC
    Zen 3 (AuthenticAMD, family 25 model 1), 2 cores, AVX2: ...``): a reader knows "Zen 3", not
    "family 25 model 1". Any other text is returned as it is."""
    name, kind = cpu.split(" (")[0], cpu_kind(cpu, [])
    return kind + cpu[len(name):] if kind != name and kind.startswith(name) else cpu


def hardware_across(paths: list[Path], model: str = "airbench94_cpu",
                    batch: int = 1024) -> list[dict]:
    """One row per CPU file and dtype: ``model``'s training step at ``batch`` against the conv
    peak of its dtype on that CPU — ``cpu`` (:func:`cpu_kind`), ``file``, ``dtype``,
    ``gflops``, ``peak`` and ``share``, and ``pass_share`` (of the three convolution passes'
    peak, ``hardware_summary``'s ``pass_peak``; None where a backward peak is missing). A file
    without that step or peak gives no row."""
    out = []
    for path in paths:
        h = hardware_summary(path, batch)
        kind = cpu_kind(h["cpu"], h["flags"])
        if h["onednn_set"]:  # the same CPU measured in another state than TensorFlow's default
            kind += f", {h['default'].split('(')[-1].rstrip(')')}"
        for m, dt, _ips, gf, _frac in h["steps"]:
            peak = h["conv_peak"].get(dt)
            if m == model and gf and peak:
                pp = h["pass_peak"].get(dt)
                out.append({"cpu": kind, "file": h["file"], "dtype": dt, "gflops": gf,
                            "peak": peak, "share": gf / peak,
                            "pass_share": gf / pp if pp else None})
    return out


def hardware_table(path: Path, batch: int = 1024) -> str:
    """:func:`hardware_summary` as markdown: the peaks TensorFlow reaches (and the oneDNN
    kernel that ran), the training step's achieved FLOP/s at ``batch`` as a share of the conv
    peak of its dtype, bf16 / fp32 ratios, wic's fast kernels on vs off, and what else moves
    the step (threads, TensorFlow's oneDNN ops flipped, XLA)."""
    h = hardware_summary(path, batch)
    if not h["onednn_set"]:
        state = f"TensorFlow's default there: {h['default']}"
    else:
        state = f"set for this run: {h['default']}" + (
            ", the state wic trains in on a CPU with AVX2 (`wic.backend`)"
            if h["default"].startswith("TF_ENABLE_ONEDNN_OPTS=1 ") and "avx2" in h["flags"] else "")
    lines = [f"CPU: **{cpu_named(h['cpu'])}** (`{h['file']}`; flags: {', '.join(h['flags']) or 'none listed'}; "
             f"{state})", "",
             "| peak op | dtype | GFLOP/s (best) | kernel that ran |", "|---|---|---:|---|"]
    lines += [f"| {op} | {dt} | {gf:,.0f} | {kernel} |" for op, dt, gf, kernel in h["peaks"]]
    pp = h["pass_peak"]
    lines += ["", f"| training step (batch {batch}) | dtype | images/s | GFLOP/s (3 x forward) "
              "| share of the conv peak | share of the three passes' peak |",
              "|---|---|---:|---:|---:|---:|"]
    lines += [f"| `{m}` | {dt} | {ips:,.0f} | {gf or 0:,.0f} | "
              f"{'–' if frac is None else f'{frac:.0%}'} | "
              f"{f'{gf / pp[dt]:.0%} of {pp[dt]:,.0f}' if gf and pp.get(dt) else '–'} |"
              for m, dt, ips, gf, frac in h["steps"]]
    conv = h["conv_peak"]
    if conv.get("fp32") and conv.get("bf16"):
        ips = {(m, dt): v for m, dt, v, _, _ in h["steps"]}
        ratios = [(m, ips[(m, "bf16")] / ips[(m, "fp32")]) for m in dict.fromkeys(k[0] for k in ips)
                  if (m, "fp32") in ips and (m, "bf16") in ips]
        lines += ["", f"bf16 / fp32 on this CPU: the conv peak x{conv['bf16'] / conv['fp32']:.1f}"
                  + "".join(f"; `{m}`'s step x{r:.2f}" for m, r in ratios)]
    for key, title in (("fast_kernels", "wic's fast kernels (fused BatchNorm, GELU's gradient "
                                        "written out) vs Keras' ops"),
                       ("xla_gelu", "GELU as XLA-compiled loops vs the fast kernels without")):
        if h[key]:
            lines += ["", f"| {title} | dtype | on, images/s | off, images/s | on / off |",
                      "|---|---|---:|---:|---:|"]
            lines += [f"| `{what}` | {dt} | {on:,.0f} | {off:,.0f} | **{ratio:.2f}x** |"
                      for what, dt, on, off, ratio in h[key]]
            if key == "xla_gelu" and any(dt == "fp32" for _, dt, *_ in h[key]):
                lines += ["", "In float32 wic leaves GELU to TensorFlow (`models.airbench.XLA_GELU`), "
                          "so a float32 row here times the same code twice, in two fresh processes: "
                          "read it as how far two repeats differ on this machine."]
    if h["variants"]:
        lines += ["", "| what moves the step (each in a fresh process) | dtype | images/s "
                  "| x the run's mean baseline |", "|---|---|---:|---:|"]
        lines += [f"| `{what}`, {setting} | {dt} | {ips:,.1f} | "
                  f"{'–' if ratio is None else f'{ratio:.2f}x'} |"
                  for what, dt, setting, ips, ratio in h["variants"]]
    return "\n".join(lines)


def step_profile(path: Path) -> dict:
    """``benchmarks/step_profile.py``'s CSV: ``cpu``, ``model``, ``policy``, ``batch``,
    ``processes`` (fresh processes per setting, medians taken), ``settings`` (in the order
    run), ``wall_ms`` {setting: ms per step} and ``kinds`` [(kind, {setting: (ms per step,
    share of the summed op time)})], the kinds ordered by their largest time in any setting."""
    with open(path) as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        raise ValueError(f"{path}: no rows (expected benchmarks/step_profile.py's CSV)")
    settings = list(dict.fromkeys(r["setting"] for r in rows))
    kinds: dict[str, dict] = {}
    for r in rows:
        kinds.setdefault(r["kind"], {})[r["setting"]] = (float(r["ms_per_step"]),
                                                         float(r["share"]))
    order = sorted(kinds, key=lambda k: -max(ms for ms, _ in kinds[k].values()))
    first = rows[0]
    return {"cpu": first["cpu"], "model": first["model"], "policy": first["policy"],
            "batch": int(first["batch"]), "settings": settings, "file": Path(path).name,
            "processes": int(first.get("processes") or 1),  # files before the column: one
            "wall_ms": {r["setting"]: float(r["wall_ms_per_step"]) for r in rows},
            "kinds": [(k, kinds[k]) for k in order]}


#: step_profile.py's kinds of memory-bound work between the convolutions
ELEMENTWISE_KINDS = ("element-wise TensorFlow ops", "casts", "reductions", "XLA-compiled (GELU)",
                     "BatchNorm (fused op)", "max pooling")

#: what each setting of step_profile.py / throughput.py's stage 7 means, for a reader
FAST_SETTING_NAMES = {"on": "all fast kernels", "no-xla": "fast kernels, GELU not compiled",
                      "off": "Keras' ops",
                      "onednn-off": "all fast kernels, TensorFlow's oneDNN ops off",
                      "held": "all fast kernels, whitening bias held"}


def step_profile_table(path: Path) -> str:
    """:func:`step_profile` as markdown: ms per step of each kind of op, per setting."""
    p = step_profile(path)
    names = [FAST_SETTING_NAMES.get(s, s) for s in p["settings"]]
    procs = (f"the median of {p['processes']} fresh processes per setting" if p["processes"] > 1
             else "one process per setting")
    lines = [f"CPU: **{cpu_named(p['cpu'])}**; `{p['model']}`, {DT.get(p['policy'], p['policy'])}, batch "
             f"{p['batch']} (`{p['file']}`; compute-thread ms per step, each op at its self time; "
             f"{procs})",
             "", "| kind of op | " + " | ".join(names) + " |",
             "|---|" + "---:|" * len(names)]
    for kind, per in p["kinds"]:
        cells = [f"{per[s][0]:,.0f} ({per[s][1]:.0%})" if s in per else "–" for s in p["settings"]]
        lines.append(f"| {kind} | " + " | ".join(cells) + " |")
    lines.append("| **wall time per step** | " + " | ".join(
        f"**{p['wall_ms'][s]:,.0f}**" for s in p["settings"]) + " |")
    return "\n".join(lines)


def whole_run(path: Path) -> dict:
    """``benchmarks/whole_run.py``'s CSV: ``cpu`` (:func:`cpu_named`), ``command`` (the run's settings as text, with
    the ``--set`` fields every run had; files from before that column had none),
    ``run`` (net, recipe and epochs, short),
    ``settings`` (first seen first, ``on`` first), per setting ``train_s`` / ``process_s`` /
    ``accuracy`` (lists over repeats), ``median`` {setting: {"train_s", "process_s"}},
    ``ratios`` {other setting: [its training time over ``on``'s, one per repeat that ran both]}
    and ``gain`` {other setting: the median of its ratios}. A ratio above 1 means ``on``
    trained faster."""
    with open(path) as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        raise ValueError(f"{path}: no rows (expected benchmarks/whole_run.py's CSV)")
    settings = sorted(dict.fromkeys(r["setting"] for r in rows), key=lambda s: s != "on")
    per = {s: {"train_s": [], "process_s": [], "accuracy": []} for s in settings}
    by_repeat: dict[str, dict[str, float]] = {}
    for r in rows:
        per[r["setting"]]["train_s"].append(float(r["train_wall_time_s"]))
        per[r["setting"]]["process_s"].append(float(r["process_s"]))
        per[r["setting"]]["accuracy"].append(float(r["test_accuracy"]))
        by_repeat.setdefault(r["repeat"], {})[r["setting"]] = float(r["train_wall_time_s"])
    ratios = {s: [t[s] / t["on"] for t in by_repeat.values() if "on" in t and s in t]
              for s in settings if s != "on"}
    first = rows[0]
    images = "all training images" if first["train_images"] == "all" else \
        f"{int(first['train_images']):,} training images"
    return {"cpu": cpu_named(first["cpu"]), "file": Path(path).name, "settings": settings, "per": per,
            "ratios": ratios, "repeats": len(by_repeat),
            "median": {s: {k: statistics.median(per[s][k]) for k in ("train_s", "process_s")}
                       for s in settings},
            "gain": {s: statistics.median(r) for s, r in ratios.items() if r}, "run": f"{first['model']}, "
            f"{first['recipe']} recipe, {first['epochs']} epoch{'' if first['epochs'] == '1' else 's'}",
            "command": f"`wic train --model {first['model']} --recipe {first['recipe']} "
                       f"--epochs {first['epochs']} --seed {first['seed']}"
                       f"{''.join(f' --set {f}' for f in first.get('set', '').split())}`, {images}"}


def whole_run_table(path: Path) -> str:
    """:func:`whole_run` as markdown: per setting the median training and process times, the
    test accuracy, and ``on``'s gain over it (median and range of the per-repeat ratios)."""
    w = whole_run(path)
    lines = [f"CPU: **{w['cpu']}**; {w['command']}; {w['repeats']} repeat(s), settings in a "
             f"rotated order, each run a fresh process (`{w['file']}`)", "",
             "| setting | training s (median) | whole process s (median) | test accuracy "
             "| training time / all fast kernels' |", "|---|---:|---:|---:|---:|"]
    for s in w["settings"]:
        p = w["per"][s]
        acc = sorted(set(p["accuracy"]))
        acc_txt = " / ".join(f"{a:.2%}" for a in acc)
        r, med = w["ratios"].get(s), w["median"][s]
        ratio = f"**x{w['gain'][s]:.3f}** ({min(r):.3f}–{max(r):.3f})" if r else "–"
        lines.append(f"| {FAST_SETTING_NAMES.get(s, s)} | {med['train_s']:,.1f} | "
                     f"{med['process_s']:,.1f} | {acc_txt} | {ratio} |")
    if "onednn-off" in w["settings"]:
        lines += ["", "TensorFlow's oneDNN ops off is TensorFlow's own default on a CPU without "
                  "AVX-512 VNNI/BF16 or AMX; wic turns them on there (`wic.backend`)."]
    if "held" in w["settings"]:
        lines += ["", "Whitening bias held: `--set whiten_bias_epochs=0.001`, under one step's "
                  "worth, so it is held from the first step and the step is traced once, already "
                  "without the first convolution's input gradient."]
    return "\n".join(lines)


def backends_table(path: Path) -> str:
    """``benchmarks/backends.py``'s CSV: the same net and step on each Keras backend, images/s
    and wall time as ratios to TensorFlow (wic's default engine) in the same precision."""
    with open(path) as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        return ""
    base = {r["policy"]: r for r in rows if r["backend"] == "tensorflow" and r["status"] == "ok"}
    first = rows[0]
    lines = [f"CPU: **{cpu_named(first['cpu'])}**; budget: {first['epochs']} epoch(s) of `{first['model']}` "
             f"at batch {first['batch']}",
             "", "| backend | version | precision | images/s | × TensorFlow | wall s | test accuracy |",
             "|---|---|---|---:|---:|---:|---:|"]
    for r in rows:
        if r.get("status") != "ok":
            lines.append(f"| {r['backend']} | – | {DT.get(r['policy'], r['policy'])} | – | – | – | "
                         f"{r.get('status')} |")
            continue
        b = base.get(r["policy"])
        ratio = (f"x{float(r['images_per_s']) / float(b['images_per_s']):.2f}"
                 if b and r is not b else "–")
        lines.append(f"| {r['backend']} | {r['version']} | {DT.get(r['policy'], r['policy'])} | "
                     f"{float(r['images_per_s']):,.0f} | {ratio} | {float(r['train_s']):.0f} | "
                     f"{float(r['test_accuracy']):.2%} |")
    return "\n".join(lines)


def selective_tta_summary(path: Path) -> dict:
    """``benchmarks/selective_tta.py``'s CSV in a few numbers: the threshold it chose, the share
    of test images scored again, test accuracy plain / full TTA / selective (means over the
    models) and the selective pass's seconds as a share of full TTA's (mean, range)."""
    with open(path) as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        raise ValueError(f"{path} has no rows: run benchmarks/selective_tta.py first")

    def col(key):
        return np.array([float(r[key]) for r in rows])

    diff = 100 * (col("test_selective") - col("test_full"))
    ratio, plain_ratio = col("selective_s") / col("full_s"), col("plain_s") / col("full_s")
    return {"cpu": rows[0]["cpu"], "models": len(rows), "threshold": float(rows[0]["threshold"]),
            # 'fixed' when given with --threshold; older CSVs (no column) chose on held-out images
            "threshold_from": rows[0].get("threshold_from") or "held-out",
            "held_out_images": int(col("held_out_images").sum()), "test_images": int(rows[0]["test_images"]),
            "rerun_test": float(col("rerun_test").mean()),
            "rerun_test_range": (float(col("rerun_test").min()), float(col("rerun_test").max())),
            "test_plain": float(col("test_plain").mean()), "test_full": float(col("test_full").mean()),
            "test_selective": float(col("test_selective").mean()),
            "diff_points": float(diff.mean()), "diff_range": (float(diff.min()), float(diff.max())),
            "time_ratio": float(ratio.mean()), "time_ratio_range": (float(ratio.min()), float(ratio.max())),
            "plain_time_ratio": float(plain_ratio.mean())}


def selective_tta_sentence(sm: dict) -> str:
    """:func:`selective_tta_summary` in one sentence: what selective TTA kept of full TTA's
    accuracy, and at what share of its time."""
    lo, hi = sm["diff_range"]
    t_lo, t_hi = sm["time_ratio_range"]
    r_lo, r_hi = sm["rerun_test_range"]
    return (f"Mean of the {sm['models']} models: selective **{sm['test_selective']:.2%}** against "
            f"full TTA's {sm['test_full']:.2%} ({100 * (sm['test_selective'] - sm['test_full']):+.2f} "
            f"points; {lo:+.2f} to {hi:+.2f} by model) and the plain net's {sm['test_plain']:.2%}; "
            f"{sm['rerun_test']:.0%} of the test images scored again ({r_lo:.0%}–{r_hi:.0%}), in "
            f"x{sm['time_ratio']:.2f} of full TTA's time (x{t_lo:.2f}–x{t_hi:.2f}).")


def selective_tta_table(path: Path) -> str:
    """``selective_tta.csv`` per model: share scored again, test accuracy plain / full TTA /
    selective, and the evaluation seconds of each pass."""
    with open(path) as fh:
        rows = list(csv.DictReader(fh))
    lines = ["| model | held out | scored again (test) | plain | full TTA | selective | "
             "vs full (points) | s plain | s full | s selective | × full's time |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        f = {k: float(r[k]) for k in ("rerun_test", "test_plain", "test_full", "test_selective",
                                      "plain_s", "full_s", "selective_s")}
        lines.append(f"| `{r['model']}` | {int(r['held_out_images']):,} | {f['rerun_test']:.1%} | "
                     f"{f['test_plain']:.2%} | {f['test_full']:.2%} | {f['test_selective']:.2%} | "
                     f"{100 * (f['test_selective'] - f['test_full']):+.2f} | {f['plain_s']:.1f} | "
                     f"{f['full_s']:.1f} | {f['selective_s']:.1f} | "
                     f"x{f['selective_s'] / f['full_s']:.2f} |")
    return "\n".join(lines)


def ablation_table(summary_csv: Path, runs_csv: Path | None = None) -> str:
    """The fast-recipe ablation: each variant's accuracy, difference and training time."""
    with open(summary_csv) as fh:
        summary = list(csv.DictReader(fh))
    base_s = next((float(r["train_s"]) for r in summary if r.get("train_s")), None)
    per_seed = any(r.get("time_ratio") not in (None, "", "nan") for r in summary)
    lines = ["| variant | runs | mean test accuracy | ± std | vs baseline (points) | training time vs "
             "baseline" + (": median over seeds (range) |" if per_seed else " |"),
             "|---|---:|---:|---:|---:|---:|"]
    for r in summary:
        std = f"{float(r['std']):.4f}" if r.get("std") not in (None, "", "nan") else "–"
        if r.get("time_ratio") not in (None, "", "nan"):  # per seed: see ablation._time_ratios
            time_ratio = f"{float(r['time_ratio']):.2f}x"
            lo, hi = r.get("time_ratio_min"), r.get("time_ratio_max")
            if lo not in (None, "", "nan") and f"{float(lo):.2f}" != f"{float(hi):.2f}":
                time_ratio += f" ({float(lo):.2f}–{float(hi):.2f})"
        else:
            time_ratio = f"{float(r['train_s']) / base_s:.2f}x" if r.get("train_s") and base_s else "–"
        lines.append(f"| {r['variant']} | {r['runs']} | {float(r['mean']):.4f} | {std} | "
                     f"{float(r['delta_points']):+.2f} | {time_ratio} |")
    if runs_csv and Path(runs_csv).is_file():
        lines += _ablation_sweeps(read_rows(runs_csv))
    return "\n".join(lines)


def _ablation_sweeps(runs: list[dict]) -> list[str]:
    """Where the ablation's runs ran: per sweep (the seeds that share a CPU and a load average
    at the end), the CPU (``not recorded`` for rows older than the ``cpu`` column) and the load.
    Training times are compared within a seed only (``ablation._time_ratios``), so sweeps on
    different CPUs can share the table."""
    sweeps: dict[tuple, set] = {}
    for r in runs:
        if r.get("load_avg_end") or r.get("cpu"):
            key = (r.get("cpu") or "CPU not recorded", r.get("load_avg_end") or "")
            sweeps.setdefault(key, set()).add(int(float(r["seed"])))
    if not sweeps:
        return []
    if len(sweeps) == 1:
        (cpu, load), _ = next(iter(sweeps.items()))
        at_end = f"; 1-minute load average when the sweep ended: {float(load):.2f}" if load else ""
        return [f"\n({cpu}{at_end})"]
    parts = []
    for (cpu, load), seeds in sorted(sweeps.items(), key=lambda kv: min(kv[1])):
        which = f"seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, sorted(seeds)))}"
        at_end = f", load average {float(load):.2f} when it ended" if load else ""
        parts.append(f"{which}: {cpu}{at_end}")
    return ["\n(the seeds ran in separate sweeps, training times compared within a seed; "
            + "; ".join(parts) + ")"]


def optimizer_study_table(path: Path) -> str:
    """``optimizer_study.csv`` per (model, epochs, variant, share held out, CPU): runs,
    validation accuracy (what ranks the variants: held-out training images) as mean and range,
    the cards' test accuracy beside it (reported, not used to choose), the mean training
    seconds and the CPU (seconds compare only between rows of one CPU and one session: the
    commands in FAST_RECIPE say which ran together). Final runs (``--final``: all training
    images, nothing held out) have test accuracy only."""
    groups: dict[tuple, list[dict]] = {}
    for r in read_rows(path):
        held = float(r.get("validation_split") or 0)
        key = (r["model"], int(r["epochs"]), r["variant"], held, cpu_label(r.get("cpu", "")))
        groups.setdefault(key, []).append(r)
    lines = ["| model | epochs | variant | changes | held out | runs | validation accuracy: mean "
             "(range) | test accuracy: mean (range) | training s | CPU |",
             "|---|---:|---|---|---:|---:|---:|---:|---:|---|"]

    def stat(vals):
        m = sum(vals) / len(vals)
        return f"{m:.2%}" if len(vals) == 1 else f"{m:.2%} ({min(vals):.2%}–{max(vals):.2%})"

    for (model, epochs, variant, held, cpu), rows in groups.items():
        val = [float(r["val_accuracy"]) for r in rows if r.get("val_accuracy")]
        test = [float(r["test_accuracy"]) for r in rows if r.get("test_accuracy")]
        secs = [float(r["train_seconds"]) for r in rows if r.get("train_seconds")]
        lines.append(f"| `{model}` | {epochs} | {variant} | {rows[0]['changes'] or '(recipe as is)'} "
                     f"| {f'{held:.0%}' if held else 'none (final)'} | {len(rows)} "
                     f"| {stat(val) if val else '–'} | {stat(test) if test else '–'} "
                     f"| {f'{sum(secs) / len(secs):,.0f}' if secs else '–'} | {cpu} |")
    return "\n".join(lines)


def cpu_label(cpu: str) -> str:
    """A short name for a training CSV's ``cpu`` text: :func:`cpu_kind`'s name, then the widest
    vector units (``AMD EPYC (AuthenticAMD, family 25 model 1), 2 cores, AVX2: no bf16 hardware``
    -> ``AMD EPYC Zen 3 · AVX2``; labels written before December 2026 carry no CPU family, so
    no Zen generation: ``AMD EPYC · AVX2``)."""
    units = cpu.partition("cores, ")[2].partition(":")[0]
    return f"{cpu_kind(cpu, [])} · {units}" if units else (cpu or "?")


def epoch_study_rows(path: Path, model: str, epochs: int, others: tuple[str, ...] = (),
                     cpu: str | None = None) -> list[dict]:
    """``optimizer_study.csv`` rows of one epoch budget for ``model``, and for the nets in
    ``others`` measured against it. A row of another net is labelled ``variant · net`` and keeps
    the variant it repeats on ``model`` in ``same_as``, so :func:`epoch_study_summary` measures
    the net against that variant and :func:`wic.evaluation.plots.epoch_study` draws it as a
    row of its own.

    One study is one CPU: a bf16 run and a float32 run of a variant are not seeds of one
    thing. ``cpu`` keeps the rows of one :func:`cpu_label` (as :func:`optimizer_study_table`
    shows it); without it, rows from more than one CPU are refused, naming them."""
    out = []
    for r in read_rows(path):
        if int(r["epochs"]) != epochs or r["model"] not in (model, *others):
            continue
        if cpu is not None and cpu_label(r.get("cpu", "")) != cpu:
            continue
        if r["model"] != model:
            r = dict(r, variant=f"{r['variant']} · {r['model']}", same_as=r["variant"])
        out.append(r)
    if len(labels := sorted({cpu_label(r.get("cpu", "")) for r in out})) > 1:
        raise ValueError(f"epoch_study_rows: {model}'s {epochs}-epoch rows in {path.name} come "
                         f"from {len(labels)} CPUs ({'; '.join(labels)}); pass cpu= one of them")
    if not out:
        raise ValueError(f"epoch_study_rows: no {epochs}-epoch row of {model} in {path.name}"
                         + (f" on {cpu}" if cpu else ""))
    return out


def seed_difference(vals: list[float], ref: list[float], fallback_sd: float | None = None
                    ) -> tuple[float, float, str]:
    """How far the mean of ``vals`` (one run per seed) lies from the mean of ``ref``, judged
    against the seed-to-seed spread: ``(difference, its standard error, verdict)``. The standard
    error is Welch's, sqrt(sd²/n + sd_ref²/n_ref). A ``ref`` of one run takes ``fallback_sd`` as
    its spread, and ``vals`` of one run takes ``ref``'s. A difference of at least twice the
    standard error is called real (``"a real gain ..."`` / ``"a real loss"``), anything smaller
    ``"not distinguishable from the seed noise"``."""
    sd_ref = statistics.stdev(ref) if len(ref) > 1 else fallback_sd
    if sd_ref is None:
        raise ValueError(f"seed_difference: the reference has {len(ref)} run(s) and no fallback_sd "
                         "was given, so there is no seed-to-seed spread to judge the difference by")
    sd = statistics.stdev(vals) if len(vals) > 1 else sd_ref
    d = statistics.mean(vals) - statistics.mean(ref)
    se = (sd ** 2 / len(vals) + sd_ref ** 2 / len(ref)) ** 0.5
    verdict = ("a real gain (at least twice the standard error)" if d >= 2 * se else
               "a real loss" if d <= -2 * se else "not distinguishable from the seed noise")
    return d, se, verdict


def epoch_study_summary(rows: list[dict], baseline: str = "nesterov", target: float = 0.94) -> str:
    """What the 8-epoch study says, in sentences generated from its rows (one model, one
    budget): every held-out variant's mean validation accuracy against the baseline's, with the
    standard error of that difference (seed-to-seed spread; a variant with one seed is given the
    baseline's spread) — a gain of at least twice it is called real; then the final runs on all
    training images (test accuracy only) against ``target``."""
    from statistics import mean, stdev

    held = [r for r in rows if float(r.get("validation_split") or 0) > 0 and r.get("val_accuracy")]
    final = [r for r in rows if not float(r.get("validation_split") or 0) and r.get("test_accuracy")]

    def by_variant(rs, key):
        out: dict[str, list[float]] = {}
        for r in rs:
            out.setdefault(r["variant"], []).append(float(r[key]))
        return out

    val = by_variant(held, "val_accuracy")
    if baseline not in val:
        return f"No held-out run of the baseline ({baseline}) yet."
    base = val[baseline]
    m0 = mean(base)

    def named(variant, vals):  # "- muon_ls (1 seed)"
        return f"- {variant} ({len(vals)} seed{'s' if len(vals) > 1 else ''})"

    if len(base) < 2:  # a study in progress: the numbers so far, and no verdict
        return "\n".join(
            [f"- The recipe as is ({baseline}): {m0:.2%} on validation from one seed: no "
             "spread to judge any difference against; run more seeds."]
            + [f"{named(variant, vals)}: {mean(vals):.2%} on validation, "
               f"{(mean(vals) - m0) * 100:+.2f} points; no verdict yet."
               for variant, vals in val.items() if variant != baseline])
    sd0 = stdev(base)
    lines = [f"- The recipe as is ({baseline}): {m0:.2%} on validation, mean of {len(base)} "
             f"seeds (standard deviation {sd0 * 100:.2f} points)."]
    changes = {r["variant"]: set(filter(None, str(r.get("changes") or "").split(";")))
               for r in held}
    same_as = {r["variant"]: r.get("same_as") for r in held}

    def compare(vals, ref):
        d, se, verdict = seed_difference(vals, ref, fallback_sd=sd0)
        return f"{d * 100:+.2f} ± {se * 100:.2f} points, {verdict}"

    for variant, vals in val.items():
        if variant == baseline:
            continue
        line = f"{named(variant, vals)}: {compare(vals, base)}"
        # an ingredient added to another variant is also measured against that variant (the one
        # sharing most of its changes; one measured with several seeds first, since a single
        # seed has no spread of its own); a variant on another net, against the same variant
        # on this one
        parent = same_as.get(variant)
        parents = [p for p in val if p not in (variant, baseline)
                   and changes[p] and changes[p] < changes[variant]]
        if parent not in val and parents:
            seeded = [p for p in parents if len(val[p]) > 1]
            parent = max(seeded or parents, key=lambda p: len(changes[p]))
        if parent in val:
            line += f"; against {parent}: {compare(vals, val[parent])}"
        lines.append(line + ".")
    for variant, tests in by_variant(final, "test_accuracy").items():
        m = mean(tests)
        line = (f"- {variant} on all training images (the final runs): test {m:.2%}, mean of "
                f"{len(tests)} ({min(tests):.2%}–{max(tests):.2%}); the {target:.0%} target is "
                f"{'met' if m >= target else f'missed by {(target - m) * 100:.2f} points'}")
        # from the process's start to its test score, where the study timed it (newer rows)
        clock = [float(r["process_seconds"]) / 60 for r in final
                 if r["variant"] == variant and r.get("process_seconds")]
        if clock:
            line += (f". From start to the test score: {mean(clock):.1f} min, mean of "
                     f"{len(clock)} ({min(clock):.1f}–{max(clock):.1f})")
        lines.append(line + ".")
    return "\n".join(lines)


def equal_time(rows: list[dict], baseline: str, variant: str) -> dict:
    """A cheaper-step ``variant`` against ``baseline`` in ``optimizer_study.csv``'s held-out
    rows of one net, at equal epochs and at equal time.

    For every epoch budget of ``variant``: its mean validation accuracy and training seconds,
    the baseline's at the same epochs (the difference in points, and how many times faster),
    and the baseline's accuracy *at the variant's seconds* — linear between the two budgets of
    the baseline whose mean seconds bracket them (none outside its range: nothing to compare
    against without extrapolating). Returns ``{"points": {(variant, epochs): (seconds, accuracy,
    runs)}, "budgets": [dict per budget], "lines": markdown bullets}``."""
    from statistics import mean

    runs: dict[tuple[str, int], list[tuple[float, float]]] = {}
    for r in rows:
        if (r["variant"] in (baseline, variant) and float(r.get("validation_split") or 0) > 0
                and r.get("val_accuracy") and r.get("train_seconds")):
            runs.setdefault((r["variant"], int(r["epochs"])), []).append(
                (float(r["train_seconds"]), float(r["val_accuracy"])))
    points = {k: (mean(s for s, _ in v), mean(a for _, a in v), len(v)) for k, v in runs.items()}
    base = sorted(v[:2] for (name, _), v in points.items() if name == baseline)
    budgets, lines = [], []
    for (name, epochs), (secs, acc, n) in sorted(points.items()):
        if name != variant:
            continue
        between = next((a0 + (a1 - a0) * (secs - s0) / (s1 - s0)
                        for (s0, a0), (s1, a1) in zip(base, base[1:]) if s0 <= secs <= s1), None)
        b = {"epochs": epochs, "seconds": secs, "accuracy": acc, "runs": n,
             "same_epochs": points.get((baseline, epochs)), "at_same_time": between}
        budgets.append(b)
        line = (f"- **{epochs} epoch{'s' if epochs > 1 else ''}**, {variant}: {acc:.2%} on validation "
                f"in {secs:,.0f} s of training (mean of {n})")
        if b["same_epochs"]:
            s0, a0, n0 = b["same_epochs"]
            line += (f"; {baseline} over the same epochs: {a0:.2%} in {s0:,.0f} s (mean of {n0}): "
                     f"**{(acc - a0) * 100:+.2f} points**, x{s0 / secs:.2f} the speed")
        if b["at_same_time"] is not None:
            line += (f"; {baseline} at the same seconds (between its budgets): "
                     f"{b['at_same_time']:.2%}, so **{(acc - b['at_same_time']) * 100:+.2f} points** "
                     "at equal time")
        elif base:
            line += (f"; {secs:,.0f} s lies outside the {baseline} budgets' {base[0][0]:,.0f}–"
                     f"{base[-1][0]:,.0f} s: no comparison at equal time without extrapolating")
        lines.append(line + ".")
    return {"points": points, "budgets": budgets, "lines": lines}


def epochs_to_target_lines(path: Path, target: float = 0.94) -> list[str]:
    """Epochs to ``target``: for each net and variant of ``optimizer_study.csv`` trained on all
    training images (the ``--final`` runs), its test accuracy at every epoch budget it was run
    with (mean of its seeds and their range), and the fewest epochs tried whose mean meets the
    target."""
    from statistics import mean

    groups: dict[tuple[str, str], dict[int, list[float]]] = {}
    for r in read_rows(path):
        if float(r.get("validation_split") or 0) or not r.get("test_accuracy"):
            continue  # held-out runs choose the variant; only the final runs answer this
        budgets = groups.setdefault((r["model"], r["variant"]), {})
        budgets.setdefault(int(r["epochs"]), []).append(float(r["test_accuracy"]))
    lines = []
    for (model, variant), budgets in sorted(groups.items()):
        parts = []
        for epochs, tests in sorted(budgets.items(), reverse=True):
            spread = f", {min(tests):.2%}–{max(tests):.2%}" if len(tests) > 1 else ""
            parts.append(f"{epochs} epochs: test {mean(tests):.2%} (mean of {len(tests)}{spread})")
        met = [e for e, tests in budgets.items() if mean(tests) >= target]
        verdict = (f"the fewest epochs tried whose mean meets {target:.0%}: **{min(met)}**" if met else
                   f"no budget here meets {target:.0%} on average")
        lines.append(f"- `{model}` · {variant}, on all training images: " + "; ".join(parts)
                     + f"; {verdict}.")
    return lines


def robust_study_table(path: Path) -> str:
    """``robust_study.csv``: per model, its net, optimizer and training augmentations, epochs,
    the share of training images held out, minutes, clean test accuracy, and the CIFAR-10-C
    (regenerated) mean overall and per family."""
    lines = ["| model | net | optimizer | noise / blur / brightness / contrast "
             "| epochs (last ones clean) | held out | seed | training | clean test "
             "| CIFAR-10-C mean | noise | blur | weather | digital |",
             "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in read_rows(path):
        aug = " / ".join(f"{float(r[k]):g}" for k in ("noise", "blur", "brightness", "contrast"))
        fams = " | ".join(f"{float(r[f + '_family']):.1%}" for f in ("noise", "blur", "weather",
                                                                    "digital"))
        clean = int(float(r.get("clean_epochs") or 0))  # rows older than the field: none
        noisy = int(float(r.get("clean_noisy_epochs") or 0))
        kept = f", {noisy} of them noisy" if noisy else ""
        epochs = f"{r['epochs']} ({clean} clean{kept})" if clean else str(r["epochs"])
        share = float(r.get("validation_split") or 0)  # rows older than the column: unknown
        held = f"{share:.0%}" if share else ("none" if "validation_split" in r else "–")
        seed = r.get("seed") or "–"  # rows older than the column: unknown
        net = f"`{r['net']}`" if r.get("net") else "–"  # rows older than the column: unknown
        lines.append(f"| `{r['model']}` | {net} | {r['optimizer']} | {aug} | {epochs} | {held} "
                     f"| {seed} | {float(r['train_seconds']) / 60:.1f} min "
                     f"| {float(r['test_accuracy']):.2%} "
                     f"| **{float(r['corruption_mean']):.1%}** (n={r['corruption_images']}) | {fams} |")
    return "\n".join(lines)


def robust_repeats_lines(path: Path, clean_target: float = CLEAN_TARGET,
                         corrupted_target: float = CORRUPTED_TARGET) -> list[str]:
    """One line per recipe of ``robust_study.csv`` trained with more than one seed: the mean and
    range of its clean test accuracy and CIFAR-10-C mean, and how many of its runs meet both
    targets. A recipe is named by its first row (the run that was measured first)."""
    rows = read_rows(path)
    lines = []
    for members in robust_repeats(rows):
        runs = [rows[i] for i in members]
        seeds = [r.get("seed") or "" for r in runs]
        clean = [float(r["test_accuracy"]) for r in runs]
        rob = [float(r["corruption_mean"]) for r in runs]
        both = sum(c >= clean_target and x >= corrupted_target for c, x in zip(clean, rob))
        lines.append(
            f"`{runs[0]['model']}`'s recipe, {len(runs)} seeds ({', '.join(seeds)}): clean test "
            f"**{statistics.mean(clean):.2%}** mean ({min(clean):.2%}–{max(clean):.2%}), "
            f"CIFAR-10-C **{statistics.mean(rob):.1%}** mean ({min(rob):.1%}–{max(rob):.1%}); "
            f"{both} of {len(runs)} runs meet both targets (≥ {clean_target:.0%} clean, "
            f"≥ {corrupted_target:.0%} corrupted).")
    return lines


def _rescore_margins(row: dict, clean_target: float, corrupted_target: float) -> tuple[float, float]:
    """A ``robust_rescore.csv`` row's distance from each target in its own standard errors
    (positive: above): the clean test accuracy's, then the larger sample's CIFAR-10-C mean's."""
    return ((float(row["test_accuracy"]) - clean_target) / float(row["test_se"]),
            (float(row["corruption_mean"]) - corrupted_target) / float(row["corruption_se"]))


def robust_rescore_table(path: Path, clean_target: float = CLEAN_TARGET,
                         corrupted_target: float = CORRUPTED_TARGET) -> str:
    """``robust_rescore.csv``: per model, its clean test accuracy and its CIFAR-10-C mean on the
    card's images and on more, each ± one standard error, and how many standard errors each lies
    from its target (positive: above it)."""
    lines = ["| model | seed | clean test | clean vs target | CIFAR-10-C, card | same images, "
             "again | more images | corrupted vs target |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in read_rows(path):
        f = {k: float(r[k]) for k in ("test_accuracy", "test_se", "card_mean", "first_mean",
                                      "first_se", "corruption_mean", "corruption_se")}
        z_clean, z_rob = _rescore_margins(r, clean_target, corrupted_target)
        lines.append(
            f"| `{r['model']}` | {r['seed']} | {f['test_accuracy']:.2%} ± {f['test_se']:.2%} "
            f"| {z_clean:+.1f} SE | {f['card_mean']:.1%} (n={r['card_images']}) "
            f"| {f['first_mean']:.1%} ± {f['first_se']:.1%} (n={r['card_images']}) "
            f"| **{f['corruption_mean']:.1%}** ± {f['corruption_se']:.1%} "
            f"(n={int(r['corruption_images']):,}) | {z_rob:+.1f} SE |")
    return "\n".join(lines)


def robust_rescore_sentence(path: Path, clean_target: float = CLEAN_TARGET,
                            corrupted_target: float = CORRUPTED_TARGET) -> str:
    """What ``robust_rescore.csv`` says about the targets, in words: how many models stay above
    the corrupted target by more than two standard errors on the larger sample, and how far the
    clean accuracies lie from theirs."""
    rows = read_rows(path)
    z_clean, z_rob = zip(*(_rescore_margins(r, clean_target, corrupted_target) for r in rows))
    moved = [abs(float(r["corruption_mean"]) - float(r["card_mean"])) for r in rows]
    sure = sum(z > 2 for z in z_rob)
    n = len(rows)
    return (f"On {int(rows[0]['corruption_images']):,} test images instead of "
            f"{rows[0]['card_images']}, the CIFAR-10-C means moved by at most "
            f"{max(moved) * 100:.1f} points and their standard error shrank from about "
            f"{statistics.mean(float(r['first_se']) for r in rows):.1%} to "
            f"{statistics.mean(float(r['corruption_se']) for r in rows):.1%}. {sure} of {n} models "
            f"lie more than two standard errors above the {corrupted_target:.0%} target "
            f"({min(z_rob):+.1f} to {max(z_rob):+.1f}). Their clean test accuracies lie "
            f"{min(z_clean):+.1f} to {max(z_clean):+.1f} standard errors from {clean_target:.0%}: "
            + ("closer than two standard errors, so on other test images of the same kind each "
               "could land on either side of it."
               if all(abs(z) < 2 for z in z_clean) else
               "at least one of them is more than two standard errors away from it."))


def rescore_by_recipe(rescore: Path, study: Path) -> list[list[dict]]:
    """The rows of ``robust_rescore.csv`` grouped by the recipe whose repeats they are
    (:func:`~wic.evaluation.metrics.robust_repeats` on ``robust_study.csv``, which knows each
    run's recipe), in the study's order; only recipes with two or more rescored runs."""
    by_model = {r["model"]: r for r in read_rows(rescore)}
    runs = read_rows(study)
    groups = [[by_model[runs[i]["model"]] for i in m if runs[i]["model"] in by_model]
              for m in robust_repeats(runs)]
    return [g for g in groups if len(g) > 1]


def rescore_recipes_sentence(rescore: Path, study: Path) -> str:
    """Two or more recipes rescored with several seeds each, compared on the larger sample by
    :func:`_recipes_compared`. "" for fewer than two, or without ``study``."""
    return _recipes_compared(rescore_by_recipe(rescore, study) if Path(study).is_file() else [])


def robust_recipes_sentence(study: Path) -> str:
    """The recipes of ``robust_study.csv`` trained with several seeds, compared on their cards'
    CIFAR-10-C means by :func:`_recipes_compared`. "" for fewer than two such recipes."""
    rows = read_rows(study)
    return _recipes_compared([[rows[i] for i in m] for m in robust_repeats(rows)])


def _recipes_compared(groups: list[list[dict]]) -> str:
    """Recipes with several seeds each (``groups`` of rows with ``corruption_mean``, the recipe
    named by its first run), compared by the rule written before the wider net's third seed and
    its rescore: the recipe with the higher mean CIFAR-10-C is called more robust than another
    only if its mean is above the other's by more than the larger of their seed spreads (highest
    minus lowest run). "" for fewer than two recipes."""
    if len(groups) < 2:
        return ""
    stats = []  # (named by, runs, mean, spread) per recipe, the highest mean first
    for g in groups:
        v = [float(r["corruption_mean"]) for r in g]
        stats.append((g[0]["model"], len(g), statistics.mean(v), max(v) - min(v)))
    stats.sort(key=lambda s: -s[2])
    best, *others = stats
    parts = [f"`{m}`'s recipe {mean:.2%} mean over {n} seeds (spread {spread * 100:.2f} points)"
             for m, n, mean, spread in stats]
    verdicts = []
    for m, _n, mean, spread in others:
        gap, wider = (best[2] - mean) * 100, max(best[3], spread) * 100
        verdicts.append(
            f"`{best[0]}`'s is above `{m}`'s by {gap:.2f} points, "
            + (f"more than the larger spread ({wider:.2f}): it is called more robust"
               if gap > wider else
               f"less than the larger spread ({wider:.2f}): the two are not told apart"))
    images = {int(float(r["corruption_images"])) for g in groups for r in g}
    return (f"By recipe, on {' or '.join(f'{n:,}' for n in sorted(images))} images: "
            + "; ".join(parts) + ". " + "; ".join(verdicts) + ".")


def cpu_of(rows: list[dict]) -> str:
    """The CPU a per-machine CSV's runs recorded (its final rows carry it), named by
    :func:`cpu_named`."""
    return cpu_named(next((r["cpu"] for r in rows if r.get("cpu")), "")) or "another machine"


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
    for path in sorted(d.glob("time_to_accuracy_*.csv")):  # one file per machine kind
        rows = read_rows(path)
        parts += ["", f"**Every run on {cpu_of(rows)}** (`{path.name}`; the same clock):"]
        for block in machine_race(rows):
            parts += ["", block]
    if (d / "time_to_78.csv").is_file():
        parts += ["", "**The seed's 78%, both recipes measured in one invocation** "
                  "(`time_to_78.csv`, test accuracy after every epoch):", "",
                  race_table(read_rows(d / "time_to_78.csv"))]
    for path in sorted(d.glob("time_to_78_*.csv")):  # the same race on another machine kind
        rows = read_rows(path)
        parts += ["", f"**The same race on {cpu_of(rows)}** (`{path.name}`):", "", race_table(rows)]
    if (d / "fast_ablation_summary.csv").is_file():
        parts += ["", "**One ingredient removed at a time** (`fast_ablation_summary.csv`):", "",
                  ablation_table(d / "fast_ablation_summary.csv", d / "fast_ablation_runs.csv")]
    if (d / "optimizer_study.csv").is_file():
        parts += ["", "**Fewer epochs: variants compared on held-out images** (`optimizer_study.csv`, "
                  "each row on the CPU named in it; a tenth of the training images held out, ranked on "
                  "them):", "",
                  optimizer_study_table(d / "optimizer_study.csv")]
        if lines := epochs_to_target_lines(d / "optimizer_study.csv"):
            parts += ["", "**Epochs to 94%**, from the runs on all training images (their test "
                      "accuracy only; the variant was chosen on held-out images, the budget is what "
                      "these runs measure):", "", *lines]
    if (d / "ship_check.csv").is_file():  # the 8-epoch study's recipe, trained to ship
        rows = read_rows(d / "ship_check.csv")
        parts += ["", f"**Does a new model replace the most accurate shipped one?** (`ship_check.csv`, "
                  f"{cpu_of(rows)}; the rule, fixed before the first candidate's results were seen: "
                  f"{shipping.RULE}; each candidate written into `shipping.TRIALS` when it was "
                  "launched, each repeat of one with another seed into `shipping.REPEATS` (a repeat "
                  "never ships); "
                  "test accuracy and calibration from each card):", "",
                  shipping.table(rows), "", shipping.verdicts(rows)]
    if (d / "selective_tta.csv").is_file():
        sm = selective_tta_summary(d / "selective_tta.csv")
        parts += ["", f"**Selective test-time augmentation** (`selective_tta.csv`, {sm['cpu']}; "
                  f"threshold {sm['threshold']:g} on the plain net's top probability, chosen on "
                  f"{sm['held_out_images']:,} held-out images of the {sm['models']} models; "
                  f"{sm['test_images']:,} test images, each pass timed in the same run):", "",
                  selective_tta_table(d / "selective_tta.csv")]
    if (d / "selective_tta_fixed.csv").is_file():  # a threshold fixed beforehand, judged on others
        sm = selective_tta_summary(d / "selective_tta_fixed.csv")
        parts += ["", f"**Selective TTA at a threshold fixed beforehand** "
                  f"(`selective_tta_fixed.csv`, {sm['cpu']}; threshold {sm['threshold']:g}, "
                  + (f"given with `--threshold`, not chosen on these {sm['models']} models; "
                     if sm["threshold_from"] == "fixed" else
                     f"chosen on the held-out images of these {sm['models']} models; ") +
                  f"{sm['test_images']:,} test images):", "",
                  selective_tta_table(d / "selective_tta_fixed.csv"), "", selective_tta_sentence(sm)]
    if (d / "robust_study.csv").is_file():
        parts += ["", "**Robustness: what training augmentations buy and cost** (`robust_study.csv`, "
                  "from the cards; augmentation strengths as recipe fields, 0 = off; training "
                  "minutes on the machine that trained each model; CIFAR-10-C (regenerated) on "
                  "the first n test images):", "", robust_study_table(d / "robust_study.csv")]
        for line in robust_repeats_lines(d / "robust_study.csv"):
            parts += ["", line]
        if line := robust_recipes_sentence(d / "robust_study.csv"):
            parts += ["", line]
    if (d / "robust_rescore.csv").is_file():  # the margins above, on more test images
        rows = read_rows(d / "robust_rescore.csv")
        parts += ["", f"**How far can {rows[0]['card_images']} images be off?** (`robust_rescore.csv`, "
                  f"{cpu_of(rows)}; "
                  "the CIFAR-10-C benchmark again on more test images, each mean ± one standard "
                  "error over images; cards unchanged; 'again': the card's images corrupted once more, "
                  "whose random draws past the 250th image change with how many are corrupted; "
                  "'vs target' in standard errors):", "",
                  robust_rescore_table(d / "robust_rescore.csv"), "",
                  robust_rescore_sentence(d / "robust_rescore.csv")]
        if line := rescore_recipes_sentence(d / "robust_rescore.csv", d / "robust_study.csv"):
            parts += ["", line]
    for name, title in (("throughput_idle.csv", "alone on the machine"),
                        ("throughput_contended_1.csv", "while another job shared the CPU")):
        if (d / name).is_file():
            parts += ["", f"**Training throughput, {title}** (`{name}`; ratios within that run):", "",
                      throughput_table(d / name)]
    if (d / "backends.csv").is_file():
        parts += ["", "**Keras backends, the same net and step** (`backends.csv`; TensorFlow with "
                  "and without wic's fast kernels, JAX, PyTorch):", "",
                  backends_table(d / "backends.csv")]
    peak_files = sorted(d.glob("throughput_peak*.csv"))
    if peak_files:
        parts += ["", "**Hardware efficiency, per CPU** (`benchmarks/throughput.py`; each file one "
                  "run on one machine: compare ratios within a file, never minutes across them):"]
        for f in peak_files:
            parts += ["", hardware_table(f)]
    for f in sorted(d.glob("step_profile*.csv")):
        parts += ["", "**Where a training step's time goes** (`benchmarks/step_profile.py`, "
                  "TensorFlow's profiler; each setting in fresh processes):", "",
                  step_profile_table(f)]
    for f in sorted(d.glob("whole_run*.csv")):
        parts += ["", "**A whole training run under each setting of the fast kernels** "
                  "(`benchmarks/whole_run.py`, the times from each run's card):", "",
                  whole_run_table(f)]
    return "\n".join(parts)


def update(doc: Path, results_dir: Path) -> bool:
    """Rewrite the generated block of ``doc``; True if it changed."""
    return cards.replace_block(doc, BEGIN, END, render(results_dir))
