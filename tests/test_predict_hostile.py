"""Untrusted input: every hostile file ends in a correct answer or a clear ImageError, fast.

The files come from tests/hostile/generate.py and are written to ``tmp_path`` at test time.
``pytest-timeout`` fails any case that hangs (decompression bombs, billion laughs, use-bombs).
"""

from __future__ import annotations

import io
import os
import warnings

import numpy as np
import pytest
from hostile import CASES
from hostile.generate import encode, noise, svg_css_import, svg_image_href
from PIL import Image

from wic.serving import ACCEPTED, MAX_BYTES, ImageError, images, load_image, to_model_input

pytestmark = pytest.mark.timeout(20)

REFUSED = [c for c in CASES if c.refuse]
DECODED = [c for c in CASES if not c.refuse]


def _refused(src, **kw) -> str:
    with pytest.raises(ImageError) as info:
        load_image(src, **kw)
    msg = str(info.value)
    assert "\n" not in msg and "Traceback" not in msg and len(msg) < 300, msg
    return msg


@pytest.mark.timeout(5)
@pytest.mark.parametrize("case", REFUSED, ids=lambda c: c.name)
def test_hostile_file_is_refused_with_a_clear_message(case, tmp_path):
    path = tmp_path / f"upload{case.suffix}"
    path.write_bytes(case.make())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no DecompressionBombWarning (or any other) may escape
        for src in (path, str(path), path.read_bytes(), io.BytesIO(path.read_bytes())):
            msg = _refused(src)
            for word in case.refuse:
                assert word in msg, f"{case.name}: {word!r} not in {msg!r}"


@pytest.mark.parametrize("case", DECODED, ids=lambda c: c.name)
def test_awkward_but_valid_file_decodes_to_rgb(case, tmp_path):
    path = tmp_path / f"upload{case.suffix}"
    path.write_bytes(case.make())
    img = load_image(path)
    assert img.mode == "RGB" and min(img.size) >= 1
    x = to_model_input(img)
    assert x.shape == (32, 32, 3) and x.dtype == np.uint8


def test_not_an_image_message_names_what_it_saw_and_what_is_accepted():
    msg = _refused(b"%PDF-1.4\n")
    assert msg == f"not an image we can read (looks like a PDF document); accepted: {ACCEPTED}"


# ----------------------------------------------------------------------------- size limits


def test_size_limit_with_a_small_override():
    data = encode(noise(), "PNG")
    assert load_image(data, max_bytes=len(data)).size == (64, 48)
    for src in (data, bytearray(data), memoryview(data), io.BytesIO(data)):
        msg = _refused(src, max_bytes=len(data) - 1)
        assert msg.endswith(f"is {len(data):,} bytes; the limit is {len(data) - 1:,} bytes") or (
            "larger than" in msg and "limit is" in msg), msg


def test_file_over_50_mb_is_refused_from_its_size_before_decoding(tmp_path, monkeypatch):
    path = tmp_path / "huge.png"
    with open(path, "wb") as fh:  # sparse: a PNG signature, then 61.2 MB of nothing
        fh.write(encode(noise(), "PNG"))
        fh.truncate(int(61.2 * 1024**2))
    opened = []
    monkeypatch.setattr(images.Image, "open", lambda *a, **k: opened.append(a))
    monkeypatch.setattr("builtins.open", lambda *a, **k: opened.append(a))  # nor even read
    msg = _refused(path)
    assert msg == "file is 61.2 MB; the limit is 50 MB"
    assert not opened
    monkeypatch.undo()
    big = b"\xff\xd8\xff" + bytes(MAX_BYTES)  # an over-limit upload held in memory
    assert "the limit is 50 MB" in _refused(big)


def test_pixel_limit_is_a_per_call_override():
    data = encode(noise(100, 100), "PNG")
    msg = _refused(data, max_pixels=9_999)
    assert "100x100" in msg and "limit is 9,999 pixels" in msg
    assert load_image(data, max_pixels=10_000).size == (100, 100)


# ----------------------------------------------------------------------------- paths


def test_missing_path(tmp_path):
    assert "file not found" in _refused(tmp_path / "nope.jpg")


def test_odd_path_strings():
    assert "not a valid file path" in _refused("photo\x00.jpg")
    assert "file not found" in _refused("~no_such_user_wic/photo.jpg")
    assert "File name too long" in _refused("x" * 5000)  # and the message stays short


def test_directory_path(tmp_path):
    msg = _refused(tmp_path)
    assert "is a folder" in msg and "accepted" in msg


def test_unreadable_path(tmp_path, monkeypatch):
    path = tmp_path / "secret.png"
    path.write_bytes(encode(noise(), "PNG"))
    if os.geteuid() != 0:
        path.chmod(0)
    else:  # root reads anything: make open() fail the way it fails for everyone else
        def deny(*a, **k):
            raise PermissionError(13, "Permission denied")
        monkeypatch.setattr("builtins.open", deny)
    assert "permission denied" in _refused(path)


def test_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    assert "not a regular file" in _refused(fifo)


def test_text_mode_file_object_and_unknown_types(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("hello")
    with open(path) as fh:
        assert "text mode" in _refused(fh)
    assert "cannot read an image from int" in _refused(42)
    assert "cannot read an image from NoneType" in _refused(None)


# ----------------------------------------------------------------------------- SVG fences


def test_svg_external_resources_are_never_fetched(tmp_path, monkeypatch):
    secret = tmp_path / "secret.png"
    secret.write_bytes(encode(Image.new("RGB", (10, 10), (255, 0, 0)), "PNG"))
    import cairosvg.url

    fetched = []
    monkeypatch.setattr(cairosvg.url, "fetch", lambda *a: fetched.append(a) or b"")
    monkeypatch.setattr(cairosvg.url, "safe_fetch", lambda *a: fetched.append(a) or b"")
    for svg in (svg_image_href(secret.as_uri()), svg_css_import(secret.as_uri()),
                svg_image_href("http://127.0.0.1:9/track.png")):
        assert "outside resource" in _refused(svg)
    assert fetched == []


def test_svg_url_fetcher_refuses_everything():
    for url in ("file:///etc/passwd", "http://example.com/x.png", "data:image/png;base64,AA=="):
        with pytest.raises(images._RefusedFetch):
            images._refuse_fetch(url, "image/*")


@pytest.mark.timeout(5)
def test_svg_billion_laughs_is_refused_fast():
    from hostile.generate import svg_billion_laughs

    msg = _refused(svg_billion_laughs(levels=12))  # 10**11 "lol"s if expanded
    assert "billion laughs" in msg


def test_svg_text_size_limit():
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"><!--' + b"x" * (
        images.SVG_MAX_BYTES) + b"--></svg>"
    assert "limit for SVG is 2 MB" in _refused(svg)


def test_benign_svg_renders_at_a_bounded_size_with_its_colours():
    from hostile.generate import SVG_BENIGN

    img = load_image(SVG_BENIGN)  # declares 64x64; rendered at SVG_RENDER_SIDE
    assert img.size == (images.SVG_RENDER_SIDE, images.SVG_RENDER_SIDE)
    assert img.getpixel((256, 256)) == (255, 0, 0) and img.getpixel((5, 5)) == (0, 0, 255)


def test_message_words_come_from_wic_files():
    from wic.files import clip, human_size, short_error

    assert [human_size(n) for n in (512, 3482, 50 * 1024**2, int(1.5 * 1024**2))] == \
        ["512 bytes", "3.4 KB", "50 MB", "1.5 MB"]
    assert clip("x" * 10, 5) == "xxxx…" and clip("short", 5) == "short"
    assert short_error(ValueError("a\n  b\tc")) == "a b c"
    assert short_error(KeyError()) == "KeyError" and len(short_error(ValueError("y" * 500))) == 120
