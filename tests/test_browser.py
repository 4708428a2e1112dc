"""The served classifier in a real browser: Voilà on a loopback port, Debian's Chromium, Playwright.

What a person does, checked the way a person would see it: open the page, upload a PNG and a
JPEG, read the top-3 (labels from the 10 classes, probabilities in order, summing to at most
1, the right class for a CIFAR-10 *test* image the shipped model gets right), upload a text
file and see the error, upload again and see a result; two pages open at once each see only
their own results; a 5 MB photo is on screen within a second of the upload; five tabs opened
together all upload a 5 MB photo at the same moment and all get their result within the class
page's budget, with kernels that never import TensorFlow; a server with room for two visitors
shows the third the "classroom is full" page and lets a visitor in again once a tab is closed.

The pictures are made at test time in ``tmp_path`` (CIFAR-10 test images upscaled to 512x512,
a synthetic noisy 2500x2000 "photo"); no dataset image is ever committed. Screenshots and the
measured times go to ``artifacts/`` (git-ignored): look at the screenshots.

Playwright's async API runs in a fresh thread with its own event loop, so the tests work
whether or not a pytest plugin has a loop running. The tests skip, loudly, only when Chromium
(or Voilà / Playwright) is missing; ``WIC_REQUIRE_BROWSER=1`` turns that skip into a failure.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import io
import json
import os
import shutil
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from wic import CLASS_NAMES, config
from wic.serving import visitors

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "06_interactive_classifier.ipynb"
ARTIFACTS = ROOT / "artifacts"
CHROMIUM = visitors.CHROMIUM


LOAD_TIMEOUT_MS = visitors.LOAD_TIMEOUT_MS
RESULT_TIMEOUT_MS = 30_000
LATENCY_BUDGET_S = 1.0
CONFIDENT = 0.9
SEARCHED, CHUNK = 2000, 100  # test images searched for confidently-right pictures, per call


def _missing(reason: str):
    message = f"BROWSER TEST NOT RUN: {reason}. CI installs it: apt-get install -y chromium"
    warnings.warn(message, stacklevel=2)
    print(f"\n{'!' * 78}\n{message}\n{'!' * 78}", file=sys.stderr)
    if os.environ.get("WIC_REQUIRE_BROWSER") == "1":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module", autouse=True)
def _requirements():
    if not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)):
        _missing(f"Chromium not found at {CHROMIUM}")
    for module in ("playwright", "voila"):
        try:
            __import__(module)
        except ImportError:
            _missing(f"python package {module!r} is not installed (pip install -e '.[dev]')")


# ----------------------------------------------------------------------------- the server


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The class page as `make app` serves it, on a free loopback port; yields (url, log path)."""
    visitors.export_models()
    log_path = tmp_path_factory.mktemp("voila") / "voila.log"
    try:
        # what `make app` serves, with 3 warm kernels instead of one per seat: the tests need a
        # handful, and starting 30 would only slow CI down
        with visitors.served_page(log_path=log_path, pool_size=3) as page:
            yield page.url, log_path, page
    finally:
        if log_path.exists():
            ARTIFACTS.mkdir(exist_ok=True)
            (ARTIFACTS / "voila-test.log").write_text(log_path.read_text(errors="replace"))


# ----------------------------------------------------------------------------- the pictures


@pytest.fixture(scope="module")
def model_info():
    """The default model as the server will load it, and whether it is a trained one."""
    from wic import cards
    from wic.serving import Classifier, ModelError

    try:
        clf = Classifier.load(None)
    except ModelError as exc:
        pytest.skip(f"no model for the page to load ({exc})")
    acc = cards.read_card(clf.path).get("test_accuracy") or 0
    return clf, acc >= 0.5


def _encode(img: Image.Image, fmt: str) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **({"quality": 92} if fmt == "JPEG" else {}))
    return buf.getvalue()


@pytest.fixture(scope="module")
def pictures(tmp_path_factory, model_info):
    """Upscaled CIFAR-10 test images of different classes that the model gets right, confidently.

    Each is checked through the saved file, the same path the server takes. Without the dataset
    or a trained model, synthetic pictures stand in and ``expected`` is None.
    """
    clf, trained = model_info
    folder = tmp_path_factory.mktemp("pictures")
    rng = np.random.default_rng(0)
    chosen: list[tuple[np.ndarray, str]] = []
    if trained and config.data_dir() is not None:
        from wic import data

        x, y, names = data.load_test_split()
        seen = set()
        # in chunks, stopping once four classes are found, rather than scoring all 2,000 first:
        # through the test-time-augmented default that took over a minute of CI on a 2-core
        # AVX2 CPU
        for start in range(0, SEARCHED, CHUNK):
            xs, ys = x[start:start + CHUNK], y[start:start + CHUNK]
            probs = clf.predict_arrays(xs)
            for i in np.argsort(-probs.max(1)):
                label = names[int(ys[i])]
                if label in seen or probs[i].argmax() != ys[i] or probs[i].max() < CONFIDENT:
                    continue
                big = Image.fromarray(xs[i]).resize((512, 512), Image.BICUBIC)
                top = clf.top_k(_encode(big, "PNG"), k=1)[0]
                top_jpeg = clf.top_k(_encode(big, "JPEG"), k=1)[0]
                if top[0] == label and top[1] >= CONFIDENT and top_jpeg[0] == label:
                    chosen.append((xs[i], label))
                    seen.add(label)
                if len(chosen) == 4:
                    break
            if len(chosen) == 4:
                break
        assert len(chosen) == 4, (f"{clf.name} gets fewer than 4 classes right with p >= {CONFIDENT} "
                                  f"in the first {SEARCHED:,} test images")
    else:
        message = (f"RIGHT-CLASS CHECK NOT RUN: {'model ' + clf.name + ' is untrained' if not trained else ''}"
                   f"{' and ' if not trained and config.data_dir() is None else ''}"
                   f"{'WIC_DATA_DIR is not set' if config.data_dir() is None else ''}; "
                   "synthetic pictures are used")
        warnings.warn(message, stacklevel=1)
        print(f"\n{message}", file=sys.stderr)
        chosen = [(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8), None) for _ in range(4)]
    out = {}
    for (small, label), stem in zip(chosen, ("first", "second", "third", "fourth"), strict=True):
        big = Image.fromarray(small).resize((512, 512), Image.BICUBIC)
        png, jpeg = folder / f"{stem}.png", folder / f"{stem}.jpg"
        png.write_bytes(_encode(big, "PNG"))
        jpeg.write_bytes(_encode(big, "JPEG"))
        out[stem] = {"png": png, "jpeg": jpeg, "expected": label}
    (folder / "notes.txt").write_text("These are my holiday notes, not a picture.\n")
    out["text"] = folder / "notes.txt"
    out["photo"] = visitors.photo_jpeg(folder / "photo_5mb.jpg")
    return out


# ----------------------------------------------------------------------------- the browser


def run_async(coro_fn, *args):
    """Run ``coro_fn(*args)`` on a new event loop in a worker thread (safe inside any pytest)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro_fn(*args)).result()


Page = visitors.Tab


async def _chromium(p):
    return await visitors.launch_chromium(p)


def check_top3(rows, expected: str | None):
    labels = [r[0] for r in rows]
    probs = [r[1] for r in rows]
    assert len(rows) == 3, rows
    assert set(labels) <= set(CLASS_NAMES) and len(set(labels)) == 3, labels
    assert probs == sorted(probs, reverse=True), probs
    assert all(0.0 <= p <= 1.0 for p in probs) and sum(probs) <= 1.0 + 1e-4, probs
    for _, p, text in rows:  # one decimal; the ends read ">99.9%" / "<0.1%", never 100.0% / 0.0%
        if text == ">99.9%":
            assert p >= 0.9995, rows
        elif text == "<0.1%":
            assert p < 0.0005, rows
        else:
            assert abs(float(text.rstrip("%")) - 100 * p) <= 0.051, rows
    assert not any(r[2] in ("100.0%", "0.0%") for r in rows), rows
    if expected is not None:
        assert labels[0] == expected, f"expected {expected}, got {rows}"


def _record(name: str, seconds: list[float]):
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / "browser-timings.json"
    timings = json.loads(path.read_text()) if path.exists() else {}
    timings[name] = [round(s, 3) for s in seconds]
    path.write_text(json.dumps(timings, indent=2) + "\n")
    print(f"upload → result visible, {name}: " + ", ".join(f"{s:.3f} s" for s in seconds))


# ----------------------------------------------------------------------------- the tests


# The latency test runs first, on a settled server: the warm kernels are ready, as for a
# visitor uploading in their first seconds.


def test_5mb_photo_within_a_second(server, pictures):
    url = server[0]
    photo = pictures["photo"]
    size_mb = photo.stat().st_size / 1e6
    assert 4.5 <= size_mb <= 6.5, f"the test photo is {size_mb:.1f} MB, meant to be about 5"

    async def scenario():
        from playwright.async_api import async_playwright

        async with async_playwright() as p:
            browser = await _chromium(p)
            tab = await Page.open(browser, url)
            times = []
            for i in range(3):
                named = photo.with_name(f"photo_5mb_{i}.jpg")
                shutil.copy(photo, named)
                seconds, rows = await tab.timed_result(named)
                check_top3(rows, None)
                times.append(seconds)
            # The button's JavaScript reduced it in the browser (wic.serving.upload): the card
            # names the original's size and dimensions and what was sent.
            meta = await tab.card(named.name).locator(".wic-meta").inner_text()
            assert "2500×2000 px (sent reduced to 320×256)" in meta, meta
            await tab.shot(ARTIFACTS / "browser-photo.png")
            await browser.close()
            return times

    times = run_async(scenario)
    _record(f"photo_{size_mb:.1f}MB_2500x2000", times)
    assert statistics.median(times) <= LATENCY_BUDGET_S, (
        f"upload → result took {times} s for a {size_mb:.1f} MB photo; budget {LATENCY_BUDGET_S} s")


def test_upload_check_error_and_recover(server, pictures):
    url, log_path = server[0], server[1]

    async def scenario():
        from playwright.async_api import async_playwright

        async with async_playwright() as p:
            browser = await _chromium(p)
            tab = await Page.open(browser, url)
            first, second = pictures["first"], pictures["second"]

            png_s, rows = await tab.timed_result(first["png"])
            check_top3(rows, first["expected"])
            jpeg_s, rows = await tab.timed_result(second["jpeg"])
            check_top3(rows, second["expected"])

            await tab.upload(pictures["text"])
            error = tab.page.locator(".wic-error", has_text="notes.txt")
            await error.wait_for(timeout=RESULT_TIMEOUT_MS)
            message = await error.inner_text()
            assert "not an image" in message and "accepted" in message, message

            again_s, rows = await tab.timed_result(first["jpeg"])
            check_top3(rows, first["expected"])

            # Several files at once, a bad one among them: each gets its own card.
            await tab.upload(pictures["third"]["png"], pictures["text"], pictures["fourth"]["jpeg"])
            check_top3(await tab.result(pictures["third"]["png"].name), pictures["third"]["expected"])
            check_top3(await tab.result(pictures["fourth"]["jpeg"].name), pictures["fourth"]["expected"])
            await tab.page.locator(".wic-error", has_text="notes.txt").nth(1).wait_for(
                timeout=RESULT_TIMEOUT_MS)

            # The teaching view: a Grad-CAM overlay on every card.
            await tab.page.locator(".wic-explain button", has_text="Grad-CAM").click()
            await tab.page.locator(".wic-result .wic-overlay").nth(4).wait_for(
                timeout=RESULT_TIMEOUT_MS)
            text = await tab.text()
            assert "Traceback" not in text
            await tab.shot(ARTIFACTS / "browser-results.png")
            await tab.shot(ARTIFACTS / "app_page.png", selector=".wic-app")

            if not await tab.page.locator(".wic-random").is_disabled():
                await tab.page.locator(".wic-random").click()
                await tab.page.locator(".wic-result .wic-truth").first.wait_for(
                    timeout=RESULT_TIMEOUT_MS)
                await tab.shot(ARTIFACTS / "browser-random.png")
            await browser.close()
            return png_s, jpeg_s, again_s

    png_s, jpeg_s, again_s = run_async(scenario)
    _record("png_512", [png_s])
    _record("jpeg_512", [jpeg_s, again_s])
    assert "Traceback" not in "".join(
        line for line in log_path.read_text(errors="replace").splitlines(keepends=True)
        if "wic.serving.app" in line), "the app logged an unexpected error"


def test_two_pages_at_once_are_isolated(server, pictures):
    url = server[0]
    a_pic, b_pic = pictures["first"]["png"], pictures["second"]["png"]

    async def scenario():
        from playwright.async_api import async_playwright

        async with async_playwright() as p:
            browser = await _chromium(p)
            a, b = await asyncio.gather(Page.open(browser, url), Page.open(browser, url))
            await asyncio.gather(a.upload(a_pic), b.upload(b_pic))
            rows_a, rows_b = await asyncio.gather(a.result(a_pic.name), b.result(b_pic.name))
            check_top3(rows_a, pictures["first"]["expected"])
            check_top3(rows_b, pictures["second"]["expected"])
            if pictures["first"]["expected"] is not None:
                assert rows_a[0][0] != rows_b[0][0]  # different images, different answers
            # A second upload in one page does not appear in the other.
            await a.upload(pictures["third"]["jpeg"])
            await a.result(pictures["third"]["jpeg"].name)
            await asyncio.sleep(0.5)
            counts = [await t.page.locator(".wic-result").count() for t in (a, b)]
            text_a, text_b = await a.text(), await b.text()
            await a.shot(ARTIFACTS / "browser-page-a.png")
            await b.shot(ARTIFACTS / "browser-page-b.png")
            await browser.close()
            return counts, text_a, text_b

    counts, text_a, text_b = run_async(scenario)
    assert counts == [2, 1], counts
    assert a_pic.name in text_a and b_pic.name not in text_a
    assert b_pic.name in text_b and a_pic.name not in text_b
    assert pictures["third"]["jpeg"].name not in text_b


# ----------------------------------------------------------------------------- a small class

CLASS_TABS = 5
# Upload → result for each of 5 tabs uploading a 5 MB photo at the same moment. Measured here
# on an idle 2-core machine: 1.4-1.6 s (FileUpload, before photos were reduced in the browser),
# most of it the five Chromium tabs' own work on the same cores; 2.6 s with the browser
# reduction at a load average of 15-23, 0.7 s on an idle machine in stop 19's run
# (benchmarks/results/page_load.csv, after, 5 tabs). A guard against
# uploads that serialise or hang, with room for a busy CI machine; the TensorFlow-in-every-kernel
# regression is caught by the memory check below, not by time.
CLASS_UPLOAD_BUDGET_S = 4.0
KERNEL_BUDGET_BYTES = 300e6  # a kernel that imported TensorFlow is ~0.8-1.2 GB


def test_five_tabs_upload_at_once(server, pictures):
    """Capacity that cannot silently regress: 5 tabs, one 5 MB photo each at the same moment."""
    url, _, page = server
    photos = []
    for i in range(CLASS_TABS):
        named = pictures["photo"].with_name(f"class_photo_{i}.jpg")
        shutil.copy(pictures["photo"], named)
        photos.append(named)

    async def scenario():
        from playwright.async_api import async_playwright

        async with async_playwright() as p:
            browser = await _chromium(p)
            tabs = await visitors.open_tabs(browser, url, CLASS_TABS)
            page.memory.reset()
            timed = await visitors.upload_together(tabs, photos)
            for (_, rows), tab, photo in zip(timed, tabs, photos, strict=True):
                check_top3(rows, None)
                text = await tab.text()
                assert photo.name in text and all(
                    other.name not in text for other in photos if other != photo), text[:300]
            await browser.close()
            return [t.ready_s for t in tabs], [s for s, _ in timed]

    ready, seconds = run_async(scenario)
    _record(f"class_{CLASS_TABS}_tabs_page_ready", ready)
    _record(f"class_{CLASS_TABS}_tabs_upload", seconds)
    peak, procs = page.memory.peak_bytes, page.memory.peak_processes
    print(f"server + kernels at peak: {peak / 1e9:.2f} GB in {procs} processes")
    assert max(seconds) <= CLASS_UPLOAD_BUDGET_S, (
        f"{CLASS_TABS} tabs uploading at once: {seconds} s; budget {CLASS_UPLOAD_BUDGET_S} s each")
    kernels = procs - 1  # the server, then one process per kernel
    assert kernels >= CLASS_TABS, (procs, "fewer kernels than tabs: are sessions shared?")
    assert peak <= KERNEL_BUDGET_BYTES * (kernels + 1), (
        f"{peak / 1e9:.2f} GB for the server and {kernels} kernels: more than "
        f"{KERNEL_BUDGET_BYTES / 1e6:.0f} MB each; did a kernel import TensorFlow?")


def test_a_full_classroom_says_so_and_frees_seats(tmp_path):
    """Room for two: the third visitor is told; once a tab closes, the next one gets in."""
    visitors.export_models()

    async def scenario(url):
        from playwright.async_api import async_playwright

        async with async_playwright() as p:
            browser = await _chromium(p)
            first, second = await visitors.open_tabs(browser, url, 2)
            assert not first.full and not second.full
            third = await Page.open(browser, url)
            assert third.full
            message = await third.page.locator("#" + visitors.FULL_PAGE_ID).inner_text()
            await first.close()
            deadline = time.monotonic() + 60
            while True:  # the seat comes back when Voilà has shut the closed tab's kernel down
                again = await Page.open(browser, url)
                if not again.full or time.monotonic() > deadline:
                    break
                await again.close()
                await asyncio.sleep(2)
            await browser.close()
            return message, again.full

    with visitors.served_page(log_path=tmp_path / "voila.log", capacity=2, pool_size=1) as page:
        message, still_full = run_async(scenario, page.url)
    assert "classroom is full" in message.lower() and "2 seats" in message, message
    assert "try again" in message.lower(), message
    assert not still_full, "closing a tab did not free its seat within 60 s"
