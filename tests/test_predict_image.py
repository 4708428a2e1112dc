"""load_image / to_model_input on valid input: modes, arrays, orientation, frames, resizing."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hostile.generate import (
    animated,
    cmyk_jpeg,
    encode,
    exif_rotated_jpeg,
    noise,
    palette_transparent_png,
    png16_gray,
    png16_rgb,
)
from PIL import Image

from wic.serving import ImageError, load_image, to_model_input

pytestmark = pytest.mark.timeout(20)


def near(a, b, tol=6):
    return all(abs(int(x) - int(y)) <= tol for x, y in zip(a, b, strict=True))


def test_exif_orientation_is_applied():
    img = load_image(exif_rotated_jpeg(6))  # stored 40x20 red|blue, displayed rotated 90° CW
    assert img.size == (20, 40)
    assert near(img.getpixel((10, 5)), (255, 0, 0)) and near(img.getpixel((10, 35)), (0, 0, 255))


@pytest.mark.parametrize("fmt", ["GIF", "PNG", "WEBP"])
def test_animation_gives_its_first_frame(fmt):
    img = load_image(animated(fmt))
    assert near(img.getpixel((16, 16)), (255, 0, 0), tol=10)


def test_16_bit_is_scaled_not_clipped():
    img = load_image(png16_gray())
    assert img.getpixel((4, 4)) == (128, 128, 128) and img.getpixel((28, 4)) == (255, 255, 255)
    assert load_image(png16_rgb()).getpixel((0, 0)) == (255, 0, 128)


def test_cmyk_jpeg_becomes_rgb():
    assert near(load_image(cmyk_jpeg()).getpixel((16, 16)), (0, 255, 255), tol=10)


def test_palette_transparency_is_composited_on_white():
    img = load_image(palette_transparent_png())
    assert img.getpixel((4, 4)) == (255, 255, 255) and img.getpixel((28, 4)) == (0, 255, 0)


@pytest.mark.parametrize("mode", ["1", "L", "LA", "La", "P", "PA", "RGBA", "RGBa", "CMYK",
                                  "YCbCr", "HSV", "LAB", "I", "I;16", "I;16B", "F"])
def test_every_pillow_mode_becomes_rgb(mode):
    img = Image.new(mode, (8, 6))
    out = load_image(img)
    assert out.mode == "RGB" and out.size == (8, 6)


def test_alpha_is_composited_on_white():
    rgba = Image.new("RGBA", (4, 4), (255, 0, 0, 0))
    assert load_image(rgba).getpixel((0, 0)) == (255, 255, 255)
    assert load_image(encode(Image.new("LA", (4, 4), (0, 128)), "PNG")).getpixel((0, 0)) == (
        127, 127, 127)


def test_grayscale_gives_equal_channels():
    r, g, b = load_image(Image.new("L", (4, 4), 77)).getpixel((1, 1))
    assert r == g == b == 77


@pytest.mark.parametrize("array, pixel", [
    (np.full((8, 8), 200, np.uint8), (200, 200, 200)),
    (np.full((8, 8, 1), 200, np.uint8), (200, 200, 200)),
    (np.full((8, 8, 3), [1, 2, 3], np.uint8), (1, 2, 3)),
    (np.full((8, 8, 4), [255, 0, 0, 0], np.uint8), (255, 255, 255)),
    (np.full((8, 8, 3), 0x8000, np.uint16), (128, 128, 128)),
    (np.full((8, 8, 3), 0.5, np.float32), (128, 128, 128)),
    (np.full((8, 8, 3), 1.0, np.float64), (255, 255, 255)),
    (np.ones((8, 8), bool), (255, 255, 255)),
    (np.full((8, 8, 3), 9, np.int64), (9, 9, 9)),
])
def test_numpy_arrays(array, pixel):
    assert load_image(array).getpixel((3, 3)) == pixel


@pytest.mark.parametrize("array, words", [
    (np.zeros((1, 32, 32, 3), np.uint8), "not a batch"),
    (np.zeros((8, 8, 2), np.uint8), "accepted: (H, W)"),
    (np.zeros((0, 8, 3), np.uint8), "no pixels"),
    (np.full((8, 8, 3), 2.0), "[0, 1]"),
    (np.full((8, 8, 3), np.nan), "NaN"),
    (np.full((8, 8, 3), 300, np.int32), "0..255"),
    (np.zeros((8, 8, 3), complex), "dtype"),
])
def test_bad_numpy_arrays(array, words):
    with pytest.raises(ImageError, match=None) as info:
        load_image(array)
    assert words in str(info.value)


def test_file_object_and_upload_dict():
    data = encode(noise(), "PNG")
    assert load_image(io.BytesIO(data)).size == (64, 48)
    assert load_image({"name": "x.png", "content": memoryview(data)}).size == (64, 48)


# ----------------------------------------------------------------------------- model input


def test_32x32_passes_through_exactly():
    a = np.random.default_rng(0).integers(0, 256, (32, 32, 3), np.uint8)
    assert np.array_equal(to_model_input(load_image(encode(Image.fromarray(a), "PNG"))), a)
    assert np.array_equal(to_model_input(a), a)


def test_crop_keeps_the_centre_and_squash_keeps_everything():
    a = np.zeros((32, 96, 3), np.uint8)  # red | green | blue thirds, the subject in the middle
    a[:, :32, 0] = a[:, 32:64, 1] = a[:, 64:, 2] = 255
    crop = to_model_input(Image.fromarray(a))
    assert crop.shape == (32, 32, 3) and (crop[..., 1] == 255).all() and crop[..., [0, 2]].max() == 0
    squash = to_model_input(Image.fromarray(a), fit="squash")
    assert squash[16, 2, 0] > 200 and squash[16, 16, 1] > 200 and squash[16, 29, 2] > 200
    with pytest.raises(ValueError, match="accepted"):
        to_model_input(Image.fromarray(a), fit="stretch")


def test_downscaling_is_anti_aliased():
    checker = (np.indices((320, 320)).sum(0) % 2 * 255).astype(np.uint8)  # 1-px checkerboard
    x = to_model_input(Image.fromarray(checker))
    assert abs(x.mean() - 127.5) < 3 and x.std() < 3  # an aliased resize gives black/white


@pytest.mark.parametrize("side", [40, 64, 333, 1000])
def test_an_enlarged_32px_picture_comes_back_as_it_was(side):
    """A 32x32 picture enlarged (bicubic) and reduced again: the restore step undoes the blur.

    Pixel noise, the hardest case: without the restore the mean error is ~17-22 levels of 255,
    with it under 1 (what is left is the enlargement's clipping of overshoots).
    """
    a = np.random.default_rng(side).integers(0, 256, (32, 32, 3), np.uint8)
    big = Image.fromarray(a).resize((side, side), Image.Resampling.BICUBIC)
    plain = np.abs(to_model_input(big, restore=False).astype(float) - a).mean()
    restored = np.abs(to_model_input(big).astype(float) - a).mean()
    assert restored < 1.0 and plain > 10 * restored, (plain, restored)
    flat = to_model_input(Image.new("RGB", (side, side), (10, 200, 30)))
    assert (flat == (10, 200, 30)).all()  # nothing to restore in a flat picture


def test_small_images_are_upscaled():
    x = to_model_input(Image.new("RGB", (8, 8), (10, 200, 30)))
    assert x.shape == (32, 32, 3) and near(x[16, 16], (10, 200, 30), tol=2)


def test_draft_decodes_big_jpegs_at_reduced_scale():
    big = encode(noise(2048, 1536), "JPEG", quality=80)
    assert load_image(big).size == (2048, 1536)
    small = load_image(big, draft=256)
    assert small.size == (256, 192) or min(small.size) >= 256
    assert small.size[0] < 2048
