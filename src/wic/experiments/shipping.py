"""Does a new model replace the most accurate shipped one? A rule fixed before its results were seen.

A race's runs (notebook 07, sections 6c and 6d) train on all 50,000 training images, so none has
images left to fit its temperature on: their percentages cannot be checked, and they do not ship.
A model meant to ship holds out the last tenth of the training images, as ``airbench94_cpu_v2``
did, and its card's temperature is fitted on them.

The rule (:data:`RULE`), chosen when the first candidate was launched and written here while it
trained, before any of its results were seen:

1. the candidate holds out exactly the incumbent's images (the same fraction of the same
   training set, so the same 5,000 images, checked by a hash of their pixels);
2. both are scored on those images as the page scores them (each model's own test-time
   augmentation, the final weights);
3. the candidate ships if it is more accurate on them, that is if it alone gets more of them
   right than the incumbent alone does (exact, with no rounding of accuracies). The test set only
   reports.

Alongside the two accuracies, :func:`decision` counts the images only one of the two gets right.
A difference of a few tenths of a point on 5,000 images can be luck; the sign test on those
images (how often a coin would split them at least this unevenly) says how much.

:data:`TRIALS` lists every candidate judged by the rule, in the order they were launched; each
entry was written here when its run started, before its results existed, with the reason for it.
A shipped candidate's gain may be one seed's luck: :data:`REPEATS` trains its recipe again with
another seed, judged against the same incumbent by the same rule, and written here the same way.
A repeat never ships; it says how far to trust the gain.

``benchmarks/ship_check.py`` measures the rows (``benchmarks/results/ship_check.csv``, two rows a
trial or repeat: each model with the model it was compared with in ``against``); notebook 07
section 6e and ``benchmarks/FAST_RECIPE.md`` read them through this module.
"""

from __future__ import annotations

from math import comb
from typing import NamedTuple


class Trial(NamedTuple):
    """One candidate judged by the rule: the model trained to replace the incumbent, the most
    accurate model shipped when it was launched, and what was changed and why."""
    candidate: str
    incumbent: str
    change: str


#: every trial, in launch order (each written before its results were seen)
TRIALS = (
    Trial("airbench94_cpu_wide_v2", "airbench94_cpu_v2",
          "the 8-epoch study's best recipe (the wider net with Muon) with the incumbent's "
          "schedule: 15 epochs"),
    # launched 2026-12-05 on the AMD EPYC Zen 4: v2 tied at 15 epochs, so Muon and the wider net
    # bought epochs, not a higher ceiling at 15. The lever left untried is a longer schedule;
    # 24 epochs (about 66 minutes here) is the longest that leaves a session time to judge it.
    Trial("airbench94_cpu_wide_v3", "airbench94_cpu_v2",
          "the same recipe with a longer schedule: 24 epochs instead of 15"),
)


class Repeat(NamedTuple):
    """A shipped candidate's recipe trained again with another seed, and judged against the same
    incumbent by the same rule: is the gain the recipe's, or one seed's luck? A repeat never
    ships (the candidate it repeats is already shipped); it only says how far to trust the gain."""
    model: str
    repeats: str  # the shipped candidate whose recipe it trains again
    seed: int


#: every repeat, in launch order (each written before its results were seen)
REPEATS = (
    # launched 2026-12-07 on the AMD EPYC Zen 4: v3 beat v2 by 15 images of 171 that only one of
    # them gets right, a split a fair coin makes more than one time in four. The gain is the
    # schedule's if a second seed, too, is more accurate than v2 on the images both held out.
    Repeat("airbench94_cpu_wide_v3_s1", "airbench94_cpu_wide_v3", 1),
)

RULE = ("the candidate holds out the incumbent's 5,000 images, both are scored on them with "
        "their own test-time augmentation, and the candidate ships if it is more accurate there; "
        "the test set only reports")


def _row(rows: list[dict], name: str, against: str | None = None) -> dict:
    """The row of ``name`` compared with ``against``; with ``against`` None, the model's first
    row (its card's figures are the same in every trial it appears in)."""
    for r in rows:
        if r["model"] == name and against in (None, r["against"]):
            return r
    raise ValueError(f"no row for model {name!r}" + (f" compared with {against!r}" if against else "")
                     + "; rows: " + ", ".join(f"{r['model']} (against {r['against']})" for r in rows))


def judged(rows: list[dict]) -> list[Trial]:
    """The trials of :data:`TRIALS` the rows have measured, in launch order."""
    pairs = {(r["model"], r["against"]) for r in rows}
    return [t for t in TRIALS if {(t.candidate, t.incumbent), (t.incumbent, t.candidate)} <= pairs]


def repeated(rows: list[dict]) -> list[tuple[Repeat, Trial]]:
    """The repeats of :data:`REPEATS` the rows have measured, each with the trial it repeats
    (the same incumbent), in launch order."""
    pairs = {(r["model"], r["against"]) for r in rows}
    trial = {t.candidate: t for t in TRIALS}
    return [(r, t) for r in REPEATS
            if {(r.model, (t := trial[r.repeats]).incumbent), (t.incumbent, r.model)} <= pairs]


def sign_test(gained: int, lost: int) -> float:
    """Two-sided exact sign test: the chance that a fair coin splits ``gained + lost`` images at
    least as unevenly as this (1.0 when nothing differs)."""
    n, k = gained + lost, min(gained, lost)
    if n == 0:
        return 1.0
    tail = sum(comb(n, i) for i in range(k + 1)) / 2 ** n
    return min(1.0, 2 * tail)


def decision(rows: list[dict], candidate: str, incumbent: str) -> dict:
    """The rule applied to ``ship_check.csv``'s rows: held-out accuracies, the images only one
    model gets right (``gained``: only the candidate; ``lost``: only the incumbent), the sign
    test on them, whether both held out the same images, and whether the candidate ships."""
    c, i = _row(rows, candidate, incumbent), _row(rows, incumbent, candidate)
    same = (c["held_out_sha256"] == i["held_out_sha256"]
            and int(c["held_out_images"]) == int(i["held_out_images"]))
    c_acc, i_acc = float(c["held_out_accuracy"]), float(i["held_out_accuracy"])
    gained, lost = (int(c["gained"]), int(c["lost"])) if same else (0, 0)  # uncounted otherwise
    return {"candidate": candidate, "incumbent": incumbent, "same_images": same,
            "images": int(c["held_out_images"]), "candidate_accuracy": c_acc,
            "incumbent_accuracy": i_acc, "gain": c_acc - i_acc, "gained": gained, "lost": lost,
            "p_value": sign_test(gained, lost), "ships": same and gained > lost}


def per_class(rows: list[dict], name: str) -> dict:
    """A model's test accuracy overall and per class (its row's ``test_<class>`` columns, from its
    card), shaped like a card for :func:`wic.evaluation.plots.per_class_pair`."""
    r = _row(rows, name)
    classes = {k[len("test_"):]: float(v) for k, v in r.items()
               if k.startswith("test_") and k not in ("test_accuracy", "test_ece_after") and v != ""}
    if not classes:
        raise ValueError(f"the row of {name!r} has no per-class test accuracy (test_<class> columns)")
    return {"test_accuracy": float(r["test_accuracy"]), "per_class_accuracy": classes}


def table(rows: list[dict]) -> str:
    """The measured models as markdown, each once: what it is and how it scores. Training minutes
    are left out: the cards' were measured on different machines, on different days."""
    lines = ["| model | net | optimizer | epochs | held-out accuracy | test accuracy | "
             "held-out ECE after T | parameters |",
             "|---|---|---|---:|---:|---:|---:|---:|"]
    for name in dict.fromkeys(r["model"] for r in rows):
        r = _row(rows, name)
        lines.append(
            f"| `{r['model']}` | `{r['net']}` | {r['optimizer']} | {int(r['epochs'])} | "
            f"{float(r['held_out_accuracy']):.2%} | {float(r['test_accuracy']):.2%} | "
            f"{float(r['held_out_ece_after']):.3f} | {int(r['parameters']):,} |")
    return "\n".join(lines)


def sentence(rows: list[dict], candidate: str, incumbent: str, repeats: str | None = None) -> str:
    """The verdict in words, from the rows. With ``repeats``, ``candidate`` is a :class:`Repeat`
    of that shipped candidate: the same comparison says whether its gain came back."""
    d = decision(rows, candidate, incumbent)
    if not d["same_images"]:
        return (f"`{candidate}` and `{incumbent}` did not hold out the same images, so the rule "
                "cannot compare them; nothing changes.")
    c, i = _row(rows, candidate, incumbent), _row(rows, incumbent, candidate)
    test_gain = float(c["test_accuracy"]) - float(i["test_accuracy"])
    if repeats is None:
        verdict = ("ships: it is more accurate on the images both held out" if d["ships"] else
                   f"does not ship: it is not more accurate than `{incumbent}` on the images both "
                   "held out")
    else:  # d["ships"] is the rule's test: more accurate on the same images
        verdict = (f"repeats `{repeats}`'s gain: it too is more accurate than `{incumbent}` on the "
                   "images both held out" if d["ships"] else
                   f"does not repeat `{repeats}`'s gain: it is not more accurate than "
                   f"`{incumbent}` on the images both held out")
    text = (f"`{candidate}` {verdict} ({d['candidate_accuracy']:.2%} against "
            f"{d['incumbent_accuracy']:.2%} on {d['images']:,} images; it alone gets "
            f"{d['gained']} of them right, `{incumbent}` alone {d['lost']}: a fair coin splits "
            f"them at least this unevenly with probability {d['p_value']:.2g}). The test set, "
            f"read only after, reports {float(c['test_accuracy']):.2%} against "
            f"{float(i['test_accuracy']):.2%} ({test_gain * 100:+.2f} points).")
    if repeats is not None:
        first = decision(rows, repeats, incumbent)["candidate_accuracy"]
        text += f" `{repeats}` scored {first:.2%} there. A repeat never ships: `{repeats}` stays."
    return text


def verdicts(rows: list[dict]) -> str:
    """Every judged trial in launch order, then every measured repeat, as markdown: what
    changed, then the verdict."""
    return "\n\n".join(
        [f"*{t.change[0].upper()}{t.change[1:]}.* {sentence(rows, t.candidate, t.incumbent)}"
         for t in judged(rows)]
        + [f"*{t.change[0].upper()}{t.change[1:]}, again with seed {r.seed}.* "
           f"{sentence(rows, r.model, t.incumbent, repeats=r.repeats)}" for r, t in repeated(rows)])
