"""Every hostile/awkward input as a function returning bytes, plus the verdict we expect.

A :class:`Case` either must be refused (``refuse`` holds words the ImageError message must
contain) or must decode (``refuse`` is empty). Images are drawn with PIL or assembled chunk by
chunk (for headers PIL would refuse to write), so nothing binary is committed.
"""

from __future__ import annotations

import io
import struct
import sys
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

ACCEPTED_WORDS = ("JPEG", "PNG", "SVG")  # the accepted list, as a message must spell it


# ----------------------------------------------------------------------------- raster helpers


def encode(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def noise(w: int = 64, h: int = 48, seed: int = 0) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), np.uint8))


def _chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def raw_png(width: int, height: int, *, depth: int = 8, color_type: int = 0,
            rows: bytes = b"") -> bytes:
    """A PNG assembled by hand: any declared size, with whatever (little) pixel data we give."""
    ihdr = struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(rows))
            + _chunk(b"IEND", b""))


def bomb_png(side: int = 30000) -> bytes:
    """A ~60-byte PNG that declares side x side pixels (a decompression bomb's header)."""
    return raw_png(side, side)


def thin_png(width: int = 1, height: int = 100_000) -> bytes:
    return raw_png(width, height, rows=b"\x00\x80" * height)  # filter byte + 1 gray pixel a row


def zero_size_png() -> bytes:
    return raw_png(0, 10)


def truncated(data: bytes, keep: float = 0.5) -> bytes:
    return data[: int(len(data) * keep)]


def animated(fmt: str) -> bytes:
    """Two frames: red then blue (the first frame must win)."""
    frames = [Image.new("RGB", (32, 32), c) for c in ((255, 0, 0), (0, 0, 255))]
    return encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)


def png16_gray() -> bytes:
    """16-bit grayscale: left half 0x8000 (→ 128 when scaled), right half 0xFFFF (→ 255)."""
    a = np.full((16, 32), 0xFFFF, np.uint16)
    a[:, :16] = 0x8000
    return encode(Image.fromarray(a), "PNG")


def png16_rgb() -> bytes:
    row = b"\x00" + (b"\xff\xff\x00\x00\x80\x00") * 8  # (65535, 0, 32768) per pixel
    return raw_png(8, 8, depth=16, color_type=2, rows=row * 8)


def cmyk_jpeg() -> bytes:
    return encode(Image.new("CMYK", (32, 32), (255, 0, 0, 0)), "JPEG", quality=95)  # cyan


def palette_transparent_png() -> bytes:
    """Palette image: left half index 0 (red, but transparent), right half index 1 (green)."""
    img = Image.new("P", (32, 32), 1)
    img.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    img.paste(0, (0, 0, 16, 32))
    return encode(img, "PNG", transparency=0)


def exif_rotated_jpeg(orientation: int = 6) -> bytes:
    """Stored landscape 40x20, left half red, right half blue, EXIF says rotate 90° CW."""
    img = Image.new("RGB", (40, 20), (0, 0, 255))
    img.paste((255, 0, 0), (0, 0, 20, 20))
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(img, "JPEG", quality=95, exif=exif.tobytes())


def grayscale_png() -> bytes:
    return encode(Image.linear_gradient("L").resize((64, 64)), "PNG")


def zip_bytes() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("photo.jpg", b"not really")
    return buf.getvalue()


# ----------------------------------------------------------------------------- SVG

SVG_BENIGN = (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="64" '
              b'height="64"><rect width="64" height="64" fill="#00f"/>'
              b'<circle cx="32" cy="32" r="16" fill="#f00"/></svg>')


def svg_image_href(href: str) -> bytes:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
            f'width="10" height="10"><image xlink:href="{href}" width="10" height="10"/></svg>'
            ).encode()


def svg_css_import(url: str) -> bytes:
    """CSS ``@import "url"``: the form cairosvg follows (it skips a quoted ``url("…")``)."""
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><style>'
            f'@import "{url}";</style><rect width="10" height="10"/></svg>').encode()


def svg_billion_laughs(levels: int = 10) -> bytes:
    ents = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, levels)]
    return (f'<?xml version="1.0"?>\n<!DOCTYPE svg [{"".join(ents)}]>\n'
            f'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
            f'<text>&lol{levels - 1};</text></svg>').encode()


def svg_xxe(path: str = "/etc/passwd") -> bytes:
    return (f'<?xml version="1.0"?>\n<!DOCTYPE svg [<!ENTITY x SYSTEM "file://{path}">]>\n'
            f'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><text>&x;</text>'
            f'</svg>').encode()


def svg_use_bomb(levels: int = 9, fan: int = 10) -> bytes:
    """<use> references that fan out: fan**levels rectangles from a few hundred bytes."""
    defs = ['<g id="g0"><rect width="1" height="1"/></g>'] + [
        f'<g id="g{i}">' + f'<use href="#g{i - 1}"/>' * fan + "</g>" for i in range(1, levels)]
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><defs>{"".join(defs)}'
            f'</defs><use href="#g{levels - 1}"/></svg>').encode()


def svg_use_cycle() -> bytes:
    return (b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
            b'<g id="a"><use href="#b"/></g><g id="b"><use href="#a"/></g></svg>')


def svg_deep(depth: int = 5000) -> bytes:
    return (b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">' + b"<g>" * depth
            + b"</g>" * depth + b"</svg>")


def svg_sized(width: str, height: str, extra: str = "") -> bytes:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" {extra}>'
            f'<rect width="10" height="10" fill="#0f0"/></svg>').encode()


# ----------------------------------------------------------------------------- the cases


@dataclass(frozen=True)
class Case:
    name: str
    make: Callable[[], bytes]
    refuse: tuple[str, ...] = ()  # words the ImageError must contain; empty: must decode
    suffix: str = ".bin"


CASES: tuple[Case, ...] = (
    Case("empty", lambda: b"", ("empty", *ACCEPTED_WORDS)),
    Case("text", lambda: b"Dear diary,\nthis is not a picture of a cat.\n" * 20,
         ("looks like text", *ACCEPTED_WORDS), ".txt"),
    Case("pdf", lambda: b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n",
         ("PDF", *ACCEPTED_WORDS), ".pdf"),
    Case("zip", zip_bytes, ("ZIP", *ACCEPTED_WORDS), ".zip"),
    Case("html", lambda: b"<!DOCTYPE html><html><body><svg></svg></body></html>",
         ("HTML", *ACCEPTED_WORDS), ".html"),
    Case("random", lambda: np.random.default_rng(1).bytes(4096),
         ("not an image", *ACCEPTED_WORDS)),
    Case("truncated_png", lambda: truncated(encode(noise(), "PNG")), ("PNG", "truncated"), ".png"),
    Case("truncated_jpeg", lambda: truncated(encode(noise(), "JPEG")), ("JPEG", "truncated"),
         ".jpg"),
    Case("png_header_only", lambda: encode(noise(), "PNG")[:30], ("PNG",), ".png"),
    Case("bomb_png_30000", bomb_png, ("900 megapixels", "limit is 50 megapixels"), ".png"),
    Case("bomb_png_10000", lambda: bomb_png(10_000), ("10000x10000", "limit is 50 megapixels"),
         ".png"),
    Case("bomb_png_100000", lambda: bomb_png(100_000), ("limit", "decompression"), ".png"),
    Case("thin_1x100000", thin_png, ("1x100000", "20:1"), ".png"),
    Case("zero_width_png", zero_size_png, ("PNG", "corrupt"), ".png"),
    Case("svg_billion_laughs", svg_billion_laughs, ("entities", "billion laughs"), ".svg"),
    Case("svg_xxe", svg_xxe, ("entit",), ".svg"),
    Case("svg_file_image", lambda: svg_image_href("file:///etc/passwd"),
         ("outside resource", "self-contained"), ".svg"),
    Case("svg_http_image", lambda: svg_image_href("http://127.0.0.1:9/x.png"),
         ("outside resource",), ".svg"),
    Case("svg_data_image", lambda: svg_image_href("data:image/png;base64,iVBORw0KGgo="),
         ("outside resource",), ".svg"),
    Case("svg_relative_image", lambda: svg_image_href("secret.png"), ("outside resource",),
         ".svg"),
    Case("svg_css_import", lambda: svg_css_import("file:///etc/passwd"), ("outside resource",),
         ".svg"),
    Case("svg_use_bomb", svg_use_bomb, ("elements", "limit"), ".svg"),
    Case("svg_use_cycle", svg_use_cycle, ("cycle",), ".svg"),
    Case("svg_deep_nesting", svg_deep, ("deep",), ".svg"),
    Case("svg_huge_declared", lambda: svg_sized("1000000", "1000000"), ("limit", "megapixels"),
         ".svg"),
    Case("svg_infinite_size", lambda: svg_sized("1e999", "10"), ("size",), ".svg"),
    Case("svg_zero_size", lambda: svg_sized("0", "10"), ("no pixels",), ".svg"),
    Case("svg_no_size", lambda: svg_sized("100%", "100%"), ("size",), ".svg"),
    Case("svg_malformed", lambda: b"<svg xmlns='http://www.w3.org/2000/svg'><rect></svg>",
         ("well-formed",), ".svg"),
    Case("svg_not_svg_root", lambda: b"<?xml version='1.0'?><note><svg/></note>", ("<svg>",),
         ".svg"),
    # awkward but valid: must decode to an RGB image
    Case("svg_benign", lambda: SVG_BENIGN, (), ".svg"),
    Case("svg_viewbox_only", lambda: svg_sized("100%", "100%", 'viewBox="0 0 40 20"'), (),
         ".svg"),
    Case("animated_gif", lambda: animated("GIF"), (), ".gif"),
    Case("animated_png", lambda: animated("PNG"), (), ".png"),
    Case("png16_gray", png16_gray, (), ".png"),
    Case("png16_rgb", png16_rgb, (), ".png"),
    Case("cmyk_jpeg", cmyk_jpeg, (), ".jpg"),
    Case("palette_transparent", palette_transparent_png, (), ".png"),
    Case("exif_rotated_jpeg", exif_rotated_jpeg, (), ".jpg"),
    Case("grayscale_png", grayscale_png, (), ".png"),
    Case("webp", lambda: encode(noise(), "WEBP"), (), ".webp"),
    Case("bmp", lambda: encode(noise(), "BMP"), (), ".bmp"),
    Case("tiff", lambda: encode(noise(), "TIFF"), (), ".tif"),
)


def write_all(out_dir: str | Path) -> list[Path]:
    """Write every case to ``out_dir`` (for manual or browser testing); returns the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for case in CASES:
        path = out / f"{case.name}{case.suffix}"
        path.write_bytes(case.make())
        paths.append(path)
    return paths


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python tests/hostile/generate.py OUT_DIR")
    for p in write_all(sys.argv[1]):
        print(p)
