"""benchmarks/throughput.py: the nets it times are chosen by name and checked before any run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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
