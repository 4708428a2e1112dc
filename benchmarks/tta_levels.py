"""What test-time augmentation buys: one trained fast net evaluated at TTA levels 0, 1, 2.

Level 0 is the plain net, 1 adds the mirror image (2 views), 2 adds two 1-pixel shifts of both
(6 views; the level the saved models use). Same weights for every row, so the differences are
TTA alone; the seconds are the whole 10,000-image test evaluation at that level.

    WIC_DATA_DIR=/path/to/folder-with-cifar-10-batches-py python benchmarks/tta_levels.py fast_cpu_v2 [more models]
"""

from __future__ import annotations

import argparse
import sys
import time


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("models", nargs="+", help="model names in models/ (or .keras paths)")
    p.add_argument("--csv", default="benchmarks/results/tta_levels.csv")
    args = p.parse_args(argv)

    from wic import data, models
    from wic.evaluation import metrics
    from wic.experiments import results
    from wic.models.airbench import set_tta, tta_level
    from wic.serving import resolve_model_path

    ds = data.load_cifar10()
    rows = []
    for name in args.models:
        path = resolve_model_path(name)
        model = models.load(path)
        saved = tta_level(model)
        if saved is None:
            print(f"{path.stem}: no test-time augmentation layers; skipped")
            continue
        for level in (0, 1, 2):
            set_tta(model, True, level)
            t0 = time.perf_counter()
            acc = metrics.evaluate_model(model, ds.x_test, ds.y_test).accuracy
            secs = time.perf_counter() - t0
            rows.append({"model": path.stem, "tta_level": level, "views": (1, 2, 6)[level],
                         "test_accuracy": round(acc, 4), "eval_s": round(secs, 1)})
            print(f"{path.stem:<22s} TTA level {level} ({(1, 2, 6)[level]} views): "
                  f"test accuracy {acc:.4f}, evaluation {secs:.1f} s", flush=True)
        set_tta(model, True, saved)
    out = results.write_rows(args.csv, rows, ["model", "tta_level", "views", "test_accuracy", "eval_s"])
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
