"""Do big photos reduced in the browser score like the same photos sent whole? And like the test set?

The page's upload button (``wic.serving.upload.PhotoUpload``) reduces a JPEG/PNG/WebP whose
shorter side is above 1024 px to 256 px in the visitor's browser and sends the raw pixels;
``benchmarks/upload_gap.py`` measures pictures of 200-600 px, which are sent as they are. This
measures the other case. Each of N CIFAR-10 test images is enlarged (bicubic) to a random side of
1100-2600 px and saved as a JPEG (quality 90-95); then

- *whole*: the bytes go through what the kernel does with a file sent whole (``Classifier.decode``,
  big JPEGs at a reduced DCT scale, then ``to_model_input``);
- *browser*: Debian's Chromium runs the button's own ``reduce`` (its JavaScript, unchanged) on the
  file, and the pixels it would send go through ``received`` and the same kernel path.

Printed per model: accuracy on the raw 32x32 arrays, on both paths, the gaps in points
(raw - path) and how often the two paths agree on the top class.

    python benchmarks/browser_reduce.py --models seed_v1_3 fast_cpu_v2 -n 1000 --offset 2000
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

PAGE = """<!doctype html><html><body><script type="module">
import { reduce } from "/upload.js";
window.runAll = async (n, cfg) => {
  const model = { get: (k) => cfg[k] };
  for (let i = 0; i < n; i++) {
    const blob = await (await fetch(`/img/${i}`)).blob();
    const out = await reduce(new File([blob], `${i}.jpg`, { type: "image/jpeg" }), model);
    await fetch(`/rgb/${i}`, { method: "POST", body: out ? out.content : new ArrayBuffer(0),
      headers: { "X-Shape": out ? out.shape.join("x") : "", "X-Original": out ? out.original_px.join("x") : "" } });
  }
  return n;
};
window.ready = true;
</script></body></html>"""


def big_photos(x_uint8: np.ndarray, seed: int):
    from PIL import Image

    rng = np.random.default_rng(seed)
    for img in x_uint8:
        side = int(rng.integers(1100, 2601))
        buf = io.BytesIO()
        Image.fromarray(img).resize((side, side), Image.Resampling.BICUBIC).save(
            buf, "JPEG", quality=int(rng.integers(90, 96)))
        yield buf.getvalue()


def reduce_in_chromium(files: list[bytes]) -> list[dict]:
    """Run the upload button's ``reduce`` on every file in Chromium; per file, what it would send."""
    import tornado.web
    from playwright.async_api import async_playwright

    from wic.serving import visitors
    from wic.serving.upload import PhotoUpload

    button = PhotoUpload()
    cfg = {k: getattr(button, k) for k in ("shrink_above", "shrink_side", "max_bytes")}
    got: dict[int, dict] = {}

    class Img(tornado.web.RequestHandler):
        def get(self, i):
            self.set_header("Content-Type", "image/jpeg")
            self.write(files[int(i)])

    class Rgb(tornado.web.RequestHandler):
        def post(self, i):
            shape, original = self.request.headers.get("X-Shape"), self.request.headers.get(
                "X-Original")
            got[int(i)] = ({"content": self.request.body, "size": len(files[int(i)]),
                            "shape": [int(v) for v in shape.split("x")],
                            "original_px": [int(v) for v in original.split("x")]}
                           if shape else {"content": files[int(i)]})

    class Static(tornado.web.RequestHandler):
        def get(self, what):
            if what == "upload.js":
                self.set_header("Content-Type", "text/javascript")
                self.write(PhotoUpload._esm)
            else:
                self.write(PAGE)

    port, ready = visitors.free_port(), threading.Event()

    def serve():
        async def main():
            tornado.web.Application([(r"/img/(\d+)", Img), (r"/rgb/(\d+)", Rgb),
                                     (r"/(.*)", Static)]).listen(port, "127.0.0.1")
            ready.set()
            await asyncio.Event().wait()
        asyncio.run(main())

    threading.Thread(target=serve, daemon=True).start()
    ready.wait()

    async def drive():
        async with async_playwright() as p:
            browser = await visitors.launch_chromium(p)
            page = await browser.new_page()
            await page.goto(f"http://127.0.0.1:{port}/")
            await page.wait_for_function("window.ready === true")
            await page.evaluate("([n, cfg]) => window.runAll(n, cfg)", [len(files), cfg])
            await browser.close()

    asyncio.run(drive())
    return [got[i] for i in range(len(files))]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", default=["seed_v1_3", "fast_cpu_v2"])
    p.add_argument("-n", type=int, default=1000, help="test images (default 1000)")
    p.add_argument("--offset", type=int, default=2000, help="start at this test image")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--backend", default="onnx", choices=("onnx", "keras"))
    p.add_argument("--csv", default=str(ROOT / "benchmarks" / "results" / "browser_reduce.csv"))
    args = p.parse_args(argv)

    from wic import config
    from wic.data import load_test_split
    from wic.experiments import results
    from wic.serving import Classifier
    from wic.serving.images import to_model_input
    from wic.serving.upload import received

    x, y, _ = load_test_split()
    x, y = x[args.offset:args.offset + args.n], y[args.offset:args.offset + args.n]
    print(f"{len(y)} test images from #{args.offset}, enlarged to 1100-2600 px JPEGs; CPU: "
          f"{config.describe_cpu()}; load {os.getloadavg()[0]:.2f}", flush=True)
    t0 = time.perf_counter()
    files = list(big_photos(x, args.seed))
    sent = reduce_in_chromium(files)
    reduced = sum("shape" in s for s in sent)
    kb = np.mean([len(s["content"]) for s in sent]) / 1024
    print(f"  {reduced}/{len(sent)} reduced in Chromium, {kb:.0f} KB sent on average instead of "
          f"{np.mean([len(f) for f in files]) / 1024:.0f} KB ({time.perf_counter() - t0:.0f} s)",
          flush=True)
    rows = []
    for name in args.models:
        clf = Classifier.load(name, backend=args.backend)
        whole = np.stack([to_model_input(clf.decode(f)) for f in files])
        browser = np.stack([to_model_input(clf.decode(received(s)[0])) for s in sent])
        pred = {k: clf.predict_arrays(v).argmax(1) for k, v in
                (("raw", x), ("whole", whole), ("browser", browser))}
        acc = {k: float((v == y).mean()) for k, v in pred.items()}
        row = {"model": clf.name, "n": len(y), "offset": args.offset, "seed": args.seed,
               "raw_accuracy": acc["raw"], "whole_accuracy": acc["whole"],
               "browser_accuracy": acc["browser"],
               "gap_whole_points": round(100 * (acc["raw"] - acc["whole"]), 2),
               "gap_browser_points": round(100 * (acc["raw"] - acc["browser"]), 2),
               "agreement": round(float((pred["whole"] == pred["browser"]).mean()), 4),
               "mean_abs_pixel_diff": round(float(np.abs(whole.astype(int) - browser).mean()), 3),
               "reduced": reduced, "sent_kb": round(float(kb), 1), "cpu": config.describe_cpu()}
        rows.append(row)
        print(f"  {clf.name}: raw {acc['raw']:.4f}  whole {acc['whole']:.4f} (gap "
              f"{row['gap_whole_points']:+.2f})  browser {acc['browser']:.4f} (gap "
              f"{row['gap_browser_points']:+.2f})  agreement {row['agreement']:.3f}  "
              f"mean |pixel diff| {row['mean_abs_pixel_diff']}", flush=True)
    out = results.write_rows(args.csv, rows, list(rows[0]))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
