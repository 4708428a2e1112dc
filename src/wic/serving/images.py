"""Untrusted image in → RGB PIL image, and the uint8 32x32 array the model sees.

Everything a person can upload passes through :func:`load_image`, which either returns an RGB
PIL image or raises :class:`ImageError` with one line that says what is wrong and what is
accepted. Nothing else may escape: no traceback, no warning, no hang, no unbounded memory.

Input (``load_image``)
    A path, ``bytes``/``bytearray``/``memoryview``, a binary file object, an ipywidgets
    ``FileUpload`` item (a dict with ``content``), a PIL image or a numpy array. The format is
    decided from the content, never from the file name; only JPEG, PNG, GIF, BMP, WebP, TIFF
    and SVG are decoded (Pillow is restricted to those plugins, the rest of its many formats is
    attack surface we do not need). Limits, all checked *before* pixels are decoded:

    - ``MAX_BYTES`` (50 MB, the seed's upload limit) on the encoded size; a file is refused
      from its ``stat`` size, a stream after reading at most ``max_bytes + 1`` bytes;
    - ``MAX_PIXELS`` (50 megapixels, a 48 MP phone photo fits) on the declared width x height,
      so a small file that declares 30000x30000 (a decompression bomb) is refused from its
      header. Pillow's own ``DecompressionBombWarning`` is recorded and dropped (our check is
      stricter by default) and its ``DecompressionBombError`` becomes an ``ImageError``;
    - ``MAX_ASPECT_RATIO`` (20:1): a 1x100000 strip has nothing a 32x32 classifier can see.

    Then: EXIF orientation is applied (phones store portrait photos sideways), the first frame
    of an animation is used, and every mode becomes RGB: transparency is composited on white,
    16-bit and 32-bit images are scaled down (not clipped), palette, CMYK, YCbCr, 1-bit and
    grayscale go through Pillow's conversions. Big JPEGs are decoded at a reduced DCT scale
    (``Image.draft``) when the caller asks for a bounded size, as
    :class:`wic.serving.Classifier` does.

SVG: rasterised, with four fences (decided and tested, see tests/test_predict_hostile.py)
    1. the text must be at most ``SVG_MAX_BYTES`` (2 MB);
    2. it is parsed with defusedxml, which refuses any ``<!ENTITY>`` declaration (the
       "billion laughs" expansion fails at once instead of eating memory) and external DTDs;
    3. the tree is checked before rendering: depth ≤ ``SVG_MAX_DEPTH``, every ``href`` must be
       an in-document ``#id`` (no ``file:``, ``http:``, ``data:``: nothing is fetched and
       nothing on this machine can leak into the picture), ``<use>``/``url(#…)`` references
       must not form a cycle and their expanded size (a "use bomb" multiplies like billion
       laughs) must stay within ``SVG_MAX_ELEMENTS``; the declared width x height must fit
       the pixel limit like any image;
    4. cairosvg renders with a ``url_fetcher`` that refuses every URL (this also catches CSS
       ``@import``), at a fixed output size (longest side ``SVG_RENDER_SIDE`` px) whatever
       size the file declares, so memory is bounded.
    Refusing SVG outright was the alternative; the seed accepted it and people upload logos
    and drawings, so we keep it behind these fences.

Model input (``to_model_input``)
    uint8 (32, 32, 3). We **centre-crop to a square, then downscale** rather than squash the
    aspect ratio. CIFAR-10 images are square photos with the object in the middle, so the
    network learned undistorted shapes; squashing a 16:9 photo into a square makes a cat 1.8x
    thinner, a shape the network never saw, while the centre crop keeps proportions and loses
    only the margins, where a typical photo's subject is not. (``fit="squash"`` is there for
    comparison.) The downscale is anti-aliased area averaging (``BOX``, what a sensor pixel
    does; tests/test_predict_image.py checks the anti-aliasing). Small images are upscaled
    bicubically; a 32x32 image passes through unchanged, so CIFAR PNGs round-trip exactly.

Restore (``RESTORE``, on by default)
    Reducing a picture is not the inverse of enlarging it: a 32x32 image enlarged (bicubic) to
    a few hundred pixels and averaged back comes out blurred — each pixel keeps about 84% of
    itself and takes the rest from its neighbours — and the networks, trained on sharp 32x32
    samples, answer differently on 9-12% of such images (seed model, benchmarks/upload_gap.py). The blur is linear, so it
    can be undone exactly: :func:`_restore_matrix` sends the 32 unit impulses through Pillow's
    own enlargement and reduction at the picture's size and inverts the 32x32 matrix they
    make; the reduced picture is multiplied by it along both axes. An enlarged CIFAR image
    then comes back to within ~0.5 grey levels (tests/test_predict_image.py), and the upload
    path's gap to the raw arrays closes (``benchmarks/upload_gap.py``; its CSV in
    ``benchmarks/results/``). On a real photo, which was never a 32x32 image, the same step is a
    mild sharpening (at most 1.6x at the finest detail), the kind of detail CIFAR's own
    downsampled pictures keep.
"""

from __future__ import annotations

import contextlib
import functools
import io
import math
import os
import re
import stat
import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from wic.files import clip, human_size, short_error

MAX_BYTES = 50 * 1024**2
MAX_PIXELS = 50_000_000
MAX_ASPECT_RATIO = 20
SVG_MAX_BYTES = 2 * 1024**2
SVG_MAX_ELEMENTS = 20_000
SVG_MAX_DEPTH = 100
SVG_RENDER_SIDE = 512
INPUT_SIDE = 32
ACCEPTED = "JPEG, PNG, GIF, BMP, WebP, TIFF, SVG"

# Pillow openers we let decode (the JPEG opener also returns MPO, the multi-picture JPEG).
_PIL_FORMATS = ("JPEG", "PNG", "GIF", "BMP", "WEBP", "TIFF")


class ImageError(ValueError):
    """A bad or hostile image; the message says what is wrong and what is accepted."""


# ----------------------------------------------------------------------------- helpers


def _human_pixels(n: int) -> str:
    return f"{n / 1e6:.0f} megapixels" if n >= 1_000_000 else f"{n:,} pixels"


def _too_big(size: int | None, max_bytes: int, what: str = "file") -> ImageError:
    if size is None:
        return ImageError(f"{what} is larger than {human_size(max_bytes)}; the limit is "
                          f"{human_size(max_bytes)}")
    shown, limit = human_size(size), human_size(max_bytes)
    if shown == limit:  # "9.1 KB; the limit is 9.1 KB" helps nobody
        shown, limit = f"{size:,} bytes", f"{max_bytes:,} bytes"
    return ImageError(f"{what} is {shown}; the limit is {limit}")


def check_dims(w: int, h: int, max_pixels: int = MAX_PIXELS) -> None:
    """Refuse dimensions with no pixels, too many (a decompression bomb) or too thin a strip."""
    if w <= 0 or h <= 0:
        raise ImageError(f"image is {w}x{h} pixels: it has no pixels to classify")
    if w * h > max_pixels:
        raise ImageError(f"image is {w}x{h} = {_human_pixels(w * h)}; the limit is "
                         f"{_human_pixels(max_pixels)} (decompression-bomb protection)")
    if max(w, h) > MAX_ASPECT_RATIO * min(w, h):
        raise ImageError(f"image is {w}x{h} pixels, too thin to classify; accepted: sides "
                         f"within {MAX_ASPECT_RATIO}:1 of each other")


# Magic numbers of things people upload by mistake, for a message that names what we saw.
_NOT_IMAGES = (
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive or an Office document"),
    (b"PK\x05\x06", "an empty ZIP archive"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"Rar!", "a RAR archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"\x7fELF", "a program (ELF)"),
    (b"MZ", "a Windows program"),
    (b"8BPS", "a Photoshop document"),
    (b"\x00\x00\x01\x00", "an icon (ICO)"),
    (b"%!PS", "a PostScript document"),
    (b"ID3", "an MP3 file"),
    (b"OggS", "an Ogg audio/video file"),
    (b"\x1aE\xdf\xa3", "a WebM/Matroska video"),
    (b"SQLite format 3", "an SQLite database"),
)


def _sniff(data: bytes) -> str:
    """The accepted format of ``data`` ("JPEG", …, "SVG"), or raise ImageError naming it."""
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if data.startswith(b"BM"):
        return "BMP"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WebP"
    if data[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "TIFF"
    head = data[:65536]
    text = head.lstrip(b"\xef\xbb\xbf").lstrip()
    low = text[:512].lower()
    if low.startswith((b"<!doctype html", b"<html")):
        what = "an HTML page"
    elif text.startswith(b"<") and re.search(rb"<(?:[A-Za-z_][\w.-]*:)?svg[\s>/]", head):
        return "SVG"
    else:
        what = _describe(data)
    raise ImageError(f"not an image we can read (looks like {what}); accepted: {ACCEPTED}")


def _describe(data: bytes) -> str:
    for magic, what in _NOT_IMAGES:
        if data.startswith(magic):
            return what
    if data[4:8] == b"ftyp":
        brand = data[8:12]
        if brand in (b"heic", b"heix", b"hevc", b"mif1", b"msf1"):
            return "a HEIC/HEIF photo (convert it to JPEG)"
        if brand in (b"avif", b"avis"):
            return "an AVIF image (convert it to JPEG or PNG)"
        return "a video (MP4/QuickTime)"
    if data[:4] == b"RIFF":
        return "a RIFF audio/video file"
    if data.lstrip().startswith(b"<"):
        return "an XML/HTML document"
    sample = data[:4096]
    try:
        decoded = sample.decode("utf-8")
    except UnicodeDecodeError as exc:  # a multi-byte character cut at the end is still text
        decoded = sample[:exc.start].decode("utf-8") if exc.start >= len(sample) - 3 else ""
    if decoded and sum(c.isprintable() or c in "\r\n\t" for c in decoded) >= 0.95 * len(decoded):
        return "text"
    return "unrecognised binary data"


# ----------------------------------------------------------------------------- reading bytes


def _read_path(path: Path, max_bytes: int) -> bytes:
    shown = clip(str(path))
    try:
        st = os.stat(path)
    except ValueError:  # an embedded NUL byte
        raise ImageError(f"not a valid file path: {shown!r}") from None
    except FileNotFoundError:
        raise ImageError(f"file not found: {shown}") from None
    except PermissionError:
        raise ImageError(f"cannot read {shown}: permission denied") from None
    except OSError as exc:
        raise ImageError(f"cannot read {shown}: {exc.strerror or exc}") from None
    if stat.S_ISDIR(st.st_mode):
        raise ImageError(f"{shown} is a folder, not an image file; accepted: {ACCEPTED} files")
    if not stat.S_ISREG(st.st_mode):  # FIFOs would block, devices never end
        raise ImageError(f"{shown} is not a regular file; accepted: {ACCEPTED} files")
    if st.st_size > max_bytes:
        raise _too_big(st.st_size, max_bytes)
    try:
        with open(path, "rb") as fh:
            data = fh.read(max_bytes + 1)
    except PermissionError:
        raise ImageError(f"cannot read {shown}: permission denied") from None
    except OSError as exc:
        raise ImageError(f"cannot read {shown}: {exc.strerror or exc}") from None
    if len(data) > max_bytes:  # the file grew, or stat lied (/proc)
        raise _too_big(None, max_bytes)
    if not data:
        raise ImageError(f"file is empty (0 bytes); accepted: {ACCEPTED}")
    return data


def _read_stream(fh, max_bytes: int) -> bytes:
    try:
        data = fh.read(max_bytes + 1)
    except Exception as exc:  # noqa: BLE001 - any file-like object: report, don't crash
        raise ImageError(f"cannot read the upload ({type(exc).__name__}: {exc})") from None
    if isinstance(data, str):
        raise ImageError("file object is open in text mode; open images with 'rb'")
    if len(data) > max_bytes:
        raise _too_big(None, max_bytes, "upload")
    return bytes(data)


def _to_bytes(src, max_bytes: int) -> bytes:
    if isinstance(src, Mapping) and "content" in src:  # an ipywidgets 8 FileUpload item
        src = src["content"]
    if isinstance(src, (bytes, bytearray, memoryview)):
        n = memoryview(src).nbytes
        if n > max_bytes:
            raise _too_big(n, max_bytes, "upload")
        data = bytes(src)
    elif isinstance(src, (str, os.PathLike)):
        path = Path(src)
        with contextlib.suppress(RuntimeError):  # "~nosuchuser/…": keep the path as written
            path = path.expanduser()
        return _read_path(path, max_bytes)
    elif hasattr(src, "read"):
        data = _read_stream(src, max_bytes)
    else:
        raise ImageError(f"cannot read an image from {type(src).__name__}; pass a file path, "
                         "bytes, a binary file object, a PIL image or a numpy array")
    if not data:
        raise ImageError(f"image data is empty (0 bytes); accepted: {ACCEPTED}")
    return data


# ----------------------------------------------------------------------------- decoding


def _bomb_pixels(exc: Exception) -> int | None:
    m = re.search(r"\((\d+) pixels\)", str(exc))
    return int(m.group(1)) if m else None


def _decode_raster(data: bytes, fmt: str, max_pixels: int, draft: int | None) -> Image.Image:
    with warnings.catch_warnings(record=True):
        # Pillow warns above its own (global) limit; ours is checked from the header below.
        warnings.simplefilter("always", Image.DecompressionBombWarning)
        try:
            img = Image.open(io.BytesIO(data), formats=_PIL_FORMATS)
        except Image.DecompressionBombError as exc:
            n = _bomb_pixels(exc)
            raise ImageError(f"image declares {_human_pixels(n) if n else 'too many pixels'}; "
                             f"the limit is {_human_pixels(max_pixels)} "
                             "(decompression-bomb protection)") from None
        except Exception as exc:  # noqa: BLE001 - Pillow raises many types on bad headers
            detail = "" if isinstance(exc, UnidentifiedImageError) else f" ({short_error(exc)})"
            raise ImageError(f"could not read this {fmt} image: its header is corrupt{detail}; "
                             f"accepted: {ACCEPTED}") from None
        check_dims(*img.size, max_pixels)
        try:
            if draft and img.format in ("JPEG", "MPO"):
                img.draft(None, (draft, draft))  # DCT-domain downscale: 1/2, 1/4 or 1/8
            img.load()
        except Exception as exc:  # noqa: BLE001 - truncated/corrupt data, any decoder error
            raise ImageError(f"could not decode this {fmt} image: it is truncated or corrupt "
                             f"({short_error(exc)})") from None
        with contextlib.suppress(Exception):  # a broken EXIF block: keep pixels as stored
            img = ImageOps.exif_transpose(img)
        return img


def _to_rgb(img: Image.Image) -> Image.Image:
    """Any Pillow mode → RGB: alpha on white, high bit depths scaled (not clipped)."""
    mode = img.mode
    if mode == "RGB":
        return img
    if mode.startswith("I;16") or mode in ("I", "F"):
        return Image.fromarray(_scale_to_uint8(np.asarray(img), mode)).convert("RGB")
    if img.has_transparency_data or "A" in mode or mode.endswith("a"):
        rgba = img.convert("LA" if mode == "La" else "RGBA").convert("RGBA")  # La: premultiplied
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    try:
        return img.convert("RGB")
    except (ValueError, OSError) as exc:
        raise ImageError(f"colour mode {mode} is not supported ({short_error(exc)}); "
                         "accepted: RGB, grayscale, palette, CMYK, 16-bit images") from None


def _scale_to_uint8(a: np.ndarray, mode: str) -> np.ndarray:
    """16/32-bit integer or float pixels → uint8, scaled over the range they can hold."""
    a = np.asarray(a, dtype=np.float64)
    if mode == "F":
        a = np.nan_to_num(a, nan=0.0, posinf=0.0, neginf=0.0)
        lo, hi = (0.0, 1.0) if a.size and a.min() >= 0 and a.max() <= 1 else (a.min(), a.max())
    elif mode.startswith("I;16") or (a.size and a.min() >= 0 and a.max() <= 65535):
        lo, hi = 0.0, 65535.0  # 16-bit data (PNG/TIFF decoders hand it over as I or I;16)
    else:
        lo, hi = float(a.min()), float(a.max())
    span = hi - lo if hi > lo else 1.0
    return np.clip(np.rint((a - lo) * (255.0 / span)), 0, 255).astype(np.uint8)


def _from_array(arr: np.ndarray, max_pixels: int) -> Image.Image:
    a = np.asarray(arr)
    if a.ndim == 4 and a.shape[0] == 1:
        raise ImageError(f"array has shape {a.shape}: pass one image (H, W[, C]), not a batch")
    if a.ndim == 3 and a.shape[2] in (1, 3, 4):
        channels = a.shape[2]
    elif a.ndim == 2:
        channels = 1
    else:
        raise ImageError(f"array has shape {a.shape}; accepted: (H, W), (H, W, 1), (H, W, 3), "
                         "(H, W, 4)")
    check_dims(a.shape[1], a.shape[0], max_pixels)
    if a.dtype == np.bool_:
        a = a.astype(np.uint8) * 255
    elif a.dtype == np.uint16:
        a = np.rint(a / 257.0).astype(np.uint8)
    elif np.issubdtype(a.dtype, np.integer):
        if a.min() < 0 or a.max() > 255:
            raise ImageError(f"{a.dtype} array holds values {a.min()}..{a.max()}; accepted: "
                             "uint8 0..255, uint16 0..65535, or floats in [0, 1]")
        a = a.astype(np.uint8)
    elif np.issubdtype(a.dtype, np.floating):
        if not np.isfinite(a).all():
            raise ImageError("float array holds NaN or infinite values; accepted: floats in [0, 1]")
        lo, hi = float(a.min()), float(a.max())
        if lo < -1e-3 or hi > 1 + 1e-3:
            raise ImageError(f"float array holds values {lo:.3g}..{hi:.3g}; accepted: floats in "
                             "[0, 1] (or uint8 0..255)")
        a = np.rint(np.clip(a, 0, 1) * 255).astype(np.uint8)
    else:
        raise ImageError(f"array dtype {a.dtype} is not an image; accepted: uint8, uint16, float")
    if channels == 1:
        return Image.fromarray(np.ascontiguousarray(a.reshape(a.shape[:2])), "L").convert("RGB")
    return _to_rgb(Image.fromarray(np.ascontiguousarray(a), "RGB" if channels == 3 else "RGBA"))


def load_image(src, *, max_bytes: int = MAX_BYTES, max_pixels: int = MAX_PIXELS,
               draft: int | None = None) -> Image.Image:
    """Read an untrusted image as RGB, or raise :class:`ImageError` (see the module docstring).

    ``draft``: when given, a big JPEG is decoded at the smallest DCT scale whose sides stay
    ≥ ``draft`` px (much faster and smaller for 12+ MP photos); other formats ignore it.
    """
    if isinstance(src, Image.Image):
        check_dims(*src.size, max_pixels)
        try:
            if getattr(src, "n_frames", 1) > 1:
                src.seek(0)  # animations: the first frame
            src.load()
            img = ImageOps.exif_transpose(src)
        except Exception as exc:  # noqa: BLE001 - a lazily opened, untrusted PIL image
            raise ImageError(f"could not decode this image ({short_error(exc)})") from None
        return _to_rgb(img)
    if isinstance(src, np.ndarray):
        return _from_array(src, max_pixels)
    data = _to_bytes(src, max_bytes)
    fmt = _sniff(data)
    img = (_decode_svg(data, max_bytes=max_bytes, max_pixels=max_pixels) if fmt == "SVG"
           else _decode_raster(data, fmt, max_pixels, draft))
    return _to_rgb(img)


DOWNSCALE_FILTERS = {"box": Image.Resampling.BOX, "bilinear": Image.Resampling.BILINEAR,
                     "hamming": Image.Resampling.HAMMING, "bicubic": Image.Resampling.BICUBIC,
                     "lanczos": Image.Resampling.LANCZOS}
DOWNSCALE = "box"  # chosen by benchmarks/upload_gap.py (see the module docstring)
RESTORE = True  # undo the blur of an enlargement after reducing (module docstring, "Restore")


@functools.lru_cache(maxsize=128)
def _restore_matrix(side: int, resample: int) -> np.ndarray:
    """The inverse of what enlarging a row of 32 pixels to ``side`` (bicubic) and reducing it
    back (``resample``) does to it: measured by sending the 32 unit impulses through Pillow."""
    blur = np.empty((INPUT_SIDE, INPUT_SIDE))
    for j in range(INPUT_SIDE):
        row = np.zeros((1, INPUT_SIDE), np.float32)
        row[0, j] = 1.0
        big = Image.fromarray(row, mode="F").resize((side, 1), Image.Resampling.BICUBIC)
        blur[:, j] = np.asarray(big.resize((INPUT_SIDE, 1), resample))[0]
    return np.linalg.inv(blur)


def restore_enlargement(x32: np.ndarray, width: int, height: int, resample: int) -> np.ndarray:
    """Undo, on a reduced uint8 (32, 32, 3) image, the blur a bicubic enlargement from 32 px to
    ``width`` x ``height`` followed by this reduction leaves (separable, per channel)."""
    rows, cols = _restore_matrix(height, resample), _restore_matrix(width, resample)
    channels = np.moveaxis(x32.astype(np.float64), -1, 0)  # (3, 32, 32): two small matmuls
    out = np.moveaxis(rows @ channels @ cols.T, 0, -1)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def to_model_input(img, *, fit: str = "crop", downscale: str | None = None,
                   restore: bool | None = None) -> np.ndarray:
    """A uint8 (32, 32, 3) array for the model: centre-crop to a square, resize to 32x32.

    ``fit="squash"`` resizes the whole frame instead (distorts the aspect ratio); see the
    module docstring for why cropping is the default. ``downscale`` names the resampling filter
    (default :data:`DOWNSCALE`); small pictures are enlarged with bicubic. ``restore`` (default
    :data:`RESTORE`) sharpens a reduced picture by exactly the blur an enlargement would have
    added (module docstring). Anything :func:`load_image` accepts may be passed; a 32x32 RGB
    image is returned unchanged.
    """
    if fit not in ("crop", "squash"):
        raise ValueError(f"fit={fit!r}; accepted: 'crop', 'squash'")
    downscale = downscale or DOWNSCALE
    if downscale not in DOWNSCALE_FILTERS:
        raise ValueError(f"downscale={downscale!r}; accepted: {', '.join(DOWNSCALE_FILTERS)}")
    if not isinstance(img, Image.Image) or img.mode != "RGB":
        img = load_image(img)
    w, h = img.size
    if (w, h) == (INPUT_SIDE, INPUT_SIDE):
        return np.array(img, dtype=np.uint8)
    box = None
    if fit == "crop" and w != h:
        s = min(w, h)
        box = ((w - s) / 2, (h - s) / 2, (w + s) / 2, (h + s) / 2)
    side = min(w, h) if box else max(w, h)
    resample = DOWNSCALE_FILTERS[downscale] if side >= INPUT_SIDE else Image.Resampling.BICUBIC
    out = np.array(img.resize((INPUT_SIDE, INPUT_SIDE), resample, box=box), dtype=np.uint8)
    cw, ch = (side, side) if box else (w, h)
    if (RESTORE if restore is None else restore) and min(cw, ch) > INPUT_SIDE:
        out = restore_enlargement(out, cw, ch, resample)
    return out


# ----------------------------------------------------------------------------- SVG

_XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
_URL_REF = re.compile(r"url\(\s*['\"]?#([^'\")\s]+)")
_SVG_LENGTH = re.compile(r"^\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*([a-z%]*)\s*$")
_PX_PER_UNIT = {"": 1.0, "px": 1.0, "pt": 4 / 3, "pc": 16.0, "mm": 96 / 25.4,
                "cm": 96 / 2.54, "in": 96.0, "em": 16.0, "ex": 8.0}


class _RefusedFetch(Exception):
    pass


def _refuse_fetch(url, resource_type=None):
    """cairosvg's ``url_fetcher``: every external resource is refused (no file, no network)."""
    raise _RefusedFetch(str(url))


def _svg_length(value: str | None) -> float | None:
    """An SVG width/height in px at 96 dpi; None when absent, a percentage or unparsable."""
    if value is None:
        return None
    m = _SVG_LENGTH.match(value)
    if not m or m.group(2) not in _PX_PER_UNIT:
        return None
    return float(m.group(1)) * _PX_PER_UNIT[m.group(2)]


def _svg_viewbox(value: str | None) -> tuple[float, ...] | None:
    """The viewBox (x, y, width, height) when it is four numbers with a positive size."""
    try:
        vb = tuple(float(v) for v in re.split(r"[\s,]+", (value or "").strip()) if v)
    except ValueError:
        return None
    ok = len(vb) == 4 and all(map(math.isfinite, vb)) and vb[2] > 0 and vb[3] > 0
    return vb if ok else None


def _svg_href(el) -> str | None:
    return el.get("href", el.get(_XLINK_HREF))


def _svg_check_tree(root) -> None:
    """Depth, external references, reference cycles and expansion size, before rendering."""
    by_id: dict[str, object] = {}
    stack = [(root, 1)]
    count = 0
    while stack:
        el, depth = stack.pop()
        count += 1
        if depth > SVG_MAX_DEPTH:
            raise ImageError(f"SVG nests elements more than {SVG_MAX_DEPTH} deep; accepted: "
                             "ordinary drawings")
        href = _svg_href(el)
        if href is not None and not href.strip().startswith("#"):
            shown = href if len(href) <= 60 else href[:57] + "…"
            raise ImageError(f"SVG refers to an outside resource ({shown}); only self-contained "
                             "SVG is accepted (nothing is fetched)")
        i = el.get("id")
        if i is not None:
            by_id.setdefault(i, el)
        stack.extend((child, depth + 1) for child in el)
    if count > SVG_MAX_ELEMENTS:
        raise _svg_too_big(count)

    def deps(el):
        out = list(el)
        refs = []
        href = _svg_href(el)
        if href is not None:
            refs.append(href.strip()[1:])
        for value in el.attrib.values():
            refs.extend(_URL_REF.findall(value))
        out.extend(by_id[r] for r in refs if r in by_id)
        return out

    # Expanded size: each element counts once plus everything it contains or references
    # (a <use> of a group of ten <use>s of … grows like billion laughs). Iterative DFS.
    cost: dict[int, int] = {}
    state: dict[int, int] = {}  # 1 = on the current path, 2 = done
    work = [(root, False)]
    while work:
        el, finishing = work.pop()
        key = id(el)
        if finishing:
            total = 1 + sum(cost[id(d)] for d in deps(el))
            cost[key] = min(total, SVG_MAX_ELEMENTS + 1)
            state[key] = 2
            continue
        if state.get(key) == 2:
            continue
        state[key] = 1
        work.append((el, True))
        for d in deps(el):
            s = state.get(id(d))
            if s == 1:
                raise ImageError("SVG references form a cycle (an element uses itself); "
                                 "accepted: SVG whose <use>/url(#…) references end")
            if s is None:
                work.append((d, False))
    if cost[id(root)] > SVG_MAX_ELEMENTS:
        raise _svg_too_big(cost[id(root)])


def _svg_too_big(n: int) -> ImageError:
    more = "more than " if n > SVG_MAX_ELEMENTS else ""
    return ImageError(f"SVG expands to {more}{min(n, SVG_MAX_ELEMENTS):,} elements; the limit is "
                      f"{SVG_MAX_ELEMENTS:,} (protection against reference bombs)")


def _decode_svg(data: bytes, *, max_bytes: int, max_pixels: int) -> Image.Image:
    from xml.etree.ElementTree import ParseError

    import defusedxml
    import defusedxml.ElementTree as SafeET

    limit = min(max_bytes, SVG_MAX_BYTES)
    if len(data) > limit:
        raise ImageError(f"SVG is {human_size(len(data))}; the limit for SVG is "
                         f"{human_size(limit)}")
    try:
        root = SafeET.fromstring(data, forbid_dtd=False, forbid_entities=True,
                                 forbid_external=True)
    except defusedxml.EntitiesForbidden:
        raise ImageError("SVG declares XML entities, which are refused (they can expand to "
                         "gigabytes: the 'billion laughs' attack); accepted: SVG without "
                         "<!ENTITY> declarations") from None
    except (defusedxml.ExternalReferenceForbidden, defusedxml.DTDForbidden):
        raise ImageError("SVG refers to an external DTD or entity, which is refused; "
                         "accepted: self-contained SVG") from None
    except (ParseError, ValueError) as exc:
        raise ImageError(f"SVG is not well-formed XML ({short_error(exc)})") from None
    tag = root.tag.rsplit("}", 1)[-1] if isinstance(root.tag, str) else ""
    if tag != "svg":
        raise ImageError(f"XML document's root is <{tag}>, not <svg>; accepted: {ACCEPTED}")
    _svg_check_tree(root)

    w, h = _svg_length(root.get("width")), _svg_length(root.get("height"))
    vb = _svg_viewbox(root.get("viewBox"))
    if vb:
        if w is None and h is None:
            w, h = vb[2], vb[3]
        elif w is None:
            w = h * vb[2] / vb[3]
        elif h is None:
            h = w * vb[3] / vb[2]
    if w is None or h is None or not (math.isfinite(w) and math.isfinite(h)):
        raise ImageError("SVG has no usable size: give the <svg> element width and height "
                         "(or a viewBox)")
    if w <= 0 or h <= 0:
        raise ImageError(f"SVG declares a size of {w:g}x{h:g}: it has no pixels to classify")
    check_dims(max(1, round(w)), max(1, round(h)), max_pixels)

    scale = SVG_RENDER_SIDE / max(w, h)
    out_w, out_h = max(1, round(w * scale)), max(1, round(h * scale))
    from cairosvg.surface import PNGSurface

    try:  # (cairosvg.svg2png does not pass url_fetcher on; PNGSurface.convert does)
        png = PNGSurface.convert(bytestring=data, url_fetcher=_refuse_fetch, unsafe=False,
                                 output_width=out_w, output_height=out_h,
                                 background_color="white")
    except _RefusedFetch as exc:
        raise ImageError(f"SVG refers to an outside resource ({short_error(exc)}); only "
                         "self-contained SVG is accepted (nothing is fetched)") from None
    except Exception as exc:  # noqa: BLE001 - cairosvg raises many types on odd documents
        raise ImageError(f"could not render this SVG ({type(exc).__name__}: {short_error(exc)})") \
            from None
    img = Image.open(io.BytesIO(png), formats=("PNG",))
    img.load()
    return img


# ----------------------------------------------------------------------------- reference image


def reference_jpeg(width: int = 640, height: int = 480) -> bytes:
    """A deterministic photo-sized JPEG (gradient + noise) for end-to-end latency."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.stack([xx * 255 // width, yy * 255 // height, (xx + yy) * 255 // (width + height)], -1)
    pixels = np.clip(base + rng.integers(-20, 20, base.shape), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "JPEG", quality=90)
    return buf.getvalue()
