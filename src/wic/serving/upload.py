"""The page's upload button: a big photo is reduced in the visitor's browser before it is sent.

ipywidgets' ``FileUpload`` reads each chosen file whole into JavaScript and sends every byte over
the kernel's websocket: a 5 MB photo becomes 5 MB through the browser, the Voilà server and the
kernel, which then decodes all of it (an entropy-coded JPEG cannot be decoded in part) only to
keep a 32x32 crop and a 192-px thumbnail. :class:`PhotoUpload` is the same button with the same
Python side (``value`` is a tuple of dicts with ``name``, ``type``, ``size`` and ``content``;
``observe(names="value")``; ``value = ()`` clears it), but its JavaScript decodes a JPEG, PNG
or WebP whose shorter side is above ``shrink_above`` (1024) px in the browser, draws it with
high-quality smoothing at ``shrink_side`` (256) px on the shorter side and sends those pixels
as raw RGB (a few hundred KB, lossless; ``shape`` says their size) with the original's size and
dimensions (``size``, ``original_px``): :func:`received` turns that into an array for
:func:`wic.serving.images.load_image` and still refuses an original that is too big or too thin
with the usual message.

Anything else — smaller pictures, GIF, TIFF, BMP, SVG, a file the browser cannot decode (a PDF
named ``.jpg``), a file over ``max_bytes`` — is sent as it is, and the kernel's checks
(:mod:`wic.serving.images`) judge it as before. The kernel's centre crop, area reduction and
restore step still make the model's 32x32 input from what arrives (the pictures sent as they
are: ``benchmarks/upload_gap.py``; big photos reduced in Chromium against the kernel decoding
the whole file: ``benchmarks/browser_reduce.py``).

Why (one tab, ``visitors.cpu_seconds``-style sampling, a 5 MB 2500x2000 JPEG): sent whole, the
upload cost the kernel ~0.07 CPU-s (a full entropy decode), the server ~0.03 and the simulated
visitor ~0.4, most of it Chromium's DevTools copying the 5 MB websocket frame, base64, to the
Playwright driver; reduced, the kernel ~0.02, the server ~0.01, and the browser decodes the
photo once (~0.08 CPU-s) instead.
"""

from __future__ import annotations

from collections.abc import Mapping

import anywidget
import numpy as np
import traitlets
from ipywidgets.widgets.trait_types import TypedTuple

from wic.files import human_size
from wic.serving.images import MAX_ASPECT_RATIO, MAX_BYTES, MAX_PIXELS, ImageError, check_dims

REDUCED_SIDE = 256  # the shorter side of a photo reduced in the browser (8x the 32-px input)
SHRINK_ABOVE = 1024  # a shorter side above this is reduced in the browser

_ESM = r"""
const REDUCIBLE = /^image\/(jpeg|png|webp)$/;

export async function reduce(file, model) {
  // A big JPEG/PNG/WebP, drawn at shrink_side px on its shorter side; null: send it as it is.
  if (!REDUCIBLE.test(file.type) || file.size > model.get("max_bytes")) return null;
  let bitmap;
  try {
    bitmap = await createImageBitmap(file);  // EXIF orientation applied, like the kernel does
  } catch (e) {
    return null;  // not decodable here: the kernel says what is wrong with it
  }
  try {
    const w = bitmap.width, h = bitmap.height, short = Math.min(w, h);
    if (short <= model.get("shrink_above")) return null;
    const scale = model.get("shrink_side") / short;
    const cw = Math.max(1, Math.round(w * scale)), ch = Math.max(1, Math.round(h * scale));
    const canvas = new OffscreenCanvas(cw, ch);
    const ctx = canvas.getContext("2d", { willReadFrequently: true });
    ctx.fillStyle = "#fff";  // transparency on white, as the kernel composites it
    ctx.fillRect(0, 0, cw, ch);
    ctx.imageSmoothingEnabled = true;
    ctx.imageSmoothingQuality = "high";
    ctx.drawImage(bitmap, 0, 0, cw, ch);
    // Raw RGB, not a re-encoded file: lossless, and no canvas encoder (Chromium runs
    // convertToBlob/toBlob in idle time, which a busy page may not have for a second).
    const rgba = ctx.getImageData(0, 0, cw, ch).data;
    const rgb = new Uint8Array(cw * ch * 3);
    for (let i = 0, j = 0; i < rgba.length; i += 4, j += 3) {
      rgb[j] = rgba[i]; rgb[j + 1] = rgba[i + 1]; rgb[j + 2] = rgba[i + 2];
    }
    return { content: rgb.buffer, shape: [ch, cw], original_px: [w, h] };
  } catch (e) {
    return null;
  } finally {
    bitmap.close();
  }
}

async function prepare(file, model) {
  const item = { name: file.name, type: file.type, size: file.size,
                 last_modified: file.lastModified, shape: null, original_px: null };
  const reduced = await reduce(file, model);
  if (reduced) return Object.assign(item, reduced);
  item.content = await file.arrayBuffer();
  return item;
}

function render({ model, el }) {
  const button = document.createElement("button");
  button.className = "jupyter-widgets jupyter-button widget-upload mod-primary";
  const icon = document.createElement("i");
  icon.className = "fa fa-upload";
  const label = document.createElement("span");
  button.append(icon, label);
  const input = document.createElement("input");
  input.type = "file";
  input.style.display = "none";
  const update = () => {
    button.disabled = model.get("disabled");
    label.textContent = " " + model.get("description");
    input.accept = model.get("accept");
    input.multiple = model.get("multiple");
  };
  update();
  model.on("change:disabled", update);
  model.on("change:description", update);
  button.addEventListener("click", () => input.click());
  input.addEventListener("click", () => { input.value = ""; });  // the same file again
  input.addEventListener("change", async () => {
    const files = Array.from(input.files || []);
    if (!files.length) return;
    const items = [];
    for (const file of files) items.push(await prepare(file, model));
    model.set("value", items);
    model.save_changes();
  });
  el.append(button, input);
  return () => {
    model.off("change:disabled", update);
    model.off("change:description", update);
  };
}

export default { render };
"""


def _files_from_json(js, _widget) -> tuple[dict, ...]:
    return tuple(dict(item) for item in js or ())


def _files_to_json(value, _widget) -> list[dict]:
    return [dict(item) for item in value]


class PhotoUpload(anywidget.AnyWidget):
    """An upload button whose big photos are reduced in the browser (see the module docstring)."""

    _esm = _ESM
    value = TypedTuple(trait=traitlets.Dict(), help="the chosen files").tag(
        sync=True, echo_update=False, from_json=_files_from_json, to_json=_files_to_json)
    description = traitlets.Unicode("Upload").tag(sync=True)
    accept = traitlets.Unicode("").tag(sync=True)
    multiple = traitlets.Bool(False).tag(sync=True)
    disabled = traitlets.Bool(False).tag(sync=True)
    shrink_above = traitlets.Int(SHRINK_ABOVE).tag(sync=True)
    shrink_side = traitlets.Int(REDUCED_SIDE).tag(sync=True)
    max_bytes = traitlets.Int(MAX_BYTES).tag(sync=True)


def received(item, max_pixels: int = MAX_PIXELS) -> tuple[object, str | None]:
    """(what to classify, the size to show on its card or None) for one item of ``value``.

    A photo reduced in the browser arrives as raw RGB pixels with their ``shape``; its original
    dimensions (``original_px``) pass the same checks as if it had been sent whole, and the
    pixels must be exactly what the shape says. Anything else is returned as it came.
    """
    if not isinstance(item, Mapping):
        return item, None
    content, shape = item.get("content"), item.get("shape")
    if not shape:
        return content, None
    try:
        h, w = (int(v) for v in shape)
        ow, oh = (int(v) for v in item.get("original_px") or ())
        size = int(item.get("size") or 0)
        nbytes = memoryview(content).nbytes
    except (TypeError, ValueError):
        raise ImageError("the browser sent a reduced photo without its dimensions; please "
                         "upload it again") from None
    check_dims(ow, oh, max_pixels)
    longest = REDUCED_SIDE * MAX_ASPECT_RATIO
    if not (0 < h <= longest and 0 < w <= longest) or nbytes != h * w * 3:
        raise ImageError(f"the browser sent {nbytes:,} bytes for a {w}x{h} reduced photo "
                         f"(expected {h * w * 3:,}); please upload it again")
    pixels = np.frombuffer(content, np.uint8).reshape(h, w, 3)
    return pixels, f"{human_size(size)}, {ow}×{oh} px (sent reduced to {w}×{h})"
