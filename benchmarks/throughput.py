"""Peak vs achieved FLOP/s of the fast recipe's training step on this CPU, in one run.

1. the CPU (/proc/cpuinfo: name, vendor, family/model, the SIMD/bf16/AMX flags), the cores TF
   uses, the TF / Keras / oneDNN versions and whether TF's oneDNN ops are on;
2. the peak GFLOP/s TensorFlow reaches here: a large matmul and a 3x3 conv (64 -> 256 channels,
   32x32, NHWC; forward, backprop-input and backprop-filter) in float32 and bfloat16, sized to
   take ~0.2-1 s per op, warmed up, best and median of repeats, with TF's oneDNN ops in their
   default state here and flipped;
3. which oneDNN kernels ran: each peak op (and one training step) once more in a child with
   ``ONEDNN_VERBOSE=1``, the verbose lines parsed (primitive, implementation, data types), or
   "no oneDNN primitive: Eigen";
4. the training step of ``airbench94_cpu`` and ``airbench_cpu_s`` (or the nets of ``--models``;
   SGD nesterov 0.85, lr 1.5, label smoothing 0.2) in float32 and mixed_bfloat16 at batch 512 /
   1024 / 2048 on random images in [0, 1]: images/s, achieved GFLOP/s (3 x forward FLOPs, forward = 2 x the
   multiply-adds of ``models.multiply_adds`` + the frozen whitening conv) and the fraction of the
   measured peaks of the same dtype; a batch whose step would take longer than ``--max-step-s``
   (projected from a batch-64 probe) is skipped and says so;
5. where the step's time goes: each layer's forward + backward timed alone at one batch;
6. what moves the achieved fraction: TF intra/inter threads, ``TF_ENABLE_ONEDNN_OPTS`` flipped,
   XLA (``jit_compile=True``), each in a fresh child process, as a ratio to a baseline measured
   (twice: first and last, for the drift) in the same run;
7. wic's own fast kernels (``wic.models.airbench.FAST_KERNELS``: BatchNorm as one oneDNN op,
   GELU with its gradient written out, GELU and its gradient as XLA-compiled loops) all on,
   without the XLA part, all off, all on again, in turn, each net and dtype.

Rows go to a CSV (cpu, what, dtype, setting, value, unit, kernel); a summary with ratios is
printed. Other jobs sharing the CPU change every number: the load average is printed per stage.

    .venv/bin/python benchmarks/throughput.py                 # full run (~15-25 min on 2 cores)
    .venv/bin/python benchmarks/throughput.py --quick         # smoke run (~2 min)
    .venv/bin/python benchmarks/throughput.py --csv /tmp/peak.csv --max-step-s 120
    .venv/bin/python benchmarks/throughput.py --models airbench94_cpu airbench94_cpu_wide

"Default state" means the ``TF_ENABLE_ONEDNN_OPTS`` this process was started with: unset, it is
TensorFlow's own choice for this CPU. On a CPU with AVX2 but without AVX-512 VNNI/BF16 or AMX,
TensorFlow leaves its oneDNN ops off while ``wic.backend`` turns them on for training; to
measure every stage in the state wic trains in there, start the run with the variable set (the
report then says it was set, and stage 6 flips it to ``0``):

    TF_ENABLE_ONEDNN_OPTS=1 .venv/bin/python benchmarks/throughput.py --csv benchmarks/results/throughput_peak_zen3_onednn.csv
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

from wic.config import BF16_FLAGS

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CSV = ROOT / "benchmarks" / "results" / "throughput_peak.csv"
FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile", "avx512_vnni")
MODELS = ("airbench94_cpu", "airbench_cpu_s")
POLICIES = ("float32", "mixed_bfloat16")
DT = {"float32": "fp32", "bfloat16": "bf16", "mixed_bfloat16": "bf16"}
CONV = {"h": 32, "w": 32, "cin": 64, "cout": 256}  # the peak conv: 3x3, stride 1, SAME, NHWC
PEAK_OPS = [(kind, dt) for dt in ("float32", "bfloat16")
            for kind in ("matmul", "conv_fwd", "conv_bwd_input", "conv_bwd_filter")]
MARK = "@@WIC_MARK "
# stage 7's settings of wic's fast kernels: all on; on without the XLA-compiled GELU; all off
FAST_SETTINGS = ("on", "no-xla", "off")


# ----------------------------------------------------------------------------- CPU and load


def cpu_info() -> dict:
    """The first processor's fields of /proc/cpuinfo (Linux) plus the cores we may use."""
    fields: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if not line.strip():
                    if fields:
                        break
                    continue
                k, _, v = line.partition(":")
                fields.setdefault(k.strip(), v.strip())
    except OSError:
        pass
    flags = set(fields.get("flags", "").split())

    def num(key):
        try:
            return int(fields.get(key, ""), 0)
        except ValueError:
            return None

    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    info = {"model_name": fields.get("model name", "?"), "vendor": fields.get("vendor_id", "?"),
            "family": num("cpu family"), "model": num("model"), "stepping": num("stepping"),
            "mhz": float(fields.get("cpu MHz", "0") or 0), "flags": {f: f in flags for f in FLAGS},
            "logical_cpus": os.cpu_count(), "usable_cpus": usable}
    info["label"] = (f"{info['model_name']} ({info['vendor']}, family {info['family']} "
                     f"model {info['model']})")
    info["fp32_peak"] = theoretical_fp32_peak(info)
    return info


def theoretical_fp32_peak(info: dict) -> dict | None:
    """A rough fp32 FMA peak at the /proc/cpuinfo clock (turbo may be higher); None if unknown."""
    fam, model, vendor, fl = info["family"], info["model"] or 0, info["vendor"], info["flags"]
    per_cycle = None
    if vendor == "AuthenticAMD" and fam == 23:
        per_cycle, arch = (16, "Zen/Zen+: 2x128-bit FMA") if model < 0x30 else \
            (32, "Zen 2: 2x256-bit FMA")
    elif vendor == "AuthenticAMD" and fam == 25:
        per_cycle, arch = 32, "Zen 3/4: 2x256-bit FMA (Zen 4 runs AVX-512 as 2x256)"
    elif vendor == "GenuineIntel" and fl.get("avx512f"):
        per_cycle, arch = 64, "AVX-512 with 2 FMA units (half if the part has one)"
    elif vendor == "GenuineIntel" and fl.get("fma"):
        per_cycle, arch = 32, "AVX2: 2x256-bit FMA"
    if per_cycle is None or not info["mhz"]:
        return None
    cores = info["usable_cpus"] or 1
    return {"gflops": per_cycle * info["mhz"] / 1000 * cores, "per_cycle": per_cycle,
            "arch": arch, "cores": cores}


def load() -> tuple[float, float, float]:
    try:
        return tuple(round(x, 2) for x in os.getloadavg())
    except OSError:
        return (float("nan"),) * 3


# --------------------------------------------------------------------------- child processes


def child_env(onednn: str | None, verbose: bool = False) -> dict:
    env = os.environ.copy()
    env["TF_CPP_MIN_LOG_LEVEL"] = "1"  # keep W/E lines: the oneDNN-bf16 fallback is an E line
    if onednn is None:
        env.pop("TF_ENABLE_ONEDNN_OPTS", None)
    else:
        env["TF_ENABLE_ONEDNN_OPTS"] = onednn
    if verbose:
        env["ONEDNN_VERBOSE"] = env["DNNL_VERBOSE"] = "1"
    else:
        env.pop("ONEDNN_VERBOSE", None)
        env.pop("DNNL_VERBOSE", None)
    return env


def run_child(kind: str, spec: dict, env: dict, timeout: float) -> tuple[list[dict], str, str]:
    """Run this script as a child; its ``RESULT {json}`` lines, its stdout and its stderr."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", kind, json.dumps(spec)]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout,
                           cwd=str(ROOT))
        out, err = p.stdout, p.stderr
        if p.returncode:
            err += f"\n[child exited with {p.returncode}]"
    except subprocess.TimeoutExpired as e:
        def text(b):
            return b.decode(errors="replace") if isinstance(b, bytes) else (b or "")
        out, err = text(e.stdout), text(e.stderr) + f"\n[child timed out after {timeout:.0f} s]"
    res = [json.loads(ln[7:]) for ln in out.splitlines() if ln.startswith("RESULT ")]
    return res, out, err


def last_error(err: str) -> str:
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    return lines[-1][-300:] if lines else "?"


def emit(obj: dict) -> None:
    print("RESULT " + json.dumps(obj), flush=True)


def tf_setup(spec: dict):
    """Import TF, fix its thread pools (before any op runs), return (tf, keras)."""
    import tensorflow as tf

    if spec.get("intra") is not None:
        tf.config.threading.set_intra_op_parallelism_threads(int(spec["intra"]))
    if spec.get("inter") is not None:
        tf.config.threading.set_inter_op_parallelism_threads(int(spec["inter"]))
    import keras

    if spec.get("fast_kernels") is not None:  # wic's TF fast paths for BatchNorm and GELU
        from wic.models import airbench

        airbench.FAST_KERNELS = bool(spec["fast_kernels"])
        airbench.XLA_GELU = bool(spec.get("xla_gelu", True))
    return tf, keras


def tf_state(tf, keras) -> dict:
    try:
        from tensorflow.python.util import _pywrap_util_port as port

        onednn_on = bool(port.IsMklEnabled())
    except Exception:  # noqa: BLE001 - private API; absent in some builds
        onednn_on = None
    return {"tf": tf.__version__, "keras": keras.__version__, "onednn_on": onednn_on,
            "env_onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "unset"),
            "intra": tf.config.threading.get_intra_op_parallelism_threads(),
            "inter": tf.config.threading.get_inter_op_parallelism_threads()}


# ------------------------------------------------------------------------------- peak ops


def op_flops(kind: str, size: int) -> float:
    if kind == "matmul":
        return 2.0 * size ** 3
    c = CONV
    return 2.0 * size * c["h"] * c["w"] * 9 * c["cin"] * c["cout"]


def make_op(tf, kind: str, dtype: str, size: int):
    """A graph function and its arguments: matmul n x n, or the 3x3 conv at batch ``size``."""
    dt = getattr(tf, dtype)
    g = tf.random.Generator.from_seed(0)

    def rnd(shape):
        return tf.cast(g.uniform(shape, -1.0, 1.0), dt)

    c = CONV
    x_shape, w_shape = (size, c["h"], c["w"], c["cin"]), (3, 3, c["cin"], c["cout"])
    y_shape = (size, c["h"], c["w"], c["cout"])
    if kind == "matmul":
        def fn(a, b):
            return tf.matmul(a, b)
        args = (rnd((size, size)), rnd((size, size)))
    elif kind == "conv_fwd":
        def fn(x, w):
            return tf.nn.conv2d(x, w, 1, "SAME")
        args = (rnd(x_shape), rnd(w_shape))
    elif kind == "conv_bwd_input":
        def fn(dy, w):
            return tf.raw_ops.Conv2DBackpropInput(
                input_sizes=tf.constant(x_shape, tf.int32), filter=w, out_backprop=dy,
                strides=[1, 1, 1, 1], padding="SAME")
        args = (rnd(y_shape), rnd(w_shape))
    else:
        def fn(x, dy):
            return tf.raw_ops.Conv2DBackpropFilter(
                input=x, filter_sizes=tf.constant(w_shape, tf.int32), out_backprop=dy,
                strides=[1, 1, 1, 1], padding="SAME")
        args = (rnd(x_shape), rnd(y_shape))
    return tf.function(fn, autograph=False), args


def cpu_share(c0: float, w0: float) -> float:
    """This process's CPU time / (wall time x usable cores) since (c0, w0): what it got."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    wall = max(time.perf_counter() - w0, 1e-9)
    return max(min((time.process_time() - c0) / (wall * cores), 1.0), 1e-3)


def time_call(fn, args) -> float:
    t0 = time.perf_counter()
    out = fn(*args)
    _ = out.shape  # CPU ops run synchronously; this only touches the result
    return time.perf_counter() - t0


def pick_size(tf, kind: str, dtype: str, target: float, floor: int) -> int:
    """The largest size whose op should take <= ``target`` s (from a small probe), but at least
    ``floor`` (small ops understate the peak) unless even that would take > 4 x ``target``."""
    sizes = [512, 1024, 2048, 4096, 8192] if kind == "matmul" else [2 ** i for i in range(9)]
    probe = 512 if kind == "matmul" else 2
    fn, args = make_op(tf, kind, dtype, probe)
    time_call(fn, args)
    rate = op_flops(kind, probe) / max(time_call(fn, args), 1e-6)
    fits = [s for s in sizes if op_flops(kind, s) / rate <= target]
    best = max(fits) if fits else sizes[0]
    if best < floor and op_flops(kind, floor) / rate <= 4 * target:
        best = floor
    return best


def child_peaks(spec: dict) -> None:
    tf, keras = tf_setup(spec)
    emit({"type": "state", **tf_state(tf, keras)})
    for kind, dtype in PEAK_OPS:
        floor = spec["floor_matmul"] if kind == "matmul" else spec["floor_conv"]
        size = pick_size(tf, kind, dtype, spec["target_s"], floor)
        fn, args = make_op(tf, kind, dtype, size)
        for _ in range(spec["warmup"]):
            time_call(fn, args)
        c0, w0 = time.process_time(), time.perf_counter()
        ts = [time_call(fn, args) for _ in range(spec["repeats"])]
        share = cpu_share(c0, w0)
        f = op_flops(kind, size)
        emit({"type": "peak", "op": kind, "dtype": dtype, "size": size, "gflop": f / 1e9,
              "cpu_share": share, "norm_gflops": f / statistics.median(ts) / share / 1e9,
              "best_gflops": f / min(ts) / 1e9, "median_gflops": f / statistics.median(ts) / 1e9,
              "best_s": min(ts), "median_s": statistics.median(ts)})


# ------------------------------------------------------------------------ models and steps


def forward_macs(models, model) -> tuple[int, list[dict]]:
    """Multiply-adds per image: ``models.multiply_adds`` + 4-D-kernel layers it skips (whiten)."""
    rows = list(models.multiply_adds(model))
    counted = {r["name"] for r in rows}
    for layer in model.layers:
        kernel = getattr(layer, "kernel", None)
        if layer.name in counted or kernel is None or len(kernel.shape) != 4:
            continue
        out = layer.output.shape
        positions = 1
        for d in out[1:-1]:
            positions *= int(d)
        k = 1
        for d in kernel.shape:
            k *= int(d)
        rows.append({"name": layer.name, "type": type(layer).__name__, "macs": positions * k})
    return sum(int(r["macs"]) for r in rows), rows


def build_compiled(keras, models, name: str, policy: str, jit: bool):
    keras.mixed_precision.set_global_policy(policy)
    try:
        model = models.build(name)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=1.5, momentum=0.85, nesterov=True),
                  loss=keras.losses.CategoricalCrossentropy(label_smoothing=0.2),
                  jit_compile=bool(jit))
    return model


def batch_data(tf, batch: int, seed: int = 0):
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (batch, 32, 32, 3), dtype=np.uint8).astype(np.float32) / 255.0
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, batch)]
    return tf.constant(x), tf.constant(y)


def time_steps(model, x, y, seconds: float, min_timed: int, long_step: float) -> dict:
    """1-2 warm-up steps (the first traces), then steps until ``seconds`` and ``min_timed``.

    Steps longer than ``long_step`` get one warm-up and (at least) one timed step.
    """
    t0 = time.perf_counter()
    model.train_on_batch(x, y)
    first = time.perf_counter() - t0
    warm, last_warm = 1, first
    if first < long_step:  # the 1st step traces; a 2nd settles oneDNN primitives/caches
        t0 = time.perf_counter()
        model.train_on_batch(x, y)
        last_warm, warm = time.perf_counter() - t0, 2
    if last_warm >= long_step:
        min_timed = 1
    times, t_start, c0 = [], time.perf_counter(), time.process_time()
    while len(times) < min_timed or time.perf_counter() - t_start < seconds:
        t0 = time.perf_counter()
        loss = model.train_on_batch(x, y)
        times.append(time.perf_counter() - t0)
    share = cpu_share(c0, t_start)
    loss = float(loss[0] if isinstance(loss, (list, tuple)) else loss)
    return {"first_step_s": first, "warmup_steps": warm, "steps": len(times), "cpu_share": share,
            "mean_step_s": sum(times) / len(times), "best_step_s": min(times),
            "loss_finite": loss == loss and abs(loss) != float("inf")}


def child_train(spec: dict) -> None:
    """Each config in turn; a batch projected over ``max_step_s`` (from a probe) is skipped."""
    tf, keras = tf_setup(spec)
    from wic import models

    emit({"type": "state", **tf_state(tf, keras)})
    per_image: dict[tuple, float] = {}
    for cfg in spec["configs"]:
        key = (cfg["model"], cfg["policy"], bool(cfg.get("jit")))
        b = cfg["batch"]
        if not cfg.get("probe") and key in per_image:
            projected = per_image[key] * b
            if projected > spec["max_step_s"]:
                emit({"type": "train", **cfg, "skipped": True, "projected_step_s": projected,
                      "load": load()})
                continue
        t_build = time.perf_counter()
        model = build_compiled(keras, models, cfg["model"], cfg["policy"], cfg.get("jit", False))
        macs, _ = forward_macs(models, model)
        x, y = batch_data(tf, b)
        r = time_steps(model, x, y, spec["seconds"], 1 if cfg.get("probe") else spec["min_timed"],
                       spec["long_step_s"])
        per_image[key] = min(per_image.get(key, float("inf")), r["best_step_s"] / b)
        emit({"type": "train", **cfg, **r, "macs_per_image": macs, "load": load(),
              "setup_and_warmup_s": time.perf_counter() - t_build - r["mean_step_s"] * r["steps"],
              "images_per_s": b / r["mean_step_s"], "images_per_s_best": b / r["best_step_s"]})
        del model
        keras.backend.clear_session()


def layer_category(layer) -> str:
    kind = type(layer).__name__
    if kind == "Conv2D":
        return "conv3x3"
    if kind == "PatchWhitening":
        return "whitening conv (frozen)"
    if "BatchNorm" in kind:
        return "batchnorm"
    if kind == "Activation":
        act = getattr(layer.activation, "__name__", str(layer.activation))
        return "gelu" if "gelu" in act else "head (dense, scale, softmax)"
    if "Pool" in kind:
        return "pooling"
    if kind in ("Dense", "Rescaling"):
        return "head (dense, scale, softmax)"
    return "other layers"


def child_breakdown(spec: dict) -> None:
    """The train step at one batch, then each layer's forward + backward timed alone."""
    tf, keras = tf_setup(spec)
    from wic import models

    model = build_compiled(keras, models, spec["model"], spec["policy"], False)
    x, y = batch_data(tf, spec["batch"])
    step = time_steps(model, x, y, 0.0, spec["repeats"], spec["long_step_s"])
    emit({"type": "step", **step, "load": load()})
    _, mac_rows = forward_macs(models, model)
    macs = {r["name"]: int(r["macs"]) for r in mac_rows}
    h, first = x, True
    for layer in model.layers[1:]:  # [0] is the InputLayer
        inp = h
        h = layer(inp, training=True)
        sources_vars = list(layer.trainable_variables)
        if not sources_vars and first:  # identity before the first trainable layer (TTA views)
            continue
        need_dx, first = not first, False  # the image needs no gradient; everything after does
        dy = tf.cast(tf.random.uniform(tf.shape(h), -1.0, 1.0), h.dtype)

        def fwd_bwd(t, dy=dy, layer=layer, need_dx=need_dx, sources_vars=sources_vars):
            with tf.GradientTape() as tape:
                if need_dx:
                    tape.watch(t)
                out = layer(t, training=True)
            grads = tape.gradient(out, ([t] if need_dx else []) + sources_vars,
                                  output_gradients=dy)
            return out, grads  # return ``out`` too, else the graph prunes the forward op

        fn = tf.function(fwd_bwd, autograph=False)
        fn(inp)
        ts, c0, w0 = [], time.process_time(), time.perf_counter()
        for _ in range(spec["repeats"]):
            t0 = time.perf_counter()
            fn(inp)
            ts.append(time.perf_counter() - t0)
        emit({"type": "layer", "name": layer.name, "kind": type(layer).__name__,
              "category": layer_category(layer), "in_shape": list(inp.shape),
              "out_shape": list(h.shape), "dtype": str(h.dtype.name),
              "median_s": statistics.median(ts), "best_s": min(ts), "cpu_share": cpu_share(c0, w0),
              "macs_per_image": macs.get(layer.name, 0), "load": load()})


# ---------------------------------------------------------------------- oneDNN verbose runs


def child_verbose(spec: dict) -> None:
    """Each peak op once (at the peak's size) and one train step, between stdout/stderr marks."""
    import ctypes

    libc = ctypes.CDLL(None)

    def mark(label):
        sys.stdout.flush()
        sys.stderr.flush()
        libc.fflush(None)  # oneDNN prints with C stdio: flush it before our mark
        os.write(1, f"\n{MARK}{label}\n".encode())
        os.write(2, f"\n{MARK}{label}\n".encode())

    tf, keras = tf_setup(spec)
    for kind, dtype, size in spec["ops"]:
        mark(f"op {kind} {dtype}")
        fn, args = make_op(tf, kind, dtype, size)
        time_call(fn, args)
    from wic import models

    for policy in spec["train_policies"]:
        mark("setup")
        model = build_compiled(keras, models, spec["model"], policy, False)
        x, y = batch_data(tf, spec["batch"])
        mark(f"train {policy}")
        model.train_on_batch(x, y)
    mark("end")


DTYPES_RE = re.compile(r"(?:^|\s)(src|wei|bia|dst|diff_src|diff_wei|diff_dst)[_:]([a-z0-9]+)")


def parse_verbose_line(line: str) -> dict | None:
    """One ``onednn_verbose,...,exec,cpu,<kind>,<impl>,<prop>,<mds>,...,<time>`` line."""
    if not line.startswith(("onednn_verbose", "dnnl_verbose")):
        return None
    f = line.strip().split(",")
    if "exec" not in f:
        return None
    i = f.index("exec")
    if len(f) < i + 6 or f[i + 1] != "cpu":
        return None
    try:
        ms = float(f[-1])
    except ValueError:
        ms = 0.0
    dts = sorted({d for _, d in DTYPES_RE.findall(" " + f[i + 5]) if d != "undef"})
    return {"kind": f[i + 2], "impl": f[i + 3], "prop": f[i + 4], "dtypes": "/".join(dts),
            "problem": f[-2], "ms": ms}


def sections(text: str) -> dict[str, list[str]]:
    out, cur = defaultdict(list), "preamble"
    for line in text.splitlines():
        if line.startswith(MARK):
            cur = line[len(MARK):].strip()
        else:
            out[cur].append(line)
    return out


def kernel_summary(lines: list[str], err_lines: list[str], full_problem: str | None = None,
                   top: int = 8) -> dict:
    prims = [p for p in map(parse_verbose_line, lines) if p]
    notes = []
    if any("supports DT_BFLOAT16 only" in ln for ln in err_lines):
        notes.append("TF: oneDNN bf16 needs AVX-512 here, fell back to Eigen")
    if not prims:
        return {"short": "no oneDNN primitive: Eigen", "long": "no oneDNN primitive: Eigen",
                "notes": notes, "groups": []}
    groups: dict[tuple, dict] = {}
    for p in prims:
        k = (p["kind"], p["impl"], p["prop"], p["dtypes"])
        g = groups.setdefault(k, {"n": 0, "ms": 0.0, "problems": defaultdict(int)})
        g["n"] += 1
        g["ms"] += p["ms"]
        g["problems"][p["problem"]] += 1
    ordered = sorted(groups.items(), key=lambda kv: -kv[1]["ms"])
    parts, glist = [], []
    for (kind, impl, prop, dts), g in ordered:
        name = ("gemm_api (dnnl_sgemm; impl not reported)" if kind == "gemm_api"
                else f"{kind}:{impl}" if impl else kind)
        if prop not in ("", "undef"):
            name += f" {prop}"
        problem = max(g["problems"], key=g["problems"].get)
        glist.append({"name": name, "dtypes": dts, "calls": g["n"], "ms": g["ms"],
                      "problem": problem})
        parts.append(f"{name} [{dts}] x{g['n']} {g['ms']:.0f} ms (e.g. {problem})")
    only_gemm = all(k[0] == "gemm_api" for k in groups)
    calls = sum(gl["calls"] for gl in glist)
    if only_gemm and full_problem and any(full_problem == gl["problem"] for gl in glist):
        short = (f"_MklMatMul -> oneDNN sgemm on the whole {full_problem} "
                 f"(gemm_api [{glist[0]['dtypes']}])")
    elif only_gemm:
        short = (f"Eigen op; its GEMM blocks via oneDNN sgemm (gemm_api [{glist[0]['dtypes']}], "
                 f"{calls} calls of e.g. {glist[0]['problem']})")
    else:
        short = "; ".join(f"{gl['name']} [{gl['dtypes']}]" for gl in glist[:2])
    return {"short": short, "long": "\n      ".join(parts[:top]), "notes": notes,
            "groups": glist}


def onednn_info(text: str) -> dict:
    info = {}
    for line in text.splitlines():
        if ",info," not in line:
            continue
        m = re.search(r"oneDNN v([0-9.]+)", line)
        if m:
            info["version"] = m.group(1)
        m = re.search(r"isa:([^,]+)", line)
        if m:
            info["isa"] = m.group(1).strip()
        m = re.search(r"nthr:(\d+)", line)
        if m:
            info["nthr"] = int(m.group(1))
    return info


# --------------------------------------------------------------------------------- parent


class Rows:
    def __init__(self, cpu: str):
        self.cpu, self.rows = cpu, []

    def add(self, what, dtype, setting, value, unit, kernel=""):
        self.rows.append({"cpu": self.cpu, "what": what, "dtype": dtype, "setting": setting,
                          "value": value, "unit": unit, "kernel": kernel})

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=["cpu", "what", "dtype", "setting", "value", "unit",
                                              "kernel"])
            w.writeheader()
            for r in self.rows:
                v = r["value"]
                w.writerow({**r, "value": f"{v:.6g}" if isinstance(v, float) else v})


def trained_policies(flags: dict) -> tuple[str, ...]:
    """The dtypes wic trains in on a CPU of these flags (precision "auto"): bfloat16 only with
    bf16 in hardware; elsewhere it is emulated (stage 4 times it), many times slower, and no
    recipe runs it, so stage 7 times float32 only (on an AVX2 EPYC its bf16 runs took minutes
    a step)."""
    return POLICIES if any(flags.get(f) for f in BF16_FLAGS) else ("float32",)


def onednn_label(value: str | None, on: bool | None) -> str:
    state = "on" if on else "off" if on is not None else "?"
    return f"TF_ENABLE_ONEDNN_OPTS={value or 'unset'} (oneDNN ops {state})"


def child_models(spec: dict) -> None:
    from wic import models

    emit({"type": "models", "names": models.available()})


def unknown_models(names: list[str]) -> str | None:
    """None when every name is a registered net, else a message naming the ones that are not
    and the ones that are (asked of a child: the parent stays free of TensorFlow)."""
    res, _, err = run_child("models", {}, child_env(os.environ.get("TF_ENABLE_ONEDNN_OPTS")), 300)
    known = next((r["names"] for r in res if r["type"] == "models"), None)
    if known is None:
        return f"cannot list the registered nets: {last_error(err)}"
    bad = [n for n in names if n not in known]
    if not bad:
        return None
    return f"--models: not a registered net: {', '.join(bad)} (registered: {', '.join(known)})"


def rotated(settings: list[str], repeat: int) -> list[str]:
    """The settings of one repeat, rotated by ``repeat`` places: over as many repeats as there
    are settings, each runs first, second, ... and last once, so a drifting machine favours none
    (whole_run.py and step_profile.py)."""
    k = repeat % len(settings)
    return settings[k:] + settings[:k]


def say(msg: str = "") -> None:
    print(msg, flush=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="fewer repeats and configs (< 2 min)")
    p.add_argument("--csv", default=str(DEFAULT_CSV), help=f"output CSV (default {DEFAULT_CSV})")
    p.add_argument("--seconds", type=float, help="timed seconds per training config")
    p.add_argument("--max-step-s", type=float,
                   help="skip a training batch whose step is projected to take longer")
    p.add_argument("--no-breakdown", action="store_true", help="skip the per-layer timing")
    p.add_argument("--models", nargs="+", default=list(MODELS), metavar="NET",
                   help=f"registered nets whose training step is timed (stage 4) and whose fast "
                        f"kernels are switched (stage 7); default: {' '.join(MODELS)}")
    p.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        kind, spec = args.child[0], json.loads(args.child[1])
        {"peaks": child_peaks, "train": child_train, "verbose": child_verbose,
         "breakdown": child_breakdown, "models": child_models}[kind](spec)
        return 0
    unknown = unknown_models(args.models)
    if unknown:
        p.error(unknown)

    q = args.quick
    seconds = args.seconds if args.seconds is not None else (3.0 if q else 12.0)
    max_step = args.max_step_s if args.max_step_s is not None else (8.0 if q else 75.0)
    t_run = time.perf_counter()
    cpu = cpu_info()
    rows = Rows(cpu["label"])
    loads = [("start", load())]

    # ---- 1. the CPU
    say("=" * 100)
    say(f"CPU     {cpu['label']}, stepping {cpu['stepping']}, {cpu['mhz']:.0f} MHz (cpuinfo)")
    say("flags   " + "  ".join(f"{f}:{'yes' if v else 'no'}" for f, v in cpu["flags"].items()))
    say(f"cores   {cpu['logical_cpus']} logical, {cpu['usable_cpus']} usable by this process")
    tp = cpu["fp32_peak"]
    if tp:
        say(f"theory  ~{tp['gflops']:.0f} GFLOP/s fp32 = {tp['per_cycle']} FLOP/cycle/core "
            f"({tp['arch']}) x {cpu['mhz'] / 1000:.2f} GHz x {tp['cores']} cores (rough)")
    say(f"load    os.getloadavg() = {loads[0][1]} at start")
    for f, v in cpu["flags"].items():
        rows.add("cpu flag", "", f, int(v), "present")
    rows.add("cpu", "", "usable cores", cpu["usable_cpus"], "cores")
    if tp:
        rows.add("theoretical fp32 FMA peak (rough)", "float32", tp["arch"], tp["gflops"],
                 "GFLOP/s")

    env_onednn = os.environ.get("TF_ENABLE_ONEDNN_OPTS")
    target = 0.25 if q else 0.6
    peak_spec = {"target_s": target, "warmup": 1 if q else 2, "repeats": 3 if q else 5,
                 "floor_matmul": 1024 if q else 2048, "floor_conv": 16 if q else 32}

    # ---- 2. peaks (default oneDNN state, then flipped)
    say("\n[peaks] matmul / 3x3 conv 64->256 32x32 NHWC, fp32 and bf16 ...")
    states: dict[str, dict] = {}
    peaks: dict[str, dict] = {}  # state label -> {(op, dtype): row}
    flip_value = None
    for which in (["default"] if q else ["default", "flipped"]):
        value = env_onednn if which == "default" else flip_value
        res, _, err = run_child("peaks", peak_spec, child_env(value), 1800)
        st = next((r for r in res if r["type"] == "state"), None)
        if st is None:
            say(f"  peaks child failed: {last_error(err)}")
            continue
        label = onednn_label(value, st["onednn_on"])
        states[which] = {**st, "label": label, "value": value}
        if which == "default":
            flip_value = "0" if st["onednn_on"] else "1"
        peaks[which] = {(r["op"], r["dtype"]): r for r in res if r["type"] == "peak"}
        if len(peaks[which]) < len(PEAK_OPS):
            say(f"  (some peak ops missing: {last_error(err)})")
    if "default" not in states:
        say("cannot run TensorFlow; stopping")
        return 1
    st = states["default"]
    say(f"TF {st['tf']}, Keras {st['keras']}; default here: {st['label']}; threads intra "
        f"{st['intra']} / inter {st['inter']} (0 = TF picks, i.e. all usable cores)")
    loads.append(("after peaks", load()))

    # ---- 3. kernels (verbose)
    say("\n[kernels] each peak op once more with ONEDNN_VERBOSE=1 ...")
    kernels: dict[str, dict] = {}  # state -> {section: summary}
    dnn: dict[str, dict] = {}
    vb = 8 if q else 32
    for which in peaks:
        ops = [[k, d, r["size"]] for (k, d), r in peaks[which].items()]
        vspec = {"ops": ops, "model": "airbench94_cpu", "batch": vb,
                 "train_policies": ["float32"] if q else list(POLICIES)}
        _, out, err = run_child("verbose", vspec, child_env(states[which]["value"], True), 1800)
        so, se = sections(out), sections(err)
        dnn[which] = onednn_info(out)
        kernels[which] = {}
        for sec, lines in so.items():
            if not sec.startswith(("op ", "train ")):
                continue
            full = None
            if sec.startswith("op matmul"):
                n = peaks[which][("matmul", sec.split()[2])]["size"]
                full = f"{n}x{n}:{n}x{n}"
            kernels[which][sec] = kernel_summary(lines, se.get(sec, []), full)
        if not kernels[which]:
            say(f"  verbose child ({which}) gave no sections: {last_error(err)}")
    d0 = dnn.get("default", {})
    say(f"oneDNN {d0.get('version', '?')}, max ISA it detects: {d0.get('isa', '?')}, "
        f"threads: {d0.get('nthr', '?')}")
    loads.append(("after kernels", load()))

    # ---- 4. training step, baseline grid
    say("\n[train] fast recipe's training step ...")
    if q:
        grid = [("airbench94_cpu", "float32", [32]), ("airbench94_cpu", "mixed_bfloat16", [8]),
                ("airbench_cpu_s", "float32", [64])]
    else:
        grid = [(m, pol, [512, 1024, 2048]) for m in args.models for pol in POLICIES]
    configs = []
    for m, pol, batches in grid:
        if not q:
            configs.append({"model": m, "policy": pol, "batch": 64, "probe": True})
        configs += [{"model": m, "policy": pol, "batch": b} for b in batches]
    tspec = {"configs": configs, "seconds": seconds, "min_timed": 1 if q else 2,
             "max_step_s": max_step, "long_step_s": 3.0 if q else 10.0}
    res, _, err = run_child("train", tspec, child_env(env_onednn), 3 * 3600)
    train = [r for r in res if r["type"] == "train"]
    if len(train) < len(configs):
        say(f"  (train child stopped early: {last_error(err)})")
    for r in train:
        tag = f"{r['model']} {DT[r['policy']]} b{r['batch']}" + (" (probe)" if r.get("probe")
                                                                 else "")
        if r.get("skipped"):
            say(f"  {tag:<34s} skipped: projected >= {r['projected_step_s']:.0f} s/step "
                f"(> --max-step-s {max_step:.0f})")
        else:
            say(f"  {tag:<34s} {r['images_per_s']:8.1f} img/s (best step {r['images_per_s_best']:.1f})"
                f"  step {r['mean_step_s']:.2f} s x{r['steps']}  load {r['load'][0]}")
    loads.append(("after train", load()))

    # ---- 5. where the time goes
    breakdowns = []
    if not args.no_breakdown and not q:
        say("\n[breakdown] each layer's forward + backward alone ...")
        for pol, b, reps in (("float32", 128, 3), ("mixed_bfloat16", 16, 2)):
            bspec = {"model": "airbench94_cpu", "policy": pol, "batch": b, "repeats": reps,
                     "long_step_s": 10.0}
            res, _, err = run_child("breakdown", bspec, child_env(env_onednn), 3600)
            if not res:
                say(f"  breakdown {pol} failed: {last_error(err)}")
                continue
            breakdowns.append({"policy": pol, "batch": b, "res": res})
            say(f"  {pol} b{b}: {len(res) - 1} layers timed")
        loads.append(("after breakdown", load()))

    # ---- 6. variants, each in a fresh process
    say("\n[variants] fresh process per setting ...")
    flip = flip_value or ("0" if st["onednn_on"] else "1")
    vb32, vb16 = (32, 8) if q else (128, 32)
    if q:
        variants = [("float32", vb32, "XLA (jit_compile=True)", {"jit": True}, None)]
    else:
        variants = [("float32", vb32, "baseline", {}, env_onednn),
                    ("float32", vb32, "threads intra 1 / inter 1", {"intra": 1, "inter": 1},
                     env_onednn),
                    ("float32", vb32, "threads intra 2 / inter 1", {"intra": 2, "inter": 1},
                     env_onednn),
                    ("float32", vb32, "threads intra 1 / inter 2", {"intra": 1, "inter": 2},
                     env_onednn),
                    ("float32", vb32, "baseline (again, middle)", {}, env_onednn),
                    ("float32", vb32, f"TF_ENABLE_ONEDNN_OPTS={flip}", {}, flip),
                    ("float32", vb32, "XLA (jit_compile=True)", {"jit": True}, env_onednn),
                    ("float32", vb32, "baseline (again, last)", {}, env_onednn),
                    ("mixed_bfloat16", vb16, "baseline", {}, env_onednn),
                    ("mixed_bfloat16", vb16, "XLA (jit_compile=True)", {"jit": True},
                     env_onednn),
                    ("mixed_bfloat16", vb16, f"TF_ENABLE_ONEDNN_OPTS={flip}", {}, flip)]
    var_rows = []
    for pol, b, name, opts, value in variants:
        cfg = {"model": "airbench94_cpu", "policy": pol, "batch": b, "jit": opts.get("jit", False)}
        vspec = {"configs": [cfg], "seconds": seconds / 2, "min_timed": 1 if q else 2,
                 "max_step_s": 1e9, "long_step_s": 3.0 if q else 10.0,
                 "intra": opts.get("intra"), "inter": opts.get("inter")}
        res, _, err = run_child("train", vspec, child_env(value), 3600)
        r = next((x for x in res if x["type"] == "train"), None)
        vst = next((x for x in res if x["type"] == "state"), {})
        if r is None:
            say(f"  {DT[pol]} b{b} {name:<32s} FAILED: {last_error(err)}")
            continue
        r.update(name=name, onednn_on=vst.get("onednn_on"), state=vst)
        var_rows.append(r)
        say(f"  {DT[pol]} b{b} {name:<32s} {r['images_per_s']:8.1f} img/s  step "
            f"{r['mean_step_s']:.2f} s x{r['steps']}  load {r['load'][0]}")
    loads.append(("after variants", load()))

    # ---- 7. wic's fast kernels (fused BatchNorm, GELU with its gradient written out, GELU as
    # XLA-compiled loops): all on, without XLA, all off, all on again (first and last for drift)
    say("\n[fast kernels] the same step with wic's TF fast paths on, without XLA, off ...")
    fk_rows = []
    fk_batch = 64 if q else 512
    fk_policies = trained_policies(cpu["flags"])
    if fk_policies != POLICIES:
        say("  bf16 left out: no bf16 in hardware here, so wic trains in float32 (stage 4 shows "
            "the emulated bf16 step)")
    for m in (("airbench_cpu_s",) if q else args.models):
        for pol in fk_policies:
            for setting in (FAST_SETTINGS[:3] if q else FAST_SETTINGS + FAST_SETTINGS[:1]):
                cfg = {"model": m, "policy": pol, "batch": fk_batch}
                kspec = {"configs": [cfg], "seconds": seconds / 2, "min_timed": 1 if q else 2,
                         "max_step_s": 1e9, "long_step_s": 3.0 if q else 10.0,
                         "fast_kernels": setting != "off", "xla_gelu": setting == "on"}
                res, _, err = run_child("train", kspec, child_env(env_onednn), 3600)
                r = next((x for x in res if x["type"] == "train"), None)
                if r is None:
                    say(f"  {m} {DT[pol]} fast kernels {setting} FAILED: {last_error(err)}")
                    continue
                r["fast_kernels"] = setting
                fk_rows.append(r)
                say(f"  {m:<15s} {DT[pol]} b{fk_batch} fast kernels {setting:<7s}"
                    f" {r['images_per_s']:8.1f} img/s  load {r['load'][0]}")
    loads.append(("end", load()))

    # ================================================================ summary and CSV
    summarize(args, cpu, st, states, peaks, kernels, dnn, train, breakdowns, var_rows, loads,
              rows, q, max_step)
    summarize_fast_kernels(fk_rows, peaks.get("default", {}), rows)
    rows.write(Path(args.csv))
    say(f"\nwrote {args.csv} ({len(rows.rows)} rows) in {(time.perf_counter() - t_run) / 60:.1f} min")
    return 0


def summarize_fast_kernels(fk_rows: list[dict], peaks: dict, rows: Rows) -> None:
    """All on vs all off, and all on vs on without XLA, per model and dtype: the mean of the
    'on' runs (first and last, for the drift) against the runs between them, and the achieved
    share of the conv peak."""
    if not fk_rows:
        return
    say("\nFAST KERNELS (wic.models.airbench; fresh process each: on / no-xla / off / on)")
    say(f"  {'model':<15s}{'dtype':<6s}{'batch':>6s}{'on img/s':>10s}{'no-xla':>8s}"
        f"{'off img/s':>11s}{'on/off':>8s}{'on/no-xla':>10s}{'GF/s on':>9s}{'% conv pk':>10s}")
    for m, pol, b in sorted({(r["model"], r["policy"], r["batch"]) for r in fk_rows}):
        runs = [r for r in fk_rows if (r["model"], r["policy"], r["batch"]) == (m, pol, b)]
        rate = {}
        for setting in FAST_SETTINGS:
            rates = [r["images_per_s"] for r in runs if r["fast_kernels"] == setting]
            rate[setting] = statistics.mean(rates) if rates else None
        on_m, no_xla, off_m = (rate[k] for k in FAST_SETTINGS)
        if on_m is None or off_m is None:
            continue
        macs = next(r["macs_per_image"] for r in fk_rows if r["model"] == m)
        gf = 6.0 * macs * on_m / 1e9
        dtype = "bfloat16" if "bfloat16" in pol else "float32"
        pk = (peaks.get(("conv_fwd", dtype)) or {}).get("best_gflops")
        share = f"{gf / pk:.0%}" if pk else "?"
        say(f"  {m:<15s}{DT[pol]:<6s}{b:>6d}{on_m:>10.1f}"
            f"{f'{no_xla:.1f}' if no_xla else '-':>8s}{off_m:>11.1f}{on_m / off_m:>7.2f}x"
            f"{f'{on_m / no_xla:.2f}x' if no_xla else '-':>10s}{gf:>9.1f}{share:>10s}")
        rows.add(f"fast kernels {m} b{b}", DT[pol], "on", round(on_m, 1), "images/s")
        rows.add(f"fast kernels {m} b{b}", DT[pol], "off", round(off_m, 1), "images/s")
        rows.add(f"fast kernels {m} b{b}", DT[pol], "on / off", round(on_m / off_m, 3), "ratio")
        if no_xla:
            rows.add(f"xla gelu {m} b{b}", DT[pol], "on", round(on_m, 1), "images/s")
            rows.add(f"xla gelu {m} b{b}", DT[pol], "off", round(no_xla, 1), "images/s")
            rows.add(f"xla gelu {m} b{b}", DT[pol], "on / off", round(on_m / no_xla, 3),
                     "ratio")


def summarize(args, cpu, st, states, peaks, kernels, dnn, train, breakdowns, var_rows, loads,
              rows, q, max_step) -> None:
    def state_of(on: bool | None) -> str:
        for which, s in states.items():
            if s["onednn_on"] == on:
                return which
        return "default"

    def peak(which, op, dtype, stat="best_gflops"):
        r = peaks.get(which, {}).get((op, dtype))
        return r[stat] if r else None

    def kern(which, sec):
        k = kernels.get(which, {}).get(sec)
        return k["short"] if k else ""

    say("\n" + "=" * 100)
    say("SUMMARY")
    say("=" * 100)
    say(f"CPU: {cpu['label']}")
    say("     flags: " + ", ".join(f for f, v in cpu["flags"].items() if v) + "  | absent: "
        + ", ".join(f for f, v in cpu["flags"].items() if not v))
    d0 = dnn.get("default", {})
    say(f"     TF {st['tf']} / Keras {st['keras']} / oneDNN {d0.get('version', '?')} "
        f"(ISA {d0.get('isa', '?')}, {d0.get('nthr', '?')} threads); TF threads intra "
        f"{st['intra']} inter {st['inter']} (0 = all {cpu['usable_cpus']} cores)")
    say(f"     default: {st['label']}")
    say("     load average (1/5/15 min): " + "; ".join(f"{k} {v}" for k, v in loads))
    for k, v in loads:
        rows.add("loadavg", "", k, v[0], "1-min load")
    tp = cpu["fp32_peak"]

    say("\nPEAK GFLOP/s (best / median of repeats; FLOPs = 2 x multiply-adds; share = CPU time "
        "got / (wall x cores),\n  norm = median / share)")
    for which in peaks:
        say(f"  -- {states[which]['label']}")
        for op, dtype in PEAK_OPS:
            r = peaks[which].get((op, dtype))
            if not r:
                say(f"  {op:<16s} {DT[dtype]:<5s} -")
                continue
            what = (f"peak matmul {r['size']}x{r['size']}" if op == "matmul" else
                    f"peak {op} 3x3 64->256 32x32 b{r['size']}")
            kernel = kern(which, f"op {op} {dtype}")
            size = f"{r['size']}x{r['size']}" if op == "matmul" else f"batch {r['size']}"
            say(f"  {op:<16s} {DT[dtype]:<5s} {size:>10s} {r['best_gflops']:7.1f} / "
                f"{r['median_gflops']:5.1f} GFLOP/s ({r['best_s']:.2f} s/op; share "
                f"{r['cpu_share']:.2f}, norm {r['norm_gflops']:5.1f})  {kernel}")
            rows.add(what, dtype, states[which]["label"], r["best_gflops"], "GFLOP/s best", kernel)
            rows.add(what, dtype, states[which]["label"], r["median_gflops"], "GFLOP/s median",
                     kernel)
            rows.add(what, dtype, states[which]["label"], r["norm_gflops"],
                     "GFLOP/s median per full cpu share", kernel)
            rows.add(what, dtype, states[which]["label"], r["cpu_share"], "cpu share while timed",
                     kernel)
    if tp:
        best32 = max((r["best_gflops"] for w in peaks for (o, d), r in peaks[w].items()
                      if d == "float32"), default=0)
        norm32 = max((r["norm_gflops"] for w in peaks for (o, d), r in peaks[w].items()
                      if d == "float32"), default=0)
        say(f"  best fp32 op = {best32:.1f} GFLOP/s wall ({norm32:.1f} normalised) = "
            f"{best32 / tp['gflops']:.0%} ({norm32 / tp['gflops']:.0%}) of the rough theoretical "
            f"{tp['gflops']:.0f} GFLOP/s at the cpuinfo clock (turbo can exceed it)")

    say("\nKERNELS (oneDNN verbose; op -> dtype -> kernel)")
    for which in kernels:
        say(f"  -- {states[which]['label']}")
        if any(k["notes"] for k in kernels[which].values()):
            say("     TF logged: 'oneDNN supports DT_BFLOAT16 only on platforms with AVX-512. "
                "Falling back to the default Eigen-based implementation'")
        for sec, k in kernels[which].items():
            notes = f"   [{'; '.join(k['notes'])}]" if k["notes"] else ""
            say(f"  {sec:<28s} {k['short']}{notes}")
            if sec.startswith("train") or k["groups"] and len(k["groups"]) > 1:
                say(f"      {k['long']}")
            if sec.startswith("train"):
                rows.add(f"kernels of one train step airbench94_cpu b{8 if q else 32}",
                         sec.split()[1], states[which]["label"], len(k["groups"]),
                         "kernel kinds", k["long"].replace("\n      ", " | "))

    # ---- achieved
    say("\nACHIEVED (train step; GFLOP/s = 3 x 2 x forward multiply-adds x images/s)")
    say("  share = CPU time this process got / (wall x cores) while timing; 'norm' numbers divide"
        " by it\n  (what a full machine would give, roughly) and compare with the peak's own "
        "normalised median.")
    say(f"  {'model':<15s} {'dtype':<5s} {'batch':>5s} {'img/s':>7s} {'GFLOP/s':>7s} "
        f"{'share':>5s} {'% conv':>6s} {'% c.mix':>7s} {'% mm':>5s} {'norm GF/s':>9s} "
        f"{'% conv norm':>11s}  note")
    mixes, norm_mixes = {}, {}
    for which in peaks:
        for dtype in ("float32", "bfloat16"):
            for stat, out in (("best_gflops", mixes), ("norm_gflops", norm_mixes)):
                parts = [peak(which, op, dtype, stat) for op in ("conv_fwd", "conv_bwd_input",
                                                                 "conv_bwd_filter")]
                if all(parts):
                    out[(which, dtype)] = 3 / sum(1 / x for x in parts)
    base_state = state_of(st["onednn_on"])
    by_key = {}
    for r in train:
        dtype = "bfloat16" if "bfloat16" in r["policy"] else "float32"
        what = f"train {r['model']} b{r['batch']}" + (" (probe)" if r.get("probe") else "")
        kname = "train " + r["policy"]
        kernel = kernels.get(base_state, {}).get(kname, {}).get("short", "")
        if r.get("skipped"):
            say(f"  {r['model']:<15s} {DT[dtype]:<5s} {r['batch']:>5d} {'-':>7s} {'-':>7s} "
                f"{'':>5s} {'':>6s} {'':>7s} {'':>5s} {'':>9s} {'':>11s}  skipped: projected "
                f">= {r['projected_step_s']:.0f} s/step")
            rows.add(what, r["policy"], "baseline (skipped)", r["projected_step_s"],
                     "projected s/step", kernel)
            continue
        by_key[(r["model"], dtype, r["batch"])] = r
        g = 6.0 * r["macs_per_image"] * r["images_per_s"] / 1e9
        share = r.get("cpu_share") or 1.0
        gn = g / share
        pc, pm = peak(base_state, "conv_fwd", dtype), peak(base_state, "matmul", dtype)
        pcn = peak(base_state, "conv_fwd", dtype, "norm_gflops")
        mix = mixes.get((base_state, dtype))
        note = ("probe " if r.get("probe") else "") + f"load {r['load'][0]}" + (
            "" if r["loss_finite"] else " loss not finite")
        say(f"  {r['model']:<15s} {DT[dtype]:<5s} {r['batch']:>5d} {r['images_per_s']:7.1f} "
            f"{g:7.1f} {share:5.2f} {pct(g, pc):>6s} {pct(g, mix):>7s} {pct(g, pm):>5s} "
            f"{gn:9.1f} {pct(gn, pcn):>11s}  {note}")
        setting = f"baseline, {st['label']}"
        rows.add(what, r["policy"], setting, r["images_per_s"], "img/s", kernel)
        rows.add(what, r["policy"], setting, r["images_per_s_best"], "img/s (best step)", kernel)
        rows.add(what, r["policy"], setting, g, "GFLOP/s", kernel)
        rows.add(what, r["policy"], setting, share, "cpu share while timed", "")
        rows.add(what, r["policy"], setting, gn, "GFLOP/s per full cpu share", kernel)
        rows.add(what, r["policy"], setting, 2.0 * r["macs_per_image"] / 1e6,
                 "forward MFLOP/image", "")
        for ref, unit in ((pc, "fraction of conv fwd peak"), (mix, "fraction of conv fwd+bwd peak"),
                          (pm, "fraction of matmul peak")):
            if ref:
                rows.add(what, r["policy"], setting, g / ref, unit, kernel)
        if pcn:
            rows.add(what, r["policy"], setting, gn / pcn,
                     "fraction of conv fwd peak (both cpu-share normalised)", kernel)
    say("  % conv = of the conv forward peak (best); % c.mix = of the conv peak for the train mix"
        " (fwd, bwd-input,\n  bwd-filter equally: 3 / sum(1/peak)); % mm = of the matmul peak;"
        " all of the same dtype and oneDNN state.")
    def per_cpu(r):
        return r["images_per_s"] / (r.get("cpu_share") or 1.0)

    for (m, d, b) in list(by_key):
        if d != "float32" or (m, "bfloat16", b) not in by_key:
            continue
        r16, r32 = by_key[(m, "bfloat16", b)], by_key[(m, "float32", b)]
        x, xn = r16["images_per_s"] / r32["images_per_s"], per_cpu(r16) / per_cpu(r32)
        say(f"  bf16 / fp32 images/s, {m} b{b}: x{x:.2f} (normalised x{xn:.2f})")
        rows.add(f"train {m} b{b}", "mixed_bfloat16", "bf16 / fp32", x, "ratio")
        rows.add(f"train {m} b{b}", "mixed_bfloat16", "bf16 / fp32", xn,
                 "ratio (cpu-share normalised)")

    # ---- breakdown
    for bd in breakdowns:
        step = next(x for x in bd["res"] if x["type"] == "step")
        layers = [x for x in bd["res"] if x["type"] == "layer"]
        dtype = "bfloat16" if "bfloat16" in bd["policy"] else "float32"
        t_step = step["mean_step_s"] * (step.get("cpu_share") or 1.0)
        say(f"\nWHERE THE STEP GOES: airbench94_cpu {DT[dtype]} b{bd['batch']}: step "
            f"{step['mean_step_s']:.2f} s wall (x{step['steps']}, share "
            f"{step.get('cpu_share', 1):.2f} -> {t_step:.2f} s normalised); each layer's forward"
            f" + backward\n  alone (median, normalised by its own share the same way; "
            f"'% step' of the normalised step)")
        say(f"  {'layer':<16s} {'out shape':<15s} {'ms':>8s} {'share':>5s} {'norm ms':>8s} "
            f"{'% step':>7s} {'GF/s norm':>9s} {'% conv pk norm':>14s}")
        cats = defaultdict(float)
        pcn = peak(base_state, "conv_fwd", dtype, "norm_gflops")
        for x in layers:
            sh = x.get("cpu_share") or 1.0
            tn = x["median_s"] * sh
            cats[x["category"]] += tn
            gf = 6.0 * x["macs_per_image"] * bd["batch"] / tn / 1e9 if x["macs_per_image"] else 0
            say(f"  {x['name']:<16s} {str(tuple(x['out_shape'][1:])):<15s} "
                f"{1000 * x['median_s']:8.1f} {sh:5.2f} {1000 * tn:8.1f} {tn / t_step:7.1%} "
                f"{gf:9.1f} {pct(gf, pcn) if gf else '':>14s}")
            what = f"layer fwd+bwd {x['name']} b{bd['batch']}"
            shape = str(tuple(x["out_shape"][1:]))
            rows.add(what, bd["policy"], shape, 1000 * x["median_s"], "ms", "")
            rows.add(what, bd["policy"], shape, 1000 * tn, "ms x cpu share", "")
            if gf:
                rows.add(what, bd["policy"], shape, gf, "GFLOP/s per full cpu share", "")
        summed = sum(cats.values())
        cats["rest: loss, optimizer, Keras/graph overhead (step - sum)"] = t_step - summed
        say("  by category (normalised):")
        for c, sec in sorted(cats.items(), key=lambda kv: -kv[1]):
            say(f"    {c:<58s} {1000 * sec:9.1f} ms  {sec / t_step:6.1%}")
            rows.add(f"step share {c} b{bd['batch']}", bd["policy"], "baseline", sec / t_step,
                     "fraction of step (cpu-share normalised)", "")

    # ---- variants
    if var_rows:
        say("\nVARIANTS (airbench94_cpu; fresh process each; ratio to the mean baseline of this "
            "run; 'norm' = img per CPU-second, for the load)")
        base, base_n = defaultdict(list), defaultdict(list)
        for r in var_rows:
            if r["name"].startswith("baseline"):
                base[r["policy"]].append(r["images_per_s"])
                base_n[r["policy"]].append(r["images_per_s"] / (r.get("cpu_share") or 1.0))
        if q:  # quick: no fresh baseline; the main child's number at the same batch
            for r in train:
                if (r["model"] == "airbench94_cpu" and not r.get("skipped")
                        and r["batch"] == var_rows[0]["batch"]):
                    base[r["policy"]].append(r["images_per_s"])
                    base_n[r["policy"]].append(r["images_per_s"] / (r.get("cpu_share") or 1.0))
        for pol, vals in base.items():
            if len(vals) > 1:
                nv = base_n[pol]
                say(f"  {DT[pol]} baseline runs: " + ", ".join(f"{v:.1f}" for v in vals)
                    + f" img/s (spread {max(vals) / min(vals) - 1:.0%}); normalised "
                    + ", ".join(f"{v:.1f}" for v in nv)
                    + f" (spread {max(nv) / min(nv) - 1:.0%})")
        for r in var_rows:
            b = statistics.mean(base[r["policy"]]) if base.get(r["policy"]) else None
            bn = statistics.mean(base_n[r["policy"]]) if base_n.get(r["policy"]) else None
            dtype = "bfloat16" if "bfloat16" in r["policy"] else "float32"
            which = state_of(r.get("onednn_on"))
            pcn = peak(which, "conv_fwd", dtype, "norm_gflops")
            share = r.get("cpu_share") or 1.0
            g = 6.0 * r["macs_per_image"] * r["images_per_s"] / 1e9
            ratio = r["images_per_s"] / b if b else None
            ratio_n = r["images_per_s"] / share / bn if bn else None
            say(f"  {DT[r['policy']]} b{r['batch']:<4d} {r['name']:<28s} "
                f"{r['images_per_s']:6.1f} img/s {g:5.1f} GFLOP/s ({pct(g / share, pcn):>4s} of "
                f"conv pk, norm) "
                f"share {share:.2f}" + (f"  x{ratio:.2f} (norm x{ratio_n:.2f})" if ratio else ""))
            what = f"variant airbench94_cpu b{r['batch']}"
            rows.add(what, r["policy"], r["name"], r["images_per_s"], "img/s")
            rows.add(what, r["policy"], r["name"], g, "GFLOP/s")
            rows.add(what, r["policy"], r["name"], share, "cpu share while timed")
            if pcn:
                rows.add(what, r["policy"], r["name"], g / share / pcn,
                         "fraction of conv fwd peak (both cpu-share normalised)")
            if ratio:
                rows.add(what, r["policy"], r["name"], ratio, "x baseline")
                rows.add(what, r["policy"], r["name"], ratio_n, "x baseline (cpu-share normalised)")
        say("  (a 1-thread setting needs only half the cores: its normalised ratio overstates it)")
    say(f"\n(max step budget {max_step:.0f} s; command: {' '.join([sys.executable] + sys.argv)})")


def pct(x, ref) -> str:
    return f"{x / ref:.0%}" if x and ref else "-"


if __name__ == "__main__":
    sys.exit(main())
