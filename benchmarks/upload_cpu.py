"""Where the CPU of one upload goes: one tab, a 5 MB photo, by process type, before and after.

One Chromium tab (Playwright, as in ``benchmarks/page_load.py``) on the class page uploads the
same 5 MB photo ``-k`` times, one after another; the CPU time of every process is sampled before
and after, an idle period's rate is subtracted, and the rest is divided by ``-k``: CPU-seconds
per upload for the Voilà server, the tab's kernel, each kind of Chromium process (browser,
renderer, GPU, network) and the Playwright driver. ``--before REF`` serves the page of a git
revision too (``git archive REF`` into a temporary folder, run with ``PYTHONPATH`` pointing at
it and this checkout's models), alternating before/after ``--rounds`` times in one run so both
see the same machine load; the harness (this checkout's ``wic.serving.visitors``) is the same.

    python benchmarks/upload_cpu.py --before HEAD~1 -k 5 --rounds 2
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from contextlib import suppress
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from wic import config  # noqa: E402
from wic.serving import visitors  # noqa: E402


def _kind(p) -> str | None:
    """"server"-side names are decided by the caller; here: Chromium's process type or driver."""
    name = p.name()
    if "node" in name:
        return "driver (Playwright)"
    if "chrom" not in name:
        return None
    args = p.cmdline()
    kind = next((a[7:] for a in args if a.startswith("--type=")), "browser")
    if kind == "utility":
        sub = next((a.split("=", 1)[1] for a in args if a.startswith("--utility-sub-type=")), "")
        kind = sub.rsplit(".", 1)[-1] or "utility"
    return f"chromium {kind}"


def snapshot(server_pid: int) -> dict[str, float]:
    import psutil

    out: dict[str, float] = {}

    def add(key, p):
        t = p.cpu_times()
        out[key] = out.get(key, 0.0) + t.user + t.system

    for p in visitors._tree(server_pid):
        with suppress(psutil.Error):
            add("server" if p.pid == server_pid else "kernel", p)
    for p in visitors._tree(os.getpid())[1:]:
        with suppress(psutil.Error):
            kind = _kind(p)
            if kind:
                add(kind, p)
    return out


async def measure(env: dict | None, photo: Path, k: int, log: Path, idle_s: float = 4.0):
    """(upload→result seconds per upload, CPU-seconds per upload by process)."""
    from playwright.async_api import async_playwright

    run_env = dict(os.environ, **(env or {}))
    with visitors.served_page(log_path=log, env=run_env, capacity=1) as page:
        visitors.wait_until_warm(page)
        time.sleep(3)
        async with async_playwright() as p:
            browser = await visitors.launch_chromium(p)
            tab = await visitors.Tab.open(browser, page.url)
            await asyncio.sleep(3)
            s0, t0 = snapshot(page.process.pid), time.perf_counter()
            await asyncio.sleep(idle_s)
            s1, t1 = snapshot(page.process.pid), time.perf_counter()
            times = []
            for i in range(k):
                copy = photo.with_name(f"{photo.stem}_{i}{photo.suffix}")
                if not copy.exists():
                    copy.write_bytes(photo.read_bytes())
                seconds, _ = await tab.timed_result(copy)
                times.append(seconds)
                await asyncio.sleep(0.5)
            s2, t2 = snapshot(page.process.pid), time.perf_counter()
            await browser.close()
    per = {}
    for key in set(s0) | set(s2):
        rate = (s1.get(key, 0) - s0.get(key, 0)) / (t1 - t0)
        per[key] = (s2.get(key, 0) - s1.get(key, 0) - rate * (t2 - t1)) / k
    return times, per


def checkout(ref: str) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="wic-before-"))
    archive = subprocess.run(["git", "archive", ref, "src", "notebooks", "pyproject.toml"],
                             cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--before", metavar="REF", help="also measure the page of this git revision")
    p.add_argument("-k", type=int, default=5, help="uploads per measurement")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--photo", help="the picture (default: visitors.photo_jpeg, 5 MB)")
    args = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="wic-upload-cpu-"))
    photo = Path(args.photo) if args.photo else visitors.photo_jpeg(work / "photo.jpg")
    print(f"CPU: {config.describe_cpu()}; photo {photo.stat().st_size / 1e6:.1f} MB", flush=True)
    visitors.export_models()
    designs = {"after": None}
    if args.before:
        old = checkout(args.before)
        designs = {"before": {"PYTHONPATH": str(old / "src"), "WIC_HOME": str(old),
                              "WIC_MODELS_DIR": str(config.models_dir())}, **designs}
    runs: dict[str, list] = {d: [] for d in designs}
    for r in range(args.rounds):
        for design, env in designs.items():
            load = os.getloadavg()[0]
            times, per = asyncio.run(measure(env, photo, args.k, work / f"{design}{r}.log"))
            runs[design].append((times, per, load))
            print(f"round {r} {design}: load {load:.2f}; upload→result "
                  + ", ".join(f"{t:.2f}" for t in times) + " s", flush=True)
    keys = sorted({k for v in runs.values() for _, per, _ in v for k in per},
                  key=lambda k: (k != "server", k != "kernel", k))
    print(f"\nCPU-seconds per upload (mean of {args.rounds} x {args.k}, idle rate removed)")
    print(f"{'process':34s}" + "".join(f"{d:>9s}" for d in designs))
    totals = dict.fromkeys(designs, 0.0)
    for key in keys:
        vals = {d: float(np.mean([per.get(key, 0.0) for _, per, _ in v])) for d, v in runs.items()}
        if all(abs(v) < 0.0005 for v in vals.values()):
            continue
        for d in vals:
            totals[d] += vals[d]
        print(f"{key:34s}" + "".join(f"{vals[d]:9.3f}" for d in designs))
    print(f"{'total':34s}" + "".join(f"{totals[d]:9.3f}" for d in designs))
    for d, v in runs.items():
        t = [x for times, _, _ in v for x in times]
        print(f"{d}: upload→result median {np.median(t):.2f} s, max {max(t):.2f} s; load "
              + ", ".join(f"{load:.1f}" for _, _, load in v))
    return 0


if __name__ == "__main__":
    sys.exit(main())
