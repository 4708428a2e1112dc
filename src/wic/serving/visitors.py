"""Visitors for the class page, simulated: a served page, browser tabs on it, its memory.

Used by ``tests/test_browser.py`` (a few tabs, every check) and ``benchmarks/page_load.py``
(1 to 30 tabs, timed): both start the page the way ``make app`` does and drive Debian's
Chromium with Playwright's async API. Nothing here is imported by the page itself.

    with served_page(capacity=30) as page:          # python -m wic.serving.classroom, free port
        tabs = await open_tabs(browser, page.url, n=5, spread_s=8)
        peak = page.memory.peak_bytes               # server + kernels, sampled every 0.2 s
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from wic import config

CHROMIUM = os.environ.get("WIC_CHROMIUM", "/usr/bin/chromium")
READY_TEXT = "ready"  # the app's status line once its model is loaded and warmed up
LOAD_TIMEOUT_MS = 180_000  # a cold kernel on a busy 2-core machine (the Keras design: ~10-60 s)
RESULT_TIMEOUT_MS = 60_000
FULL_PAGE_ID = "wic-classroom-full"


# ----------------------------------------------------------------------------- the server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _tree(pid: int) -> list:
    """The process and all its descendants (empty when it is gone)."""
    import psutil

    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def export_models() -> None:
    """What `make app` does first: an ONNX export of every model missing an up-to-date one
    (exports are not committed)."""
    wic = Path(sys.executable).with_name("wic")
    out = subprocess.run([str(wic) if wic.exists() else "wic", "export", "--all", "--format",
                          "onnx"], cwd=config.project_root(), capture_output=True, text=True,
                         timeout=900)
    if out.returncode != 0:
        raise RuntimeError(f"wic export --all failed:\n{out.stdout}{out.stderr}")


class MemorySampler:
    """Peak resident memory of a process and all its children (the server and its kernels)."""

    def __init__(self, pid: int, interval_s: float = 0.2):
        import psutil

        self._root = psutil.Process(pid)
        self.interval_s = interval_s
        self.peak_bytes = 0
        self.peak_processes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def current(self) -> tuple[int, int]:
        import psutil

        total, count = 0, 0
        for p in _tree(self._root.pid):
            with suppress(psutil.Error):
                total += p.memory_info().rss
                count += 1
        return total, count

    def _run(self):
        while not self._stop.is_set():
            total, count = self.current()
            if total > self.peak_bytes:
                self.peak_bytes, self.peak_processes = total, count
            self._stop.wait(self.interval_s)

    def reset(self):
        self.peak_bytes = self.peak_processes = 0

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=5)


@dataclass
class ServedPage:
    url: str
    process: subprocess.Popen
    log_path: Path
    memory: MemorySampler | None = field(default=None, repr=False)


def classroom_command(port: int, **options) -> list[str]:
    """``python -m wic.serving.classroom`` with ``--name=value`` for each option given."""
    cmd = [sys.executable, "-m", "wic.serving.classroom", f"--port={port}"]
    for name, value in options.items():
        cmd.append(f"--{name.replace('_', '-')}={value}")
    return cmd


@contextmanager
def served_page(command: list[str] | None = None, *, log_path: Path | None = None,
                port: int | None = None, env: dict | None = None, start_timeout_s: float = 120,
                **options):
    """Serve the page on a free loopback port; yields a :class:`ServedPage`, then stops it.

    ``command`` (with ``{port}`` in it) runs another server, e.g. the previous design's plain
    ``voila`` line; by default the class page with ``options`` (see :func:`classroom_command`).
    """
    port = port or free_port()
    cmd = ([w.replace("{port}", str(port)) for w in command] if command
           else classroom_command(port, **options))
    log_path = Path(log_path or Path(os.environ.get("TMPDIR", "/tmp")) / f"wic-page-{port}.log")
    run_env = dict(os.environ if env is None else env)
    run_env.pop("WIC_PROFILE", None)  # the page as visitors get it, not a CI smoke profile
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=config.project_root(), env=run_env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + start_timeout_s
        while not _answers(port):
            if proc.poll() is not None:
                raise RuntimeError(f"the page server exited with {proc.returncode}:\n"
                                   f"{log_path.read_text(errors='replace')[-3000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the page server did not answer on port {port} within "
                                   f"{start_timeout_s:.0f} s:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.3)
        with MemorySampler(proc.pid) as memory:
            yield ServedPage(f"http://127.0.0.1:{port}/", proc, log_path, memory)
    finally:
        stop(proc)


def wait_until_warm(page: ServedPage, timeout_s: float = 300) -> float:
    """Wait until Voilà's log says the warm pool is filled; the seconds it took."""
    t0 = time.monotonic()
    while "is filled with" not in page.log_path.read_text(errors="replace"):
        if page.process.poll() is not None or time.monotonic() - t0 > timeout_s:
            raise RuntimeError(f"the warm pool was not filled within {timeout_s:.0f} s:\n"
                               f"{page.log_path.read_text(errors='replace')[-2000:]}")
        time.sleep(0.5)
    return time.monotonic() - t0


def cpu_seconds(server_pid: int) -> dict:
    """CPU time (user + system) so far of the server, of its kernels, of the Chromium processes
    this process started (the simulated visitors' browsers, which share the page's cores), and
    of the Playwright driver that steers them. Another program's Chromium on the same machine
    is not counted."""
    import psutil

    out = {"server": 0.0, "kernels": 0.0, "browsers": 0.0, "driver": 0.0}
    for p in _tree(server_pid):
        with suppress(psutil.Error):
            t = p.cpu_times()
            out["server" if p.pid == server_pid else "kernels"] += t.user + t.system
    for p in _tree(os.getpid())[1:]:
        with suppress(psutil.Error):
            name = p.name()
            kind = "browsers" if "chrom" in name else "driver" if "node" in name else None
            if kind:
                t = p.cpu_times()
                out[kind] += t.user + t.system
    return out


def stop(proc: subprocess.Popen) -> None:
    """Stop the server and every kernel it started (its whole process group)."""
    import signal

    if proc.poll() is None:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    with suppress(ProcessLookupError, PermissionError):  # kernels left behind in the group
        os.killpg(proc.pid, signal.SIGKILL)


# ----------------------------------------------------------------------------- the browser


async def launch_chromium(playwright):
    return await playwright.chromium.launch(executable_path=CHROMIUM,
                                            args=["--disable-dev-shm-usage"])


_WAIT_FOR_CARD = """([name, timeout]) => new Promise(resolve => {
  const found = () => Array.from(document.querySelectorAll('.wic-result'))
    .some(e => e.textContent.includes(name));
  if (found()) return resolve(true);
  const observer = new MutationObserver(() => {
    if (found()) { observer.disconnect(); clearTimeout(timer); resolve(true); }
  });
  observer.observe(document.body, {childList: true, subtree: true, characterData: true,
                                  attributes: true, attributeFilter: ['class']});
  const timer = setTimeout(() => { observer.disconnect(); resolve(false); }, timeout);
})"""


class Tab:
    """One visitor's browser tab on the page."""

    def __init__(self, page, ready_s: float | None = None, full: bool = False):
        self.page = page
        self.ready_s = ready_s  # navigation start → upload button enabled, model ready
        self.full = full  # got the "classroom is full" page instead of the app

    @classmethod
    async def open(cls, browser, url: str, *, timeout_ms: int = LOAD_TIMEOUT_MS,
                   viewport=(1200, 1800)) -> Tab:
        context = await browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
        page = await context.new_page()
        t0 = time.perf_counter()
        response = await page.goto(url, timeout=timeout_ms)
        if response is not None and response.status == 503:
            await page.locator(f"#{FULL_PAGE_ID}").wait_for(timeout=timeout_ms)
            return cls(page, time.perf_counter() - t0, full=True)
        await page.locator(".wic-upload").wait_for(timeout=timeout_ms)
        await page.locator(".wic-status", has_text=READY_TEXT).wait_for(timeout=timeout_ms)
        return cls(page, time.perf_counter() - t0)

    async def upload(self, *paths: Path) -> float:
        """Choose files in the upload button; returns the moment they were handed over."""
        async with self.page.expect_file_chooser() as chooser:
            await self.page.locator(".wic-upload").click()
        fc = await chooser.value
        t0 = time.perf_counter()
        await fc.set_files([str(p) for p in paths])
        return t0

    def card(self, name: str):
        return self.page.locator(".wic-result", has_text=name)

    async def result(self, name: str, timeout_ms: int = RESULT_TIMEOUT_MS) -> list[tuple]:
        """Wait for the card of ``name``; its rows as (label, probability, shown text).

        The wait is a MutationObserver in the page, answered the moment the card is added.
        (Playwright's ``wait_for`` polls from outside with a back-off that reaches 0.5 s: it
        added up to half a second to an upload's measured time, and with 30 tabs waiting its
        polls were CPU on the cores the page runs on.)"""
        card = self.card(name)
        if not await self.page.evaluate(_WAIT_FOR_CARD, [name, timeout_ms]):
            raise TimeoutError(f"no result card for {name!r} within {timeout_ms / 1000:g} s")
        return [tuple(r) for r in await card.locator(".wic-row").evaluate_all(
            "els => els.map(e => [e.dataset.label, parseFloat(e.dataset.prob),"
            " e.querySelector('.wic-prob').textContent])")]

    async def timed_result(self, path: Path, timeout_ms: int = RESULT_TIMEOUT_MS):
        t0 = await self.upload(path)
        rows = await self.result(path.name, timeout_ms)
        return time.perf_counter() - t0, rows

    async def text(self) -> str:
        return await self.page.locator(".wic-app").inner_text()

    async def shot(self, path: Path, selector: str | None = None) -> Path:
        """A screenshot of the whole page (or of one element) into ``path``."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if selector:
            await self.page.locator(selector).screenshot(path=str(path))
        else:
            await self.page.screenshot(path=str(path), full_page=True)
        return path

    async def close(self):
        """Leave the page as a person closing the tab does: its unload handlers run, and Voilà's
        sends the beacon that shuts the tab's kernel down. (Playwright's ``close`` with
        ``run_before_unload`` does not wait for the beacon; navigating away does.)"""
        with suppress(Exception):
            await self.page.goto("about:blank", timeout=10_000)
        await self.page.context.close()


async def open_tabs(browser, url: str, n: int, spread_s: float = 0.0, **kw) -> list[Tab]:
    """``n`` tabs, the k-th opened at ``k * spread_s / n`` seconds (a class arriving)."""
    async def one(k):
        await asyncio.sleep(k * spread_s / max(n, 1))
        return await Tab.open(browser, url, **kw)

    return list(await asyncio.gather(*(one(k) for k in range(n))))


async def upload_together(tabs: list[Tab], pictures: list[Path],
                          timeout_ms: int = RESULT_TIMEOUT_MS) -> list[tuple[float, list]]:
    """Every tab uploads its picture at the same moment; per tab, (hand-over → its card, rows)."""
    return list(await asyncio.gather(*(t.timed_result(p, timeout_ms)
                                       for t, p in zip(tabs, pictures, strict=True))))


def photo_jpeg(path: Path, size=(2500, 2000), seed: int = 0) -> Path:
    """A photo-like JPEG of about 5 MB: a colour gradient with strong noise, quality 95."""
    import numpy as np
    from PIL import Image

    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 255 // w, yy * 255 // h, (xx + yy) * 255 // (w + h)], -1)
    noise = np.random.default_rng(seed).normal(0, 60, base.shape)
    Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8)).save(path, "JPEG", quality=95)
    return path
