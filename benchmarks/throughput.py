"""Training throughput (images/s) of the fast nets under each speed setting, in one run.

Every configuration runs in its own child process (thread pools, oneDNN and the precision
policy are fixed when TensorFlow starts), on synthetic data so only the train step is timed:
2 warm-up steps (XLA compiles here), then steps until ``--seconds`` have passed. The data
pipeline (uint8 → float, translate, flip, one-hot) is timed alone, and inference with
test-time augmentation (eager call vs an XLA-compiled function; one image's latency) too.
Prints a table and each setting's ratio to the baseline, and writes a CSV.

    WIC_DATA_DIR=/path/to/folder-with-cifar-10-batches-py .venv/bin/python benchmarks/throughput.py \\
        --out benchmarks/results/throughput.csv
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

# name, registry model, batch, options (jit, precision, intra/inter threads, onednn, gelu)
CONFIGS = [
    ("baseline: graph mode, fp32, b1024", "airbench94_cpu", 1024, {}),
    ("XLA", "airbench94_cpu", 1024, {"jit": True}),
    ("XLA + threads intra 2 / inter 1", "airbench94_cpu", 1024, {"jit": True, "intra": 2, "inter": 1}),
    ("XLA, batch 512", "airbench94_cpu", 512, {"jit": True}),
    ("XLA, batch 256", "airbench94_cpu", 256, {"jit": True}),
    ("XLA + tanh GELU", "airbench94_cpu", 1024, {"jit": True, "gelu_tanh": True}),
    ("bf16 mixed precision", "airbench94_cpu", 1024, {"precision": "mixed_bfloat16"}),
    ("bf16 mixed precision + XLA", "airbench94_cpu", 1024, {"jit": True, "precision": "mixed_bfloat16"}),
    ("bf16, batch 512", "airbench94_cpu", 512, {"precision": "mixed_bfloat16"}),
    ("bf16 + threads intra 2 / inter 1", "airbench94_cpu", 1024,
     {"precision": "mixed_bfloat16", "intra": 2, "inter": 1}),
    ("bf16 + tanh GELU", "airbench94_cpu", 1024, {"precision": "mixed_bfloat16", "gelu_tanh": True}),
    ("oneDNN off", "airbench94_cpu", 1024, {"onednn": False}),
    ("airbench93_cpu (64/128/128) + XLA", "airbench93_cpu", 1024, {"jit": True}),
    ("airbench93_cpu + bf16", "airbench93_cpu", 1024, {"precision": "mixed_bfloat16"}),
    ("airbench_cpu_s (32/96/128) + XLA", "airbench_cpu_s", 1024, {"jit": True}),
    ("airbench_cpu_s, fp32", "airbench_cpu_s", 1024, {}),
    ("airbench_cpu_s + bf16", "airbench_cpu_s", 1024, {"precision": "mixed_bfloat16"}),
    ("seed_v1_3, its recipe (b32, graph mode)", "seed_v1_3", 32, {}),
]


def child(spec: dict) -> dict:
    opts = spec["opts"]
    if opts.get("onednn") is False:
        os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"
    import numpy as np

    from wic import config

    # explicit thread pools for this configuration, else WIC_TF_THREADS, else TF's default
    config.configure_threads(opts.get("intra"), opts.get("inter"))
    import keras

    if opts.get("precision"):
        keras.mixed_precision.set_global_policy(opts["precision"])
    from wic import models

    kwargs = {"gelu_approximate": True} if opts.get("gelu_tanh") else {}
    model = models.build(spec["model"], **kwargs)
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.85, nesterov=True),
                  loss=keras.losses.CategoricalCrossentropy(label_smoothing=0.2),
                  jit_compile=bool(opts.get("jit", False)))
    b = spec["batch"]
    rng = np.random.default_rng(0)
    x = rng.random((b, 32, 32, 3), dtype=np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, b)]
    t0 = time.perf_counter()
    for _ in range(2):
        model.train_on_batch(x, y)
    warm = time.perf_counter() - t0
    steps, t0 = 0, time.perf_counter()
    while steps < 3 or time.perf_counter() - t0 < spec["seconds"]:
        model.train_on_batch(x, y)
        steps += 1
    dt = time.perf_counter() - t0
    return {"images_per_s": steps * b / dt, "step_s": dt / steps, "warmup_s": warm, "steps": steps}


def pipeline_rate(seconds: float) -> list[dict]:
    """Images/s of the training input pipelines alone (real CIFAR-10 from WIC_DATA_DIR)."""
    import time as _t

    from wic import data

    ds = data.load_cifar10()
    rows = []
    for name, make in (
        ("pipeline: epoch pipeline, alternate flip + translate 2, b1024",
         lambda: data.make_epoch_pipeline(ds.x_train, ds.y_train, batch_size=1024, epochs=50,
                                          seed=0, flip="alternate", translate=2)),
        ("pipeline: seed pipeline, shuffle + crop 4 + random flip, b1024",
         lambda: data.make_pipeline(ds.x_train, ds.y_train, batch_size=1024, training=True,
                                    augment=True).repeat()),
    ):
        it = iter(make())
        next(it)
        n, t0 = 0, _t.perf_counter()
        while _t.perf_counter() - t0 < seconds:
            xb, _ = next(it)
            n += int(xb.shape[0])
        rows.append({"config": name, "images_per_s": n / (_t.perf_counter() - t0)})
    return rows


def inference_rates(seconds: float) -> list[dict]:
    """TTA inference: eager model call vs XLA-compiled function; single-image latency."""
    import keras
    import numpy as np
    import tensorflow as tf

    from wic import models

    rows = []
    for name, precision in (("airbench_cpu_s", "float32"), ("airbench_cpu_s", "mixed_bfloat16"),
                            ("airbench94_cpu", "mixed_bfloat16")):
        keras.mixed_precision.set_global_policy(precision)
        model = models.build(name)
        keras.mixed_precision.set_global_policy("float32")
        name = f"{name} {'bf16' if 'bfloat' in precision else 'fp32'}"
        x = np.random.default_rng(0).random((500, 32, 32, 3), dtype=np.float32)
        graph = tf.function(lambda t, m=model: m(t, training=False))
        fast = tf.function(lambda t, m=model: m(t, training=False), jit_compile=True)
        for label, fn in (("eager model(x)", lambda t, m=model: m(t, training=False)),
                          ("tf.function (graph)", graph), ("XLA tf.function", fast)):
            fn(x)
            n, t0 = 0, time.perf_counter()
            while n < 1000 or time.perf_counter() - t0 < seconds:
                fn(x)
                n += len(x)
            rows.append({"config": f"inference {name}, TTA 6 views, {label}, b500",
                         "images_per_s": n / (time.perf_counter() - t0)})
        one = x[:1]
        for label, fn in (("eager", lambda t, m=model: m(t, training=False)),
                          ("XLA", tf.function(lambda t, m=model: m(t, training=False),
                                              jit_compile=True))):
            for _ in range(5):
                fn(one)
            lat = []
            for _ in range(50):
                t0 = time.perf_counter()
                np.asarray(fn(one))
                lat.append(1000 * (time.perf_counter() - t0))
            rows.append({"config": f"latency {name}, 1 image, TTA, {label}",
                         "latency_ms_p50": float(np.median(lat))})
    return rows


def main(argv=None) -> int:
    from wic import results

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=float, default=12.0, help="timed seconds per configuration")
    p.add_argument("--only", nargs="*", help="run only configurations whose name contains these")
    p.add_argument("--out", default="benchmarks/results/throughput.csv")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print("RESULT " + json.dumps(child(json.loads(args.child))), flush=True)
        return 0

    rows = []
    for name, model, batch, opts in CONFIGS:
        if args.only and not any(s in name for s in args.only):
            continue
        spec = {"model": model, "batch": batch, "opts": opts, "seconds": args.seconds}
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)],
                              capture_output=True, text=True, env=os.environ.copy())
        res = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
        if not res:
            err = (proc.stderr.strip().splitlines() or ["?"])[-1]
            print(f"{name:<48s} FAILED: {err}", flush=True)
            rows.append({"config": name, "model": model, "batch": batch, "error": err})
            continue
        r = json.loads(res[0][7:])
        rows.append({"config": name, "model": model, "batch": batch, **r,
                     "wall_s": time.perf_counter() - t0})
        print(f"{name:<48s} {r['images_per_s']:8.1f} img/s  step {r['step_s']:.2f} s  "
              f"(warm-up/compile {r['warmup_s']:.1f} s)", flush=True)
    if not args.only or "pipeline" in args.only:
        for r in pipeline_rate(args.seconds / 2):
            rows.append(r)
            print(f"{r['config']:<48s} {r['images_per_s']:8.1f} img/s", flush=True)
    if not args.only or "inference" in args.only:
        for r in inference_rates(args.seconds / 2):
            rows.append(r)
            v = (f"{r['images_per_s']:8.1f} img/s" if "images_per_s" in r
                 else f"{r['latency_ms_p50']:8.2f} ms p50")
            print(f"{r['config']:<48s} {v}", flush=True)

    base = next((r["images_per_s"] for r in rows if r["config"].startswith("baseline")
                 and "images_per_s" in r), None)
    if base:
        print("\nratio to the baseline (airbench94_cpu, graph mode, fp32, b1024):")
        for r in rows:
            if "images_per_s" in r and not r["config"].startswith(("pipeline", "inference")):
                r["ratio_to_baseline"] = r["images_per_s"] / base
                print(f"  {r['config']:<48s} x{r['ratio_to_baseline']:.2f}")
    keys = sorted({k for r in rows for k in r}, key=lambda k: (k != "config", k))
    out = results.write_rows(args.out, rows, keys)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
