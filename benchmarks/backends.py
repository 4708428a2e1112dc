"""The same net and training step on Keras 3's TensorFlow, JAX and PyTorch backends, one run.

Keras 3 runs one model definition on three engines. This benchmark asks whether another engine
trains our fast net faster on this CPU than TensorFlow does, with everything else held equal:

- the net: ``airbench_cpu_s`` from :mod:`wic.models` (the same Python code on every backend,
  its patch whitening set from the same 5,000 training images);
- the engine's own speed-ups: TensorFlow runs twice, with wic's fast kernels (its default) and
  without them (``tensorflow:keras-ops``: exactly the Keras ops the other backends run);
- the step: SGD with Nesterov momentum, the fast recipe's triangle schedule, label smoothing
  0.2 and weight decay (``wic.training.schedules.make_optimizer``), batch ``--batch``;
- the data: the CIFAR-10 training images in one fixed shuffled order per epoch, no
  augmentation (each engine's own input pipeline would differ; numpy arrays do not), the
  10,000 test images for accuracy (TTA as in the saved model);
- the budget: ``--epochs`` full epochs, the same number of steps on every backend.

Each backend runs in a fresh child process (``KERAS_BACKEND`` is read once, at import) in
each precision of ``--policies``; TensorFlow compiles a graph (``tf.function``), JAX jits the
whole step (XLA), PyTorch runs eagerly (Keras' default for it). Per run: images/s over the
steady steps of the first epoch (the first ``--warmup`` batches, which include compiling, are
left out), wall time of the whole budget, test accuracy. The verdict follows the issue's rule:
keep TensorFlow unless another backend trains >= 1.3x faster.

JAX and PyTorch are not project dependencies; install them into the venv to measure them
(``pip install -e ".[backends]"``); a backend that is not installed gets a row saying so.

    .venv/bin/python benchmarks/backends.py --epochs 1         # 4 engines x fp32/bf16: 18 min
                                                               # on an Intel Xeon with AMX
    .venv/bin/python benchmarks/backends.py --epochs 1 --backends tensorflow jax
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from throughput import cpu_info, load  # noqa: E402  (the same CPU label as the throughput CSV)

DEFAULT_CSV = ROOT / "benchmarks" / "results" / "backends.csv"
# "tensorflow:keras-ops" is TensorFlow with wic's fast kernels off (WIC_FAST_KERNELS=0): the same
# Keras ops the other backends run, so the engines are compared on equal code
BACKENDS = ("tensorflow", "tensorflow:keras-ops", "jax", "torch")
MODULE = {"tensorflow": "tensorflow", "tensorflow:keras-ops": "tensorflow", "jax": "jax",
          "torch": "torch"}
KEEP_RATIO = 1.3  # another backend must train this much faster to be offered
FIELDS = ("cpu", "backend", "version", "policy", "model", "batch", "epochs", "steps",
          "images_per_s", "train_s", "test_accuracy", "load_end", "status")


def child(spec: dict) -> None:
    """Train once on this process's backend and print one ``RESULT {json}`` line."""
    import numpy as np

    from wic import data, models
    from wic.backend import keras
    from wic.training import FAST
    from wic.training.schedules import make_optimizer

    backend = keras.backend.backend()
    if backend != spec["backend"].split(":")[0]:
        raise SystemExit(f"asked for backend {spec['backend']!r}, Keras runs {backend!r}")
    version = __import__(MODULE[backend]).__version__
    keras.utils.set_random_seed(spec["seed"])
    ds = data.load_cifar10()
    x = data.to_float(ds.x_train)
    y = np.eye(10, dtype="float32")[ds.y_train.reshape(-1)]
    xt = data.to_float(ds.x_test)
    yt = np.eye(10, dtype="float32")[ds.y_test.reshape(-1)]
    if spec.get("train_subset"):
        x, y = x[:spec["train_subset"]], y[:spec["train_subset"]]

    keras.mixed_precision.set_global_policy(spec["policy"])
    try:
        model = models.build(spec["model"])
    finally:
        keras.mixed_precision.set_global_policy("float32")
    for layer in model.layers:
        if hasattr(layer, "data_init"):
            layer.data_init(ds.x_train)
    batch = spec["batch"]
    steps = len(x) // batch
    recipe = FAST.with_(epochs=spec["epochs"], batch_size=batch)
    model.compile(optimizer=make_optimizer(recipe, steps),
                  loss=keras.losses.CategoricalCrossentropy(label_smoothing=recipe.label_smoothing),
                  metrics=["accuracy"])

    stamps: list[float] = []

    class Stamps(keras.callbacks.Callback):
        def on_train_batch_end(self, b, logs=None):
            stamps.append(time.perf_counter())

    rng = np.random.default_rng(spec["seed"])
    started = time.perf_counter()
    first_epoch_stamps = None
    for epoch in range(spec["epochs"]):
        order = rng.permutation(len(x))[:steps * batch]
        model.fit(x[order], y[order], batch_size=batch, epochs=epoch + 1, initial_epoch=epoch,
                  shuffle=False, verbose=0, callbacks=[Stamps()])
        if first_epoch_stamps is None:
            first_epoch_stamps = list(stamps)
        print(f"  [{backend} {spec['policy']}] epoch {epoch + 1}/{spec['epochs']} "
              f"{time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    train_s = time.perf_counter() - started
    steady = first_epoch_stamps[spec["warmup"]:]
    ips = (batch * (len(steady) - 1) / (steady[-1] - steady[0])) if len(steady) > 1 else None
    _, acc = model.evaluate(xt, yt, batch_size=500, verbose=0)
    print("RESULT " + json.dumps({"backend": spec["backend"], "version": version,
                                  "policy": spec["policy"], "model": spec["model"],
                                  "batch": batch, "epochs": spec["epochs"],
                                  "steps": steps * spec["epochs"], "images_per_s": ips,
                                  "train_s": train_s, "test_accuracy": float(acc)}), flush=True)


def run(backend: str, policy: str, args, cpu: str) -> dict:
    row = {"cpu": cpu, "backend": backend, "policy": policy, "model": args.model,
           "batch": args.batch, "epochs": args.epochs}
    if importlib.util.find_spec(MODULE[backend]) is None:
        return {**row, "status": "not installed (pip install -e '.[backends]')"}
    spec = {"backend": backend, "policy": policy, "model": args.model, "batch": args.batch,
            "epochs": args.epochs, "seed": args.seed, "warmup": args.warmup,
            "train_subset": args.train_subset}
    env = {**os.environ, "KERAS_BACKEND": backend.split(":")[0]}
    if backend == "tensorflow:keras-ops":
        env["WIC_FAST_KERNELS"] = "0"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(spec)]
    print(f"[{backend} {policy}] training {args.epochs} epoch(s) ...", flush=True)
    try:
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=args.timeout_s,
                           cwd=str(ROOT))
    except subprocess.TimeoutExpired:
        return {**row, "status": f"timed out after {args.timeout_s:.0f} s"}
    results = [json.loads(ln[7:]) for ln in p.stdout.splitlines() if ln.startswith("RESULT ")]
    if p.returncode or not results:
        tail = [ln for ln in p.stderr.strip().splitlines() if ln.strip()][-1:] or ["?"]
        return {**row, "status": f"failed (exit {p.returncode}): {tail[0][-200:]}"}
    return {**row, **results[0], "load_end": load()[0], "status": "ok"}


def verdict(rows: list[dict]) -> list[str]:
    ok = [r for r in rows if r.get("status") == "ok" and r.get("images_per_s")]
    lines = []
    for policy in sorted({r["policy"] for r in ok}):
        base = next((r for r in ok if r["backend"] == "tensorflow" and r["policy"] == policy), None)
        if base is None:
            continue
        for r in ok:
            if r["policy"] == policy and r is not base:
                lines.append(f"{policy}: {r['backend']} trains at "
                             f"{r['images_per_s'] / base['images_per_s']:.2f}x TensorFlow's "
                             f"images/s ({r['train_s'] / base['train_s']:.2f}x its wall time)")
    others = [r for r in ok if not r["backend"].startswith("tensorflow")]
    best = max(others, key=lambda r: r["images_per_s"], default=None)
    tf_best = max((r for r in ok if r["backend"] == "tensorflow"),
                  key=lambda r: r["images_per_s"], default=None)
    if best and tf_best:
        ratio = best["images_per_s"] / tf_best["images_per_s"]
        if ratio >= KEEP_RATIO:
            lines.append(f"verdict: {best['backend']} ({best['policy']}) trains at {ratio:.2f}x "
                         f"TensorFlow's best: offer it as an opt-in (KERAS_BACKEND)")
        else:
            lines.append(f"verdict: keep TensorFlow — the fastest other backend, {best['backend']} "
                         f"({best['policy']}), trains at {ratio:.2f}x TensorFlow's best, under "
                         f"the {KEEP_RATIO}x bar")
    return lines


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backends", nargs="+", choices=BACKENDS, default=list(BACKENDS))
    p.add_argument("--policies", nargs="+", choices=("float32", "mixed_bfloat16"),
                   default=["float32", "mixed_bfloat16"])
    p.add_argument("--model", default="airbench_cpu_s")
    p.add_argument("--batch", type=int, default=1024)
    p.add_argument("--epochs", type=int, default=2, help="the fixed budget, in full epochs")
    p.add_argument("--warmup", type=int, default=5, help="first batches left out of images/s")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--train-subset", type=int, help="train on the first N images (smoke runs)")
    p.add_argument("--timeout-s", type=float, default=1800.0, help="per backend and policy")
    p.add_argument("--csv", default=str(DEFAULT_CSV))
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        child(json.loads(args.child))
        return 0
    if args.epochs < 1 or args.batch < 1:
        p.error("--epochs and --batch must be at least 1")
    info = cpu_info()
    print(f"CPU: {info['label']}; bf16/AMX flags: "
          f"{', '.join(f for f, on in info['flags'].items() if on and ('bf16' in f or 'amx' in f)) or 'none'}")
    rows = [run(b, pol, args, info["label"]) for b in args.backends for pol in args.policies]
    print()
    print(f"{'backend':<22}{'version':<13}{'policy':<16}{'img/s':>9}{'train s':>9}{'test acc':>10}  status")
    for r in rows:
        ips = f"{r['images_per_s']:.0f}" if r.get("images_per_s") else "–"
        ts = f"{r['train_s']:.0f}" if r.get("train_s") else "–"
        acc = f"{r['test_accuracy']:.4f}" if r.get("test_accuracy") is not None else "–"
        print(f"{r['backend']:<22}{r.get('version', ''):<13}{r['policy']:<16}{ips:>9}{ts:>9}"
              f"{acc:>10}  {r['status']}")
    for line in verdict(rows):
        print(line)
    out = Path(args.csv)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    print(f"wrote {out} ({len(rows)} rows)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
