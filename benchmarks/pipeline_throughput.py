"""Training throughput: wic's tf.data pipeline vs plain ``model.fit`` on NumPy arrays.

Trains the seed model for the same number of images both ways, in one process, after a
warm-up epoch each, and prints images/s and the ratio. Run with CIFAR-10 configured:

    WIC_DATA_DIR=... python benchmarks/pipeline_throughput.py [--images 8000] [--batch-size 32]
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=8000, help="images per timed epoch")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--augment", action="store_true", help="also time the augmented pipeline")
    args = ap.parse_args(argv)

    from wic import data, models, training
    from wic.backend import keras
    from wic.data.pipeline import train_pipeline
    from wic.training.trainer import compile_model

    ds = data.load_cifar10()
    x, y = ds.x_train[: args.images], ds.y_train[: args.images]
    recipe = training.Recipe(batch_size=args.batch_size)

    def fresh():
        m = models.build("seed_v1_3")
        return compile_model(m, recipe, steps_per_epoch=len(x) // args.batch_size)

    def time_numpy():
        m = fresh()
        xf, yf = data.to_float(x), keras.utils.to_categorical(y, 10)
        m.fit(xf, yf, batch_size=args.batch_size, epochs=1, verbose=0)  # warm-up / tracing
        t = time.perf_counter()
        m.fit(xf, yf, batch_size=args.batch_size, epochs=1, verbose=0)
        return time.perf_counter() - t

    def time_pipeline(augment=False):
        m = fresh()
        pipe = train_pipeline(x, y, batch_size=args.batch_size, epochs=2, flip="random" if augment else "none",
                              translate=4 if augment else 0)
        m.fit(pipe, epochs=1, verbose=0)
        t = time.perf_counter()
        m.fit(pipe, epochs=1, verbose=0)
        return time.perf_counter() - t

    cases = {"numpy arrays (model.fit)": time_numpy, "wic tf.data pipeline": time_pipeline}
    if args.augment:
        cases["wic tf.data pipeline + augmentation"] = lambda: time_pipeline(True)
    results = {}
    for name, fn in cases.items():
        secs = [fn() for _ in range(args.repeats)]
        results[name] = len(x) / float(np.median(secs))
        print(f"{name:<40s} {results[name]:8.0f} images/s  (median of {args.repeats})")
    base = results["numpy arrays (model.fit)"]
    for name, ips in results.items():
        print(f"{name:<40s} {ips / base:6.2f}x numpy")


if __name__ == "__main__":
    main()
