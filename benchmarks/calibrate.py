"""Fit and record the temperature of shipped models (``card["calibration"]``).

For each model: its held-out training images (or, for a model trained on all of them, the
first 5,000 training images, flagged ``held_out: false`` in the card), the test set only to
report the ECE before and after. Test-set probabilities are cached in ``runs/cache/``.

    python benchmarks/calibrate.py seed_v1_3 fast_cpu_v2 airbench94_cpu_v2
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("models", nargs="+", help="model names in models/ (or .keras paths)")
    args = p.parse_args(argv)

    from wic import config, data, models, training
    from wic.evaluation import metrics
    from wic.serving import resolve_model_path

    print(f"CPU: {config.describe_cpu()}; load {os.getloadavg()[0]:.2f}", flush=True)
    ds = data.load_cifar10()
    cache = config.runs_dir() / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    for name in args.models:
        path = resolve_model_path(name)
        t0 = time.perf_counter()
        f = cache / f"{path.stem}_{int(path.stat().st_mtime)}_test_probs.npy"
        if f.is_file():
            probs = np.load(f)
        else:
            probs = metrics.predict_proba(models.load(path), ds.x_test)
            np.save(f, probs)
        s = training.calibrate(path, ds, test_probs=probs)
        print(f"{path.stem}: T = {s['temperature']} fitted on {s['fitted_on']}; test ECE "
              f"{s['test_ece_before']:.4f} -> {s['test_ece_after']:.4f} "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
