"""Where one training step's time goes, op by op: TensorFlow's profiler on this CPU.

``benchmarks/throughput.py`` says how much of the machine a step uses; this says what the rest
of the step is. Each setting of wic's fast kernels runs in a fresh process: a net is built and
compiled as the throughput benchmark does (SGD nesterov, label smoothing, random images), a few
steps warm up, ``--steps`` steps run under ``tf.profiler``, and the trace's op events on
TensorFlow's compute threads are summed by kind. One process can be far off: on two cores an op
that overlaps a convolution on TensorFlow's other inter-op thread takes several times longer in
some steps and processes than in others. So each setting runs in ``--processes`` fresh
processes, the settings in a rotated order, and each kind's time is the median over them. Each
event counts its *self* time (its duration less the events nested in it), so an executor's
wrapper and the op inside it are not counted twice; the sum is compute-thread time, which
exceeds the wall time when two ops run at once (TensorFlow's inter-op threads).

    .venv/bin/python benchmarks/step_profile.py                   # airbench94_cpu, bf16, b512
    .venv/bin/python benchmarks/step_profile.py --settings on off --policy float32 --processes 1
    .venv/bin/python benchmarks/step_profile.py --csv benchmarks/results/step_profile_zen4.csv
    .venv/bin/python benchmarks/step_profile.py --settings on held --policy float32

Settings (``wic.models.airbench``): ``on`` — all fast kernels; ``no-xla`` — without GELU
compiled by XLA; ``off`` — Keras' own ops; ``held`` — all fast kernels with the whitening
layer's bias held, as ``HoldWhiteningBias`` leaves the step once the hold begins (the bias out
of the trainable variables, so nothing before the first 3x3 conv trains and the step skips that
conv's input gradient). Rows (cpu, model, policy, batch, setting, kind,
ms per step, share of the summed op time, wall ms per step, processes) go to the CSV; a table
is printed.
"""

from __future__ import annotations

import argparse
import csv
import glob
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from throughput import FAST_SETTINGS, batch_data, build_compiled, cpu_info, rotated, unknown_models

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CSV = ROOT / "benchmarks" / "results" / "step_profile.csv"
#: the fast kernels' settings, then ``held`` (the fast kernels, the whitening bias held)
SETTINGS = (*FAST_SETTINGS, "held")

# op kinds, first match wins: (kind, substrings of the op type); an XLA cluster's own events
# (fusions, its launch) have no TensorFlow op type, see kind_of
KINDS = (
    ("convolution backward (weights)", ("Conv2DBackpropFilter",)),
    ("convolution backward (input)", ("Conv2DBackpropInput",)),
    ("convolution forward", ("Conv2D",)),
    ("matmul (head)", ("MatMul",)),
    ("BatchNorm (fused op)", ("FusedBatchNorm",)),
    ("max pooling", ("MaxPool",)),
    ("optimizer and variables", ("Variable", "ResourceApply")),
    ("casts", ("Cast",)),
    ("element-wise TensorFlow ops", ("Mul", "Add", "Sub", "Erf", "Exp", "Div", "Rsqrt", "Square",
                                     "Neg", "Sqrt", "Tanh", "Relu", "Select", "Maximum",
                                     "Minimum", "Pow", "Reciprocal")),
    ("reductions", ("Sum", "Mean", "Prod", "Max", "SoftmaxCrossEntropy")),
)
EXECUTOR = "executor overhead"
XLA = "XLA-compiled (GELU)"
XLA_EVENTS = ("Start", "ExecuteAsyncOnStream", "BlockUntilReady", "_XlaRun", "_XlaCompile",
              "XlaLaunch")


def kind_of(name: str) -> str:
    """The kind of one trace event on a compute thread (``scope/name:OpType`` for TF ops)."""
    if ":" not in name:  # not a TensorFlow op: the executor's own work or an XLA cluster's
        if name == "Process" or name.endswith("Callback") or name in (
                "StartRegion", "StopRegion", "MemoryAllocation", "MemoryDeallocation"):
            return EXECUTOR
        if "fusion" in name or name in XLA_EVENTS:
            return XLA
        return "other"
    op = name.rsplit(":", 1)[1]
    if op in XLA_EVENTS:
        return XLA
    for kind, parts in KINDS:
        if any(p in op for p in parts):
            return kind
    return "other"


def self_times(events: list[tuple[int, int, str]]) -> Counter:
    """``(start, duration, name)`` events of one thread → self time per name: each event's
    duration less the events nested directly inside it (same units as the input)."""
    out: Counter = Counter()
    stack: list[list] = []  # [end, name, self time so far]
    for start, dur, name in sorted(events, key=lambda e: (e[0], -e[1])):
        while stack and stack[-1][0] <= start:
            end, n, t = stack.pop()
            out[n] += t
        if stack:  # nested: the parent loses this event's time
            stack[-1][2] -= min(dur, stack[-1][0] - start)
        stack.append([start + dur, name, dur])
    for _end, n, t in stack:
        out[n] += t
    return out


def trace_kinds(logdir: str) -> Counter:
    """Seconds of self time per kind on TensorFlow's compute threads of a profiler trace."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    totals: Counter = Counter()
    for path in glob.glob(f"{logdir}/**/*.xplane.pb", recursive=True):
        space = xplane_pb2.XSpace()
        with open(path, "rb") as fh:
            space.ParseFromString(fh.read())
        for plane in space.planes:
            names = {k: v.name for k, v in plane.event_metadata.items()}
            for line in plane.lines:
                if not line.name.startswith("tf_Compute"):
                    continue
                per_name = self_times([(e.offset_ps, e.duration_ps, names[e.metadata_id])
                                       for e in line.events])
                for name, ps in per_name.items():
                    totals[kind_of(name)] += ps / 1e12
    return totals


def median_run(runs: list[dict]) -> dict:
    """Several processes' results of one setting as one: the median wall time, and each kind's
    median seconds per step (a kind missing from a process counts as 0 there)."""
    kinds = {k for r in runs for k in r["kinds"]}
    return {"wall_s": statistics.median(r["wall_s"] for r in runs),
            "kinds": {k: statistics.median(r["kinds"].get(k, 0.0) for r in runs) for k in kinds}}


def child(spec: dict) -> None:
    """One setting: build, warm up, profile ``steps`` steps, print ``RESULT {json}``."""
    # TensorFlow through wic.backend, as wic trains: it turns TensorFlow's oneDNN ops on where
    # TensorFlow leaves them off (an AVX2-only CPU), which it can only do before TensorFlow loads
    from wic import models
    from wic.backend import keras, onednn_enabled, tf
    from wic.models import airbench
    from wic.training.schedules import HoldWhiteningBias

    airbench.FAST_KERNELS = spec["setting"] != "off"
    airbench.XLA_GELU = spec["setting"] in ("on", "held")
    model = build_compiled(keras, models, spec["model"], spec["policy"], False)
    if spec["setting"] == "held":  # before the first step traces the train function
        model.get_layer(HoldWhiteningBias.LAYER).bias.trainable = False
    x, y = batch_data(tf, spec["batch"])
    for _ in range(3):
        model.train_on_batch(x, y)
    with tempfile.TemporaryDirectory() as logdir:
        tf.profiler.experimental.start(logdir)
        t0 = time.perf_counter()
        for _ in range(spec["steps"]):
            model.train_on_batch(x, y)
        wall = (time.perf_counter() - t0) / spec["steps"]
        tf.profiler.experimental.stop()
        kinds = trace_kinds(logdir)
    print("RESULT " + json.dumps({"wall_s": wall, "onednn": onednn_enabled(),
                                  "kinds": {k: v / spec["steps"] for k, v in kinds.items()}}))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="airbench94_cpu")
    p.add_argument("--policy", default="mixed_bfloat16", choices=("float32", "mixed_bfloat16"))
    p.add_argument("--batch", type=int, default=512)
    p.add_argument("--steps", type=int, default=4, help="profiled steps per setting")
    p.add_argument("--settings", nargs="+", default=list(FAST_SETTINGS), choices=SETTINGS)
    p.add_argument("--processes", type=int, default=3,
                   help="fresh processes per setting, settings in a rotated order; each kind's "
                        "time is the median over them (one process can be far off: see above)")
    p.add_argument("--csv", default=str(DEFAULT_CSV), help=f"output CSV (default {DEFAULT_CSV})")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        child(json.loads(args.child))
        return 0
    if min(args.batch, args.steps, args.processes) < 1:
        p.error(f"--batch, --steps and --processes must be at least 1, got {args.batch}, "
                f"{args.steps} and {args.processes}")
    unknown = unknown_models([args.model])
    if unknown:
        p.error(unknown)
    cpu = cpu_info()["label"]
    settings = list(dict.fromkeys(args.settings))
    print(f"CPU: {cpu}\n{args.model}, {args.policy}, batch {args.batch}, {args.steps} profiled "
          f"steps per process, {args.processes} fresh process(es) per setting", flush=True)
    runs: dict[str, list[dict]] = {s: [] for s in settings}
    for rep in range(args.processes):
        for setting in rotated(settings, rep):
            spec = {"model": args.model, "policy": args.policy, "batch": args.batch,
                    "steps": args.steps, "setting": setting}
            proc = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)],
                                  capture_output=True, text=True, cwd=str(ROOT))
            res = [json.loads(ln[7:]) for ln in proc.stdout.splitlines()
                   if ln.startswith("RESULT ")]
            if not res:
                tail = (proc.stderr.strip().splitlines() or ["?"])[-1]
                print(f"  {setting}: FAILED ({tail[-300:]})", flush=True)
                continue
            runs[setting].append(res[0])
            print(f"  [{rep + 1}/{args.processes}] {setting}: {res[0]['wall_s'] * 1e3:.0f} ms "
                  f"per step (oneDNN ops {'on' if res[0]['onednn'] else 'off'})", flush=True)
    results = {s: median_run(r) for s, r in runs.items() if r}
    if not results:
        return 1
    kinds = sorted({k for r in results.values() for k in r["kinds"]},
                   key=lambda k: -max(r["kinds"].get(k, 0.0) for r in results.values()))
    print("\nms of compute-thread time per step (share of the summed op time)")
    print(f"  {'kind':<34s}" + "".join(f"{s:>18s}" for s in results))
    rows = []
    for k in kinds + ["wall time per step"]:
        cells = ""
        for s, r in results.items():
            total = sum(r["kinds"].values())
            ms = (r["wall_s"] if k == "wall time per step" else r["kinds"].get(k, 0.0)) * 1e3
            share = "" if k == "wall time per step" else f"{ms / 1e3 / total:.0%}"
            cells += f"{ms:>11.1f} {share:>6s}"
            if k != "wall time per step":
                rows.append({"cpu": cpu, "model": args.model, "policy": args.policy,
                             "batch": args.batch, "setting": s, "kind": k, "ms_per_step":
                             round(ms, 2), "share": round(ms / 1e3 / total, 4),
                             "wall_ms_per_step": round(r["wall_s"] * 1e3, 1),
                             "processes": len(runs[s])})
        print(f"  {k:<34s}{cells}")
    out = Path(args.csv)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    print(f"\nwrote {out} ({len(rows)} rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
