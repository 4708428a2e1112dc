"""A class on the page: N Chromium tabs against the served classifier, before and after.

For each design and each N, a fresh server; N tabs arrive ``--spread`` seconds apart (a class
opening the page within a minute: 30 tabs, 2 s apart); once every tab is ready they all upload
a 5 MB photo at the same moment. Per tab: page ready (navigation → model ready) and upload →
result (file handed over → its card on screen). Per run: peak resident memory of the server
and all its kernels (sampled every 0.2 s), and for the new design what the visitor after the
last sees when N is the capacity.

    python benchmarks/page_load.py                    # before + after, N = 1 5 10 20 30
    python benchmarks/page_load.py --designs after --tabs 5,30

Designs: ``before`` is the previous ``make app`` line, verbatim (plain Voilà, Keras and
TensorFlow in every kernel, one warm kernel); ``after`` is today's ``make app``
(``python -m wic.serving.classroom``: ONNX kernels, capacity, pool of 2). ``before`` is only run
at an N whose projected memory (its per-kernel size measured at N=1) leaves
``--reserve-gb`` free: the point of the comparison is that its 20th visitor would run the
machine out of memory, and this benchmark does not do that to the machine.

Writes ``benchmarks/results/page_load.csv`` and ``figures/page_load.png``; prints the CPU, and
ratios only within this one run (minutes move with the machine).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from wic import config  # noqa: E402
from wic.serving import visitors  # noqa: E402

BEFORE = [  # the `make app` recipe before the class page (commit 3f31550), verbatim
    "{voila}", "notebooks/06_interactive_classifier.ipynb", "--port={port}", "--no-browser",
    "--Voila.ip=127.0.0.1", "--preheat_kernel=True", "--pool_size=1", "--show_tracebacks=False",
    "--VoilaKernelManager.fill_delay=10",
    "--MappingKernelManager.cull_interval=60", "--MappingKernelManager.cull_idle_timeout=300",
    '--Voila.tornado_settings={"websocket_max_message_size": 104857600}',
]
GOALS = {"ready_p50_s": 3.0, "ready_p95_s": 15.0, "upload_p95_s": 2.0, "peak_gb": 6.0}
FIELDS = ["design", "tabs", "ready_ok", "full_pages", "results_ok", "ready_p50_s", "ready_p95_s",
          "ready_max_s", "upload_p50_s", "upload_p95_s", "upload_max_s", "peak_gb", "processes",
          "next_visitor", "cpu_server_s", "cpu_kernels_s", "cpu_browsers_s", "cpu_driver_s",
          "upload_cpu_server_s", "upload_cpu_kernels_s", "upload_cpu_browsers_s",
          "upload_cpu_driver_s", "warm_up_s", "note", "cpu", "load_before", "load_after"]


def _pct(values, q):
    return round(float(np.percentile(values, q)), 3) if len(values) else None


async def _run_class(url: str, n: int, spread_s: float, photos: list[Path], page, extra: bool):
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await visitors.launch_chromium(p)
        cpu0 = visitors.cpu_seconds(page.process.pid)
        try:
            results = await asyncio.gather(
                *(_arrive(browser, url, k * spread_s) for k in range(n)), return_exceptions=True)
            tabs = [r for r in results if isinstance(r, visitors.Tab) and not r.full]
            full = sum(isinstance(r, visitors.Tab) and r.full for r in results)
            errors = [r for r in results if isinstance(r, BaseException)]
            ready = [t.ready_s for t in tabs]
            uploads, ok = [], 0
            cpu_mid = visitors.cpu_seconds(page.process.pid)  # every tab ready: the uploads' share
            if tabs:
                timed = await asyncio.gather(
                    *(t.timed_result(ph) for t, ph in zip(tabs, photos, strict=False)),
                    return_exceptions=True)
                for r in timed:
                    if not isinstance(r, BaseException) and len(r[1]) == 3:
                        uploads.append(r[0])
                        ok += 1
                    elif isinstance(r, BaseException):
                        errors.append(r)
            cpu1 = visitors.cpu_seconds(page.process.pid)
            cpu = {k: round(cpu1[k] - cpu0[k], 1) for k in cpu0}
            cpu.update({f"upload_{k}": round(cpu1[k] - cpu_mid[k], 2) for k in cpu0})
            next_visitor = ""
            if extra:  # N is the capacity: the next visitor must see the full page
                nxt = await visitors.Tab.open(browser, url)
                next_visitor = "full page (503)" if nxt.full else "admitted"
            return ready, full, uploads, ok, errors, next_visitor, cpu
        finally:
            await browser.close()


async def _arrive(browser, url, delay):
    await asyncio.sleep(delay)
    return await visitors.Tab.open(browser, url)


def run_one(design: str, n: int, args, photos, workdir: Path) -> dict:
    load_before = os.getloadavg()[0]
    log = workdir / f"{design}-{n}.log"
    if design == "before":
        voila = str(Path(sys.executable).with_name("voila"))
        cmd = [w.replace("{voila}", voila) for w in BEFORE]
        env = {k: v for k, v in os.environ.items() if k != "WIC_SERVING_BACKEND"}
        ctx = visitors.served_page(cmd, log_path=log, env=env)
    else:
        ctx = visitors.served_page(log_path=log, capacity=args.capacity)
    with ctx as page:
        # the teacher starts the page before the class arrives: its warm kernels are ready
        warm_s = visitors.wait_until_warm(page) if design == "after" else 0.0
        time.sleep(args.settle)
        page.memory.reset()
        extra = design == "after" and n == args.capacity
        ready, full, uploads, ok, errors, nxt, cpu = asyncio.run(
            _run_class(page.url, n, args.spread, photos, page, extra))
        peak, procs = page.memory.peak_bytes, page.memory.peak_processes
    row = {
        "design": design, "tabs": n, "ready_ok": len(ready), "full_pages": full, "results_ok": ok,
        "ready_p50_s": _pct(ready, 50), "ready_p95_s": _pct(ready, 95),
        "ready_max_s": _pct(ready, 100), "upload_p50_s": _pct(uploads, 50),
        "upload_p95_s": _pct(uploads, 95), "upload_max_s": _pct(uploads, 100),
        "peak_gb": round(peak / 1e9, 3), "processes": procs, "next_visitor": nxt,
        "cpu_server_s": cpu["server"], "cpu_kernels_s": cpu["kernels"],
        "cpu_browsers_s": cpu["browsers"], "cpu_driver_s": cpu["driver"],
        **{f"upload_cpu_{k}_s": cpu[f"upload_{k}"] for k in ("server", "kernels", "browsers",
                                                               "driver")},
        "warm_up_s": round(warm_s, 1),
        "note": "; ".join(sorted({type(e).__name__ + ": " + str(e).splitlines()[0][:120]
                                  for e in errors})),
        "cpu": config.describe_cpu(), "load_before": round(load_before, 2),
        "load_after": round(os.getloadavg()[0], 2),
    }
    return row


def plot(rows: list[dict], path: Path, skipped: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    styles = {"before": ("#D55E00", "o", "before: Keras in every kernel"),
              "after": ("#0072B2", "s", "after: ONNX kernels + capacity")}
    panels = [("ready_p50_s", "ready_p95_s", "Page ready (s)", "ready_p50_s", "ready_p95_s"),
              ("upload_p50_s", "upload_p95_s", "Upload → result (s)", None, "upload_p95_s"),
              ("peak_gb", None, "Server + kernels, peak (GB)", None, "peak_gb")]
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.2), dpi=100)
    ns = sorted({r["tabs"] for r in rows} | set(skipped))
    for ax, (main, upper, title, goal_a, goal_b) in zip(axes, panels, strict=True):
        for design, (colour, marker, label) in styles.items():
            pts = [r for r in rows if r["design"] == design and r[main] is not None]
            if not pts:
                continue
            x = [r["tabs"] for r in pts]
            ax.plot(x, [r[main] for r in pts], marker=marker, color=colour, label=label + (
                " (median)" if upper else ""))
            if upper:
                ax.plot(x, [r[upper] for r in pts], marker=marker, color=colour, ls="--",
                        alpha=0.7, label=label + " (p95)")
        for goal in (goal_a, goal_b):
            if goal:
                ax.axhline(GOALS[goal], color="#555", lw=1, ls=":")
                ax.annotate(f"goal {GOALS[goal]:g}", (ns[0], GOALS[goal]), fontsize=9,
                            color="#555", xytext=(0, 3), textcoords="offset points")
        for n in skipped:
            ax.annotate("before\nnot run", (n, ax.get_ylim()[1] * 0.05), ha="center",
                        fontsize=8, color=styles["before"][0])
        ax.set_xticks(ns)
        ax.set_xlabel("tabs open at once")
        ax.set_title(title, fontsize=12)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8, loc="upper left", frameon=False)
    loads = [r[k] for r in rows for k in ("load_before", "load_after") if r.get(k) is not None]
    busy = f"; load average {min(loads):g}-{max(loads):g}" if loads else ""
    fig.suptitle(f"The class page with N visitors uploading a 5 MB photo at once "
                 f"({config.describe_cpu()}{busy})", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


README_BEGIN, README_END = "<!-- page-load:begin -->", "<!-- page-load:end -->"


def readme_table(rows: list[dict]) -> str:
    """The measured rows as the README's table (written by this script, never by hand)."""
    def cell(v, unit=""):
        return "–" if v in (None, "") else f"{v:g}{unit}" if isinstance(v, float) else f"{v}{unit}"

    def per_upload(r):
        n = r.get("results_ok") or 0
        parts = [r.get(f"upload_cpu_{k}_s") for k in ("server", "kernels", "browsers", "driver")]
        if not n or any(p in (None, "") for p in parts):
            return "–"
        return (f"{(parts[0] + parts[1]) / n:.3f} / {parts[2] / n:.3f} / {parts[3] / n:.3f} s")

    lines = ["| design | tabs | results | page ready p50 / p95 | upload → result p50 / p95 | "
             "server + kernels, peak | CPU: server + kernels / browsers / driver | uploads' CPU "
             "per upload: server + kernels / browsers / driver | visitor after the last | load "
             "(1 min) before / after |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---|---|"]
    for r in rows:
        if r.get("ready_ok") is None:
            lines.append(f"| {r['design']} | {r['tabs']} | {r['note']} | | | | | | | |")
            continue
        lines.append(
            f"| {r['design']} | {r['tabs']} | {r['results_ok']}/{r['tabs']} | "
            f"{cell(r['ready_p50_s'], ' s')} / {cell(r['ready_p95_s'], ' s')} | "
            f"{cell(r['upload_p50_s'], ' s')} / {cell(r['upload_p95_s'], ' s')} | "
            f"{cell(r['peak_gb'], ' GB')} | "
            f"{cell(round(r['cpu_server_s'] + r['cpu_kernels_s'], 1), ' s')} / "
            f"{cell(r['cpu_browsers_s'], ' s')} / {cell(r.get('cpu_driver_s'), ' s')} | "
            f"{per_upload(r)} | {r['next_visitor'] or '–'} | "
            f"{cell(r.get('load_before'))} / {cell(r.get('load_after'))} |")
    cpu = next((r["cpu"] for r in rows if r.get("cpu")), "")
    designs = sorted({r["design"] for r in rows})
    option = "" if designs == ["after", "before"] else f" --designs {','.join(designs)}"
    lines.append(f"\nMeasured by `python benchmarks/page_load.py{option} --update-readme README.md` "
                 f"in one run on {cpu}; CSV: `benchmarks/results/page_load.csv`. The last column is "
                 "the machine's load average: the simulated visitors' browsers and every other "
                 "job on the machine share its two cores with the page.")
    return "\n".join(lines)


def redraw(args) -> int:
    """The plot and the README table again, from the CSV a run wrote."""
    with open(args.out, newline="") as fh:
        rows = [{k: _number(v) for k, v in r.items()} for r in csv.DictReader(fh)]
    measured = [r for r in rows if r.get("ready_ok") is not None]
    skipped = {r["tabs"]: r["note"] for r in rows if r.get("ready_ok") is None}
    plot(measured, Path(args.plot), skipped)
    print(f"redrew {args.plot} from {args.out}")
    if args.update_readme:
        from wic import cards

        cards.replace_block(Path(args.update_readme), README_BEGIN, README_END, readme_table(rows))
        print(f"{args.update_readme}: page-load table written")
    return 0


def _number(v: str):
    """A CSV cell back to what the run wrote: None for empty, int or float for numbers."""
    if v == "":
        return None
    for kind in (int, float):
        try:
            return kind(v)
        except ValueError:
            pass
    return v


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tabs", default="1,5,10,20,30")
    p.add_argument("--designs", default="before,after")
    p.add_argument("--spread", type=float, default=2.0, help="seconds between arriving tabs")
    p.add_argument("--capacity", type=int, default=30, help="the new design's capacity")
    p.add_argument("--settle", type=float, default=15.0,
                   help="seconds between the page being ready (after: its warm pool filled) and "
                        "the first visitor")
    p.add_argument("--reserve-gb", type=float, default=4.0)
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "page_load.csv"))
    p.add_argument("--plot", default=str(ROOT / "figures" / "page_load.png"))
    p.add_argument("--update-readme", metavar="README",
                   help="also write the table between the page-load markers of this file")
    p.add_argument("--from-csv", action="store_true",
                   help="measure nothing: redraw the plot and the README table from --out")
    args = p.parse_args(argv)
    if args.from_csv:
        return redraw(args)
    tabs = [int(t) for t in args.tabs.split(",")]
    designs = args.designs.split(",")
    if not set(designs) <= {"before", "after"}:
        p.error(f"--designs {args.designs!r}; accepted: before, after (comma-separated)")
    import psutil

    print(f"CPU: {config.describe_cpu()}; {psutil.virtual_memory().total / 2**30:.0f} GiB")
    visitors.export_models()  # `make app` exports the models to ONNX first; so does this
    workdir = Path(tempfile.mkdtemp(prefix="wic-page-load-"))
    photo = visitors.photo_jpeg(workdir / "photo.jpg")
    photos = []
    for i in range(max(tabs)):
        photos.append(workdir / f"photo_{i:02d}.jpg")
        shutil.copy(photo, photos[-1])
    print(f"photo: {photo.stat().st_size / 1e6:.1f} MB, 2500x2000 JPEG")
    rows, skipped = [], {}
    for design in designs:
        per_kernel = None
        for n in tabs:
            if design == "before" and per_kernel is not None:
                need = per_kernel * (n + 2)
                free = psutil.virtual_memory().available
                if need > free - args.reserve_gb * 1e9:
                    skipped[n] = f"needs ~{need / 1e9:.0f} GB, {free / 1e9:.0f} GB free"
                    print(f"{design:6s} N={n:2d}: not run ({skipped[n]})", flush=True)
                    continue
            row = run_one(design, n, args, photos, workdir)
            if design == "before" and row["processes"] > 1:
                per_kernel = row["peak_gb"] * 1e9 / (row["processes"] - 1)
            rows.append(row)
            print(f"{design:6s} N={n:2d}: ready p50 {row['ready_p50_s']} s p95 "
                  f"{row['ready_p95_s']} s; upload p50 {row['upload_p50_s']} s p95 "
                  f"{row['upload_p95_s']} s; results {row['results_ok']}/{n}; peak "
                  f"{row['peak_gb']} GB ({row['processes']} processes)"
                  + f"; CPU s server/kernels/browsers/driver {row['cpu_server_s']}/"
                    f"{row['cpu_kernels_s']}/{row['cpu_browsers_s']}/{row['cpu_driver_s']}"
                    f" (uploads: {row['upload_cpu_server_s']}/{row['upload_cpu_kernels_s']}/"
                    f"{row['upload_cpu_browsers_s']}/{row['upload_cpu_driver_s']})"
                  + f"; load {row['load_before']} -> {row['load_after']}"
                  + (f"; next visitor: {row['next_visitor']}" if row["next_visitor"] else "")
                  + (f"; {row['note']}" if row["note"] else ""), flush=True)
    for n, why in skipped.items():
        rows.append({"design": "before", "tabs": n, "note": f"not run: {why}",
                     "cpu": config.describe_cpu(), **{k: None for k in FIELDS[2:23]}})
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="") as fh:
        w = csv.DictWriter(fh, FIELDS)
        w.writeheader()
        w.writerows(rows)
    measured = [r for r in rows if r.get("ready_ok") is not None]
    plot(measured, Path(args.plot), skipped)
    print(f"wrote {out} and {args.plot}")
    if args.update_readme:
        from wic import cards

        cards.replace_block(Path(args.update_readme), README_BEGIN, README_END, readme_table(rows))
        print(f"{args.update_readme}: page-load table written")
    both = {(r["design"], r["tabs"]): r for r in measured}
    for n in tabs:
        b, a = both.get(("before", n)), both.get(("after", n))
        if b and a and a["peak_gb"] and b["ready_p50_s"] and a["ready_p50_s"]:
            print(f"N={n}: memory before/after {b['peak_gb'] / a['peak_gb']:.1f}x, page ready "
                  f"(p50) before/after {b['ready_p50_s'] / a['ready_p50_s']:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
