"""benchmarks/step_profile.py: a profiler trace's events summed by kind, each at its self time."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import step_profile  # noqa: E402  (a script of benchmarks/, importable from there)


def test_nested_events_count_only_their_own_time():
    # Process [0, 100) holds a conv [10, 60) that holds a reorder [20, 30); a cast [70, 80)
    events = [(0, 100, "Process"), (10, 50, "c:_MklNativeConv2D"), (20, 10, "r:Reorder"),
              (70, 10, "x:Cast")]
    got = step_profile.self_times(events)
    assert got == {"Process": 40, "c:_MklNativeConv2D": 40, "r:Reorder": 10, "x:Cast": 10}
    assert sum(got.values()) == 100  # the thread's busy time, counted once


def test_op_types_fall_into_the_kinds_a_reader_knows():
    kind = step_profile.kind_of
    assert kind("m/block2_conv1_1/convolution/Conv2DBackpropFilter:_MklNativeConv2DBackpropFilter") \
        == "convolution backward (weights)"
    assert kind("m/block2_conv1_1/convolution/Conv2DBackpropInput:_MklNativeConv2DBackpropInput") \
        == "convolution backward (input)"
    assert kind("m/whiten_1/add:_MklNativeFusedConv2D") == "convolution forward"
    assert kind("m/bn:_MklNativeFusedBatchNormGradV3") == "BatchNorm (fused op)"
    assert kind("m/pool:_MklNativeMaxPoolGrad") == "max pooling"
    assert kind("m/global_max_pool/Max:Max") == "reductions"
    assert kind("m/gelu/Maximum:Maximum") == "element-wise TensorFlow ops"
    assert kind("sgd/AssignAddVariableOp:AssignAddVariableOp") == "optimizer and variables"
    assert kind("m/gelu/Cast:Cast") == "casts"
    assert kind("multiply_convert_fusion") == step_profile.XLA
    assert kind("Process") == step_profile.EXECUTOR
    assert kind("SomethingNew:Unheard") == "other"


def test_several_processes_of_a_setting_become_their_median_per_kind():
    runs = [{"wall_s": 1.0, "kinds": {"conv": 0.5, "BatchNorm": 0.03}},
            {"wall_s": 1.4, "kinds": {"conv": 0.6, "BatchNorm": 0.19}},  # a process far off
            {"wall_s": 1.1, "kinds": {"conv": 0.55, "XLA": 0.07}}]  # no BatchNorm event: 0
    got = step_profile.median_run(runs)
    assert got["wall_s"] == 1.1
    assert got["kinds"] == {"conv": 0.55, "BatchNorm": 0.03, "XLA": 0.0}


def test_a_bad_batch_or_net_is_refused_before_anything_runs(tmp_path):
    out = tmp_path / "p.csv"
    for args, said in ((["--batch", "0"], "--batch, --steps and --processes must be at least 1"),
                       (["--processes", "0"], "--batch, --steps and --processes must be at least 1"),
                       (["--model", "airbench94_cpu_widee"],
                        "not a registered net: airbench94_cpu_widee")):
        proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "step_profile.py"),
                               *args, "--csv", str(out)], capture_output=True, text=True,
                              timeout=300)
        assert proc.returncode == 2 and said in proc.stderr, proc.stderr[-800:]
        assert not out.exists()
