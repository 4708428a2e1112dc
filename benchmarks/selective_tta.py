"""Selective test-time augmentation: TTA only for the images the plain net is unsure of.

The 2025 CIFAR-10 record scores every test image once, then again with TTA only where the top
probability is below a threshold. What it keeps of TTA's accuracy, and what it saves of the
evaluation, measured on trained models in one run:

1. each model scores its held-out training images and the test set twice, as is and with its
   full TTA (6 views);
2. one threshold is chosen on the held-out images of all models together: the one scoring the
   fewest images again whose accuracy is at least full TTA's (``metrics.choose_tta_threshold``)
   — never on the test set;
3. each model scores the test set once more, selectively at that threshold, timed; its accuracy
   and seconds are compared with the plain and the full-TTA passes of the same run.

Every model needs held-out images (a recipe with ``validation_split``): they are rebuilt from
its card exactly as its run split them.

``--threshold P`` skips step 2 and uses P: a threshold fixed before the models were trained,
judged on them (write it to another CSV, e.g. ``--csv benchmarks/results/selective_tta_fixed.csv
--curve-csv benchmarks/results/selective_tta_fixed_curve.csv``); the ``threshold_from`` column
says which it was.

    WIC_DATA_DIR=/path/to/folder-with-cifar-10-batches-py python benchmarks/selective_tta.py \\
        airbench94_cpu_v2 fast_cpu_v2 runs/optimizer_study/*/*_s?.keras

Writes ``selective_tta.csv`` (one row per model) and ``selective_tta_curve.csv`` (held-out and
test accuracy of all models together at every threshold, for notebook 07's figure).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

# thresholds on the plain net's top probability; the label-smoothed nets rarely pass 0.9
THRESHOLDS = tuple(round(t, 2) for t in np.arange(0.0, 1.0, 0.01)) + (1.01,)

FIELDS = ["cpu", "model", "held_out_images", "test_images", "threshold", "threshold_from",
          "rerun_held_out", "rerun_test",
          "held_out_plain", "held_out_full", "held_out_selective",
          "test_plain", "test_full", "test_selective", "plain_s", "full_s", "selective_s"]
CURVE_FIELDS = ["threshold", "rerun_held_out", "held_out_accuracy", "rerun_test", "test_accuracy"]


def _timed(fn, *args):
    t0 = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("models", nargs="+", help="model names in models/ (or .keras paths)")
    p.add_argument("--csv", default="benchmarks/results/selective_tta.csv")
    p.add_argument("--curve-csv", default="benchmarks/results/selective_tta_curve.csv")
    p.add_argument("--test-images", type=int, default=None,
                   help="score only the first N test images (a quick check; default: all 10,000)")
    p.add_argument("--threshold", type=float, default=None,
                   help="use this threshold (a probability, 0 to 1) instead of choosing one on "
                        "the models' held-out images: a rule fixed before they were trained")
    args = p.parse_args(argv)
    if args.threshold is not None and not 0.0 <= args.threshold <= 1.0:  # NaN fails both
        p.error(f"--threshold must be a probability from 0 to 1, not {args.threshold}")

    from wic import cards, config, data, models
    from wic.evaluation import metrics
    from wic.experiments import results
    from wic.models.airbench import tta_disabled, tta_level
    from wic.serving import resolve_model_path
    from wic.training import held_out_images

    def accuracy(probs, y):
        return float((probs.argmax(1) == y).mean())

    cpu = config.describe_cpu()
    print(f"CPU: {cpu}; load {os.getloadavg()[0]:.2f}", flush=True)
    ds = data.load_cifar10()
    x_test, y_test = ds.x_test[:args.test_images], ds.y_test[:args.test_images]
    paths = [resolve_model_path(name) for name in args.models]
    scored = []
    for i, path in enumerate(paths, start=1):
        model = models.load(path)
        if not tta_level(model):
            print(f"{path.stem}: no test-time augmentation; skipped", flush=True)
            continue
        held = held_out_images(cards.read_card(path), ds)
        if held is None:
            print(f"{path.stem}: trained on every training image, so there are no held-out images "
                  "to choose a threshold on; skipped", flush=True)
            continue
        metrics.predict_proba(model, x_test[:500])  # warm-up: the first calls build the layers
        with tta_disabled(model):
            metrics.predict_proba(model, x_test[:500])
            held_plain = metrics.predict_proba(model, held[0])
            test_plain, plain_s = _timed(metrics.predict_proba, model, x_test)
        held_full = metrics.predict_proba(model, held[0])
        test_full, full_s = _timed(metrics.predict_proba, model, x_test)
        scored.append({"path": path, "model": model, "held": held, "held_plain": held_plain,
                       "held_full": held_full, "test_plain": test_plain, "test_full": test_full,
                       "plain_s": plain_s, "full_s": full_s})
        print(f"[{i}/{len(paths)}] {path.stem}: test accuracy plain "
              f"{accuracy(test_plain, y_test):.4f}, full TTA {accuracy(test_full, y_test):.4f} "
              f"({plain_s:.1f} s, {full_s:.1f} s)", flush=True)
    if not scored:
        print("no model with test-time augmentation and held-out images: nothing measured",
              file=sys.stderr)
        return 2

    def pooled(key):
        return np.concatenate([s[key] for s in scored])

    y_held = np.concatenate([s["held"][1] for s in scored])
    y_tests = np.concatenate([y_test] * len(scored))
    held_curve = metrics.selective_tta_curve(pooled("held_plain"), pooled("held_full"), y_held,
                                             THRESHOLDS)
    test_curve = metrics.selective_tta_curve(pooled("test_plain"), pooled("test_full"), y_tests,
                                             THRESHOLDS)
    if args.threshold is not None:
        threshold, threshold_from = args.threshold, "fixed"
        print(f"threshold fixed at {threshold} (--threshold), not chosen on these models",
              flush=True)
    else:
        full_held = accuracy(pooled("held_full"), y_held)
        chosen = metrics.choose_tta_threshold(held_curve, full_held)
        threshold, threshold_from = THRESHOLDS[-1] if chosen is None else chosen, "held-out"
        print(f"threshold chosen on {len(y_held)} held-out images of {len(scored)} "
              f"model{'s' if len(scored) > 1 else ''}: "
              f"{threshold} (full TTA's held-out accuracy {full_held:.4f})", flush=True)

    rows = []
    for s in scored:
        (probs, rerun), sel_s = _timed(metrics.predict_proba_selective, s["model"], x_test,
                                       threshold)
        y = s["held"][1]
        [held_sel] = metrics.selective_tta_curve(s["held_plain"], s["held_full"], y, [threshold])
        rows.append({
            "cpu": cpu, "model": s["path"].stem, "held_out_images": len(y),
            "test_images": len(y_test),
            "threshold": threshold, "threshold_from": threshold_from,
            "rerun_held_out": round(held_sel["rerun_fraction"], 4),
            "rerun_test": round(float(rerun.mean()), 4),
            "held_out_plain": round(accuracy(s["held_plain"], y), 4),
            "held_out_full": round(accuracy(s["held_full"], y), 4),
            "held_out_selective": round(held_sel["accuracy"], 4),
            "test_plain": round(accuracy(s["test_plain"], y_test), 4),
            "test_full": round(accuracy(s["test_full"], y_test), 4),
            "test_selective": round(accuracy(probs, y_test), 4),
            "plain_s": round(s["plain_s"], 2), "full_s": round(s["full_s"], 2),
            "selective_s": round(sel_s, 2)})
        r = rows[-1]
        print(f"{r['model']}: selective {r['test_selective']:.4f} (full {r['test_full']:.4f}), "
              f"{r['rerun_test']:.1%} scored again, {r['selective_s']:.1f} s against "
              f"{r['full_s']:.1f} s ({r['selective_s'] / r['full_s']:.2f}x)", flush=True)
    out = results.write_rows(args.csv, rows, FIELDS)
    curve = [{"threshold": h["threshold"], "rerun_held_out": round(h["rerun_fraction"], 4),
              "held_out_accuracy": round(h["accuracy"], 5),
              "rerun_test": round(t["rerun_fraction"], 4), "test_accuracy": round(t["accuracy"], 5)}
             for h, t in zip(held_curve, test_curve)]
    curve_out = results.write_rows(args.curve_csv, curve, CURVE_FIELDS)
    print(f"wrote {out} and {curve_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
