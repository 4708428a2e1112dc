"""benchmarks/throughput.py: the nets it times are chosen by name and checked before any run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from benchtools import load_benchmark

ROOT = Path(__file__).resolve().parents[1]


def test_an_unknown_net_is_refused_with_the_registered_names_before_anything_is_timed(tmp_path):
    out = tmp_path / "peak.csv"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "throughput.py"), "--models",
         "airbench94_cpu", "airbench94_cpu_widee", "--csv", str(out)],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr[-1000:]
    assert "not a registered net: airbench94_cpu_widee" in proc.stderr
    assert "airbench94_cpu_wide" in proc.stderr.split("registered:")[-1]  # what is accepted
    assert "[peaks]" not in proc.stdout and not out.exists()


def _throughput_module():
    return load_benchmark("throughput.py")


def test_fast_kernel_runs_give_two_on_off_ratios_against_the_mean_of_the_first_and_last(capsys):
    """Stage 7 runs all on, without XLA's GELU, all off, all on again: 'fast kernels' rows
    compare all on (the mean of its two runs, for drift) with all off, 'xla gelu' rows with the
    run without XLA; a net measured without the no-XLA run (an older CSV's stage) gets no
    'xla gelu' rows."""
    tp = _throughput_module()
    run = {"model": "net", "policy": "mixed_bfloat16", "batch": 512, "macs_per_image": 1e6}
    fk_rows = [{**run, "fast_kernels": s, "images_per_s": v}
               for s, v in (("on", 100.0), ("no-xla", 80.0), ("off", 50.0), ("on", 110.0))]
    fk_rows += [{**run, "model": "old", "fast_kernels": s, "images_per_s": v}
                for s, v in (("on", 90.0), ("off", 60.0))]
    rows = tp.Rows("cpu")
    tp.summarize_fast_kernels(fk_rows, {("conv_fwd", "bfloat16"): {"best_gflops": 1000.0}}, rows)
    got = {(r["what"], r["setting"]): r["value"] for r in rows.rows}
    assert got == {
        ("fast kernels net b512", "on"): 105.0, ("fast kernels net b512", "off"): 50.0,
        ("fast kernels net b512", "on / off"): 2.1,
        ("xla gelu net b512", "on"): 105.0, ("xla gelu net b512", "off"): 80.0,
        ("xla gelu net b512", "on / off"): 1.312,
        ("fast kernels old b512", "on"): 90.0, ("fast kernels old b512", "off"): 60.0,
        ("fast kernels old b512", "on / off"): 1.5}
    assert "net            bf16     512     105.0    80.0       50.0   2.10x     1.31x" in \
        capsys.readouterr().out


def test_stage_7_times_only_the_dtypes_wic_trains_in_on_that_cpu():
    """bfloat16 only where the CPU has it in hardware (precision "auto" trains float32
    elsewhere), the same rule as wic.config.cpu_info's ``bf16``."""
    tp = _throughput_module()
    avx2 = {"avx2": True, "fma": True, "avx512f": False, "avx512_bf16": False, "amx_bf16": False}
    assert tp.trained_policies(avx2) == ("float32",)
    assert tp.trained_policies({**avx2, "avx512f": True}) == ("float32",)
    assert tp.trained_policies({**avx2, "avx512_bf16": True}) == ("float32", "mixed_bfloat16")
    assert tp.trained_policies({**avx2, "amx_bf16": True}) == ("float32", "mixed_bfloat16")
