"""CIFAR-10-C (regenerated): shapes, determinism, severity ordering, faithfulness, benchmark.

Everything runs on synthetic images (no dataset), in a few seconds.
"""

from __future__ import annotations

import colorsys

import numpy as np
import pytest
from scipy import ndimage

from wic.evaluation import corruptions as C

RANDOM = ("gaussian_noise", "shot_noise", "impulse_noise", "glass_blur", "motion_blur", "snow",
          "frost", "fog", "elastic_transform")
DETERMINISTIC = tuple(c for c in C.CORRUPTIONS if c not in RANDOM)


def smooth_images(n: int, seed: int = 0) -> np.ndarray:
    """Natural-ish images: a colour gradient with a few flat ellipses / boxes, lightly blurred.

    (On noise-like images every blur looks harmless, so severity ordering is tested on these.)
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:32, 0:32].astype(np.float64)
    out = np.empty((n, 32, 32, 3))
    for i in range(n):
        angle = rng.uniform(0, 2 * np.pi)
        g = ((np.cos(angle) * (xx - 15.5) + np.sin(angle) * (yy - 15.5)) / 44 + 0.5)[..., None]
        img = rng.uniform(0.2, 0.8, 3) * (1 - g) + rng.uniform(0.2, 0.8, 3) * g
        for _ in range(rng.integers(2, 5)):
            cy, cx = rng.uniform(4, 28, 2)
            ry, rx = rng.uniform(3, 10, 2)
            if rng.random() < 0.5:
                mask = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
            else:
                mask = (np.abs(yy - cy) < ry) & (np.abs(xx - cx) < rx)
            img[mask] = rng.uniform(0.05, 0.95, 3)
        out[i] = ndimage.gaussian_filter(img, (0.8, 0.8, 0))
    return np.clip(out * 255, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def clean() -> np.ndarray:
    return smooth_images(160)


@pytest.fixture(scope="module")
def corrupted(clean) -> dict[tuple[str, int], np.ndarray]:
    """Every (corruption, severity) of the clean images, seed 0 (computed once)."""
    return {(c, s): C.corrupt(clean, c, s, seed=0) for c in C.CORRUPTIONS for s in C.SEVERITIES}


def mad(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).mean())


# ----------------------------------------------------------------------------- constants


def test_names_families_and_severities():
    assert C.CORRUPTIONS == (
        "gaussian_noise", "shot_noise", "impulse_noise",
        "defocus_blur", "glass_blur", "motion_blur", "zoom_blur",
        "snow", "frost", "fog",
        "brightness", "contrast", "elastic_transform", "pixelate", "jpeg_compression")
    assert C.SEVERITIES == (1, 2, 3, 4, 5)
    assert list(C.FAMILIES) == list(C.CORRUPTIONS)
    families = {f: [c for c in C.CORRUPTIONS if C.FAMILIES[c] == f] for f in set(C.FAMILIES.values())}
    assert families == {
        "noise": ["gaussian_noise", "shot_noise", "impulse_noise"],
        "blur": ["defocus_blur", "glass_blur", "motion_blur", "zoom_blur"],
        "weather": ["snow", "frost", "fog", "brightness"],     # the paper's grouping
        "digital": ["contrast", "elastic_transform", "pixelate", "jpeg_compression"],
    }


def test_published_cifar_tables():
    """Spot checks against make_cifar_c.py (these differ from the ImageNet-C tables)."""
    assert C._TABLES["gaussian_noise"] == (0.04, 0.06, 0.08, 0.09, 0.10)
    assert C._TABLES["shot_noise"] == (500, 250, 100, 75, 50)
    assert C._TABLES["jpeg_compression"] == (80, 65, 58, 50, 40)
    assert [len(z) for z in C._TABLES["zoom_blur"]] == [7, 12, 16, 21, 26]
    assert all(len(C._TABLES[c]) == 5 for c in C.CORRUPTIONS)


# ----------------------------------------------------------------------------- contract


def test_shape_dtype_and_input_untouched(clean, corrupted):
    before = clean.copy()
    for (name, severity), out in corrupted.items():
        assert out.shape == clean.shape and out.dtype == np.uint8, (name, severity)
        assert not np.shares_memory(out, clean)
    np.testing.assert_array_equal(clean, before)


def test_every_corruption_changes_the_images(clean, corrupted):
    for name in C.CORRUPTIONS:
        assert mad(corrupted[name, 5], clean) > 0.5, name


def test_empty_batch_and_odd_sizes_across_blocks(clean):
    assert C.corrupt(clean[:0], "fog", 3).shape == (0, 32, 32, 3)
    # more images than one random-stream block, and a ragged last block
    x = np.concatenate([clean, clean, clean])[: C._BLOCK + 7]
    out = C.corrupt(x, "gaussian_noise", 2, seed=4)
    assert out.shape == x.shape
    np.testing.assert_array_equal(out, C.corrupt(x, "gaussian_noise", 2, seed=4))


@pytest.mark.parametrize("name", C.CORRUPTIONS)
def test_deterministic_for_a_seed(clean, name):
    x = clean[:24]
    a = C.corrupt(x, name, 3, seed=7)
    np.testing.assert_array_equal(a, C.corrupt(x, name, 3, seed=7))
    b = C.corrupt(x, name, 3, seed=8)
    if name in RANDOM:
        assert not np.array_equal(a, b), f"{name} ignores the seed"
    else:
        np.testing.assert_array_equal(a, b)


def test_same_result_with_and_without_threads(clean, monkeypatch):
    x = np.concatenate([clean, clean])[: C._BLOCK + 30]
    threaded = C.corrupt(x, "snow", 4, seed=1)
    monkeypatch.setattr(C, "_WORKERS", 1)
    np.testing.assert_array_equal(threaded, C.corrupt(x, "snow", 4, seed=1))


@pytest.mark.parametrize("bad", ["blurry", "Gaussian Noise", "", None, 3])
def test_bad_name_is_a_value_error_naming_it(clean, bad):
    with pytest.raises(ValueError, match="unknown corruption") as err:
        C.corrupt(clean[:2], bad, 1)
    assert repr(bad) in str(err.value) and "gaussian_noise" in str(err.value)


@pytest.mark.parametrize("bad", [0, 6, -1, 2.5, "3", True, None])
def test_bad_severity_is_a_value_error_naming_it(clean, bad):
    with pytest.raises(ValueError, match="severity") as err:
        C.corrupt(clean[:2], "fog", bad)
    assert repr(bad) in str(err.value) and "[1, 2, 3, 4, 5]" in str(err.value)


@pytest.mark.parametrize("bad", [
    np.zeros((2, 32, 32, 3), np.float32),
    np.zeros((32, 32, 3), np.uint8),
    np.zeros((2, 28, 28, 3), np.uint8),
    np.zeros((2, 32, 32, 1), np.uint8),
    [[0]],
])
def test_bad_images_are_a_value_error(bad):
    with pytest.raises(ValueError, match=r"\(N, 32, 32, 3\)"):
        C.corrupt(bad, "contrast", 1)


def test_bad_seed_is_a_value_error(clean):
    with pytest.raises(ValueError, match="seed"):
        C.corrupt(clean[:2], "fog", 1, seed=-1)


# ----------------------------------------------------------------------------- severity


MAD_MONOTONE = tuple(c for c in C.CORRUPTIONS
                     if c not in ("motion_blur", "frost", "elastic_transform"))


@pytest.mark.parametrize("name", MAD_MONOTONE)
def test_damage_grows_with_severity(clean, corrupted, name):
    damage = [mad(corrupted[name, s], clean) for s in C.SEVERITIES]
    assert all(np.diff(damage) > 0), (name, np.round(damage, 3))


def test_motion_blur_damage_grows_except_the_published_3_4_tie(clean, corrupted):
    # published (radius, sigma): (6, 2) and (8, 2) -- the extra taps of radius 8 weigh < 1e-9,
    # so with the same angles (same seed) severities 3 and 4 are the same images
    damage = [mad(corrupted["motion_blur", s], clean) for s in C.SEVERITIES]
    assert damage[0] < damage[1] < damage[2] and damage[3] < damage[4]
    assert damage[3] == pytest.approx(damage[2], rel=1e-3)


def correlation_loss(clean: np.ndarray, out: np.ndarray) -> float:
    a = clean.reshape(len(clean), -1).astype(np.float64)
    b = out.reshape(len(out), -1).astype(np.float64)
    a -= a.mean(1, keepdims=True)
    b -= b.mean(1, keepdims=True)
    r = (a * b).sum(1) / np.sqrt((a * a).sum(1) * (b * b).sum(1))
    return float(1 - r.mean())


def test_frost_hides_more_of_the_image_with_severity(clean, corrupted):
    # frost = c0 * x + c1 * ice: the published image weight falls (1, 1, .9, .85, .75) as the
    # ice weight rises, so the *absolute* difference is not monotone; the share of the image
    # that survives (correlation with the clean image) falls at every step
    loss = [correlation_loss(clean, corrupted["frost", s]) for s in C.SEVERITIES]
    assert all(np.diff(loss) > 0), np.round(loss, 4)


def elastic_displacements(severity: int, n: int = 64):
    """Recover each pixel's source position by corrupting coordinate ramps (R = row, G = col).

    Bilinear sampling of a linear ramp is exact, so the corrupted values *are* the sampled
    positions (to 1/11 px); returns the mean residual after the best affine fit (the elastic
    part) and the mean size of that affine part, in pixels, over the image's centre.
    """
    scale = 255 / 23                                   # ramp over rows / cols 4..27
    rr, cc = np.mgrid[0:32, 0:32]
    ramp = np.stack([np.clip((rr - 4) * scale, 0, 255), np.clip((cc - 4) * scale, 0, 255),
                     np.full((32, 32), 128.0)], -1)
    x = np.repeat(np.round(ramp).astype(np.uint8)[None], n, 0)
    out = C.corrupt(x, "elastic_transform", severity, seed=3).astype(np.float64)
    centre = slice(10, 22)
    grid = np.stack([rr[centre, centre].ravel(), cc[centre, centre].ravel(),
                     np.ones(144)], 1)
    src = np.stack([out[:, centre, centre, 0].reshape(n, -1) / scale + 4,
                    out[:, centre, centre, 1].reshape(n, -1) / scale + 4], -1)
    residual, affine = [], []
    for i in range(n):
        coef, *_ = np.linalg.lstsq(grid, src[i], rcond=None)
        fit = grid @ coef
        residual.append(np.sqrt(((src[i] - fit) ** 2).sum(1)).mean())
        affine.append(np.sqrt(((fit - grid[:, :2]) ** 2).sum(1)).mean())
    return float(np.mean(residual)), float(np.mean(affine))


def test_elastic_transform_follows_its_published_table():
    # published (alpha, sigma, affine range): the elastic part grows (alpha 0 -> 3.2 px,
    # sigma 6.4 -> 0.96 px) while the affine range shrinks (2.56 -> 0.96 px); on smooth images
    # the affine part dominates, so the pixel difference *falls* -- test each part instead
    parts = [elastic_displacements(s) for s in C.SEVERITIES]
    residual = [p[0] for p in parts]
    affine = [p[1] for p in parts]
    assert residual[1] > residual[0] - 0.005           # severity 1 has no elastic part at all
    assert residual[1] < residual[2] < residual[3] < residual[4], np.round(residual, 4)
    assert residual[4] > 0.3
    assert all(np.diff(affine) < 0), np.round(affine, 3)


# ----------------------------------------------------------------------------- calibration


def test_gaussian_noise_std_matches_the_table_on_flat_grey():
    grey = np.full((200, 32, 32, 3), 128, np.uint8)
    for severity, std in ((1, 0.04), (5, 0.10)):
        out = C.corrupt(grey, "gaussian_noise", severity, seed=0).astype(np.float64) / 255
        assert out.std() == pytest.approx(std, rel=0.03)
        # the original truncates to uint8: the mean drops by half a grey level
        assert out.mean() == pytest.approx((128 - 0.5) / 255, abs=0.5 / 255)


def test_brightness_raises_the_mean_and_contrast_lowers_the_spread(clean, corrupted):
    means = [clean.mean()] + [corrupted["brightness", s].mean() for s in C.SEVERITIES]
    assert all(np.diff(means) > 0)
    spreads = [clean.std(axis=(1, 2)).mean()]
    spreads += [corrupted["contrast", s].std(axis=(1, 2)).mean() for s in C.SEVERITIES]
    assert all(np.diff(spreads) < 0)
    # contrast keeps each image's channel means (up to the truncation to uint8)
    shift = corrupted["contrast", 5].mean(axis=(1, 2)) - clean.mean(axis=(1, 2))
    assert np.abs(shift).max() < 1.0


def test_contrast_factor_is_exact():
    x = np.zeros((1, 32, 32, 3), np.uint8)
    x[:, :16] = 200
    x[:, 16:] = 40                      # per-channel mean 120, deviation +-80
    out = C.corrupt(x, "contrast", 2)   # factor 0.5 -> 160 / 80
    assert set(np.unique(out[:, :16])) == {160} and set(np.unique(out[:, 16:])) == {80}


# ----------------------------------------------------------------------------- faithfulness


def test_brightness_matches_an_hsv_round_trip():
    rng = np.random.default_rng(5)
    x = rng.integers(0, 256, (1, 32, 32, 3), dtype=np.uint8)
    x[0, 0, :4] = [[0, 0, 0], [255, 255, 255], [90, 90, 90], [255, 0, 0]]
    out = C.corrupt(x, "brightness", 4)          # V + 0.2
    expect = np.empty_like(x)
    for i, j in np.ndindex(32, 32):
        h, s, v = colorsys.rgb_to_hsv(*(x[0, i, j] / 255.0))
        rgb = colorsys.hsv_to_rgb(h, s, min(v + 0.2, 1.0))
        expect[0, i, j] = np.clip(np.array(rgb), 0, 1) * 255
    assert np.abs(out.astype(int) - expect).max() <= 1      # float rounding at truncation
    assert (out == expect).mean() > 0.97
    assert out[0, 0, 0].tolist() == [51, 51, 51]            # black turns grey V = 0.2


def test_clipped_zoom_matrix_matches_scipy_zoom():
    rng = np.random.default_rng(2)
    img = rng.random((32, 32))
    for zoom in (1.0, 1.03, 1.11, 1.25, 1.75, 2.25):
        ch = int(np.ceil(32 / zoom))
        top = (32 - ch) // 2
        ref = ndimage.zoom(img[top:top + ch, top:top + ch], zoom, order=1)
        trim = (ref.shape[0] - 32) // 2
        ref = ref[trim:trim + 32, trim:trim + 32]
        np.testing.assert_allclose(C._clipped_zoom(img, zoom), ref, atol=1e-12)


@pytest.mark.parametrize("mode", ["reflect", "mirror"])
def test_bilinear_matches_map_coordinates(mode):
    rng = np.random.default_rng(3)
    img = rng.random((2, 32, 32, 3))
    rows = np.mgrid[0:32, 0:32][0] + rng.normal(0, 4, (2, 32, 32))
    cols = np.mgrid[0:32, 0:32][1] + rng.normal(0, 4, (2, 32, 32))
    ours = C._bilinear(img, rows, cols, mode)
    for k in range(2):
        for ch in range(3):
            ref = ndimage.map_coordinates(img[k, :, :, ch], [rows[k], cols[k]], order=1,
                                          mode=mode)
            np.testing.assert_allclose(ours[k, :, :, ch], ref, atol=1e-12)


def test_glass_shuffle_is_the_original_loop():
    """The vectorised pass equals the original pixel loop, NumPy-view "swap" included."""
    rng = np.random.default_rng(4)
    x = rng.integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    dy = rng.integers(-1, 1, (2, 30, 30))
    dx = rng.integers(-1, 1, (2, 30, 30))
    ref = x.copy()
    for k in range(2):
        img = ref[k]
        for h in range(31, 1, -1):
            for w in range(31, 1, -1):
                h2, w2 = h + dy[k, h - 2, w - 2], w + dx[k, h - 2, w - 2]
                img[h, w], img[h2, w2] = img[h2, w2], img[h, w]   # as in make_cifar_c.py
    np.testing.assert_array_equal(C._glass_shuffle(x, dy, dx), ref)


def test_motion_blur_kernel_is_imagemagicks():
    img = np.zeros((1, 32, 32, 1))
    img[0, 16, 20, 0] = 1.0
    out = C._motion_blur(img, radius=6, sigma=2, angles=np.array([0.0]))[0, :, :, 0]
    taps = np.arange(13)
    weights = np.exp(-(taps**2) / 8.0)
    weights /= weights.sum()
    # a pixel averages itself and the pixels *behind* it: the impulse lands to its left
    np.testing.assert_allclose(out[16, 20 - taps], weights)
    assert out.sum() == pytest.approx(1.0) and np.count_nonzero(out) == 13


def test_defocus_kernels_are_normalised_disks():
    for radius, alias in C._TABLES["defocus_blur"]:
        k = C._disk(radius, alias)
        assert k.sum() == pytest.approx(1.0) and k.shape[0] % 2 == 1
        np.testing.assert_allclose(k, k.T)
    np.testing.assert_allclose(C._disk(1.5, 0.1)[1:4, 1:4], np.full((3, 3), 1 / 9), atol=1e-9)


def test_plasma_fractal_is_normalised():
    p = C._plasma_fractal(4, np.random.default_rng(0), wibbledecay=2.0)
    assert p.shape == (4, 32, 32)
    np.testing.assert_allclose(p.min(axis=(1, 2)), 0)
    np.testing.assert_allclose(p.max(axis=(1, 2)), 1)


def test_frost_textures_are_fixed_and_ice_coloured():
    bank = C._frost_bank()
    assert bank.shape == (5, 160, 160, 3) and not bank.flags.writeable
    rgb = bank.mean(axis=(0, 1, 2))
    assert rgb[0] < rgb[1] < rgb[2]                  # blue-white ice
    assert 90 < bank.mean() < 140


# ----------------------------------------------------------------------------- benchmark


def test_benchmark_rows_summary_and_mean():
    rng = np.random.default_rng(0)
    x = smooth_images(30, seed=1)
    y = rng.integers(0, 10, len(x))
    calls = []

    def predict_proba(batch):                        # always says class 3
        assert batch.dtype == np.uint8 and batch.shape[1:] == (32, 32, 3)
        calls.append(len(batch))
        p = np.full((len(batch), 10), 0.05)
        p[:, 3] = 0.55
        return p

    rows = C.benchmark(predict_proba, x, y, batch_size=16, progress=False)
    assert len(rows) == 75
    assert [(r["corruption"], r["severity"]) for r in rows] == [
        (c, s) for c in C.CORRUPTIONS for s in C.SEVERITIES]
    expected = float(np.mean(y == 3))
    for r in rows:
        assert set(r) == {"corruption", "family", "severity", "accuracy", "n"}
        assert r["family"] == C.FAMILIES[r["corruption"]] and r["n"] == 30
        assert r["accuracy"] == pytest.approx(expected)
    assert set(calls) == {16, 14}
    assert C.mean_accuracy(rows) == pytest.approx(expected)

    s = C.summary(rows)
    assert set(s) == {"benchmark", "mean_accuracy", "per_corruption", "per_severity",
                      "n_images"}
    assert s["benchmark"] == "CIFAR-10-C (regenerated)" and s["n_images"] == 30
    assert list(s["per_corruption"]) == list(C.CORRUPTIONS)
    assert list(s["per_severity"]) == [1, 2, 3, 4, 5]
    assert s["mean_accuracy"] == pytest.approx(np.mean(list(s["per_corruption"].values())))
    assert s["mean_accuracy"] == pytest.approx(np.mean(list(s["per_severity"].values())))


def test_benchmark_accuracy_depends_on_the_images_not_the_batching(capsys):
    x = smooth_images(20, seed=2)

    def predict_proba(batch):                        # "class" = mean brightness decile
        cls = (batch.reshape(len(batch), -1).mean(1) // 25.6).astype(int).clip(0, 9)
        return np.eye(10)[cls]

    y = np.argmax(predict_proba(x), 1)               # right on every clean image
    kw = dict(corruptions=("brightness", "contrast", "frost"), severities=(1, 5), seed=3)
    rows = C.benchmark(predict_proba, x, y, batch_size=3, progress=True, **kw)
    assert "CIFAR-10-C" in capsys.readouterr().err   # the tqdm bar
    assert rows == C.benchmark(predict_proba, x, y[:, None], batch_size=100, progress=False,
                               **kw)
    acc = {(r["corruption"], r["severity"]): r["accuracy"] for r in rows}
    assert acc["brightness", 5] < acc["brightness", 1]
    for r in rows:
        xc = C.corrupt(x, r["corruption"], r["severity"], seed=3)
        assert r["accuracy"] == pytest.approx(np.mean(np.argmax(predict_proba(xc), 1) == y))


def test_benchmark_and_summary_reject_bad_input():
    x = smooth_images(4)
    y = np.zeros(4, int)
    ok = lambda b: np.ones((len(b), 10))             # noqa: E731
    with pytest.raises(ValueError, match="'nope'"):
        C.benchmark(ok, x, y, corruptions=("fog", "nope"), progress=False)
    with pytest.raises(ValueError, match="severity"):
        C.benchmark(ok, x, y, severities=(1, 9), progress=False)
    with pytest.raises(ValueError, match="one label per image"):
        C.benchmark(ok, x, y[:3], progress=False)
    with pytest.raises(ValueError, match="predict_proba returned"):
        C.benchmark(lambda b: np.ones(len(b)), x, y, corruptions=("fog",), progress=False)
    with pytest.raises(ValueError):
        C.mean_accuracy([])
    with pytest.raises(ValueError):
        C.summary([])


def test_kept_correctness_gives_the_mean_and_its_standard_error_over_images():
    """keep_correct=True keeps which images each set got right; the per-image shares average to
    the benchmark's mean, and their spread gives the standard error (by hand below)."""
    x = smooth_images(4, seed=5)
    y = np.array([0, 1, 2, 3])

    def predict_proba(batch):                        # right on the first two images only
        p = np.zeros((len(batch), 10))
        p[np.arange(len(batch)), [0, 1, 9, 9][:len(batch)]] = 1
        return p

    kw = dict(corruptions=("fog", "contrast"), severities=(1, 2), progress=False)
    rows = C.benchmark(predict_proba, x, y, keep_correct=True, **kw)
    assert [list(r["correct"]) for r in rows] == [[True, True, False, False]] * 4
    assert [{k: v for k, v in r.items() if k != "correct"} for r in rows] == \
        C.benchmark(predict_proba, x, y, **kw)      # the rows are otherwise unchanged
    assert list(C.image_scores(rows)) == [1, 1, 0, 0]
    # scores 1, 1, 0, 0: mean 0.5, sample standard deviation sqrt(1/3), over sqrt(4)
    assert C.standard_error(rows) == pytest.approx(np.sqrt(1 / 3) / 2)
    assert C.image_scores(rows).mean() == pytest.approx(C.mean_accuracy(rows))
    # half the sets right on image 3 as well: its share is 1/2
    rows[0]["correct"] = np.array([True, True, True, False])
    rows[1]["correct"] = np.array([True, True, True, False])
    assert list(C.image_scores(rows)) == [1, 1, 0.5, 0]


def test_standard_error_refuses_rows_it_cannot_use():
    x = smooth_images(3, seed=6)
    ok = lambda b: np.ones((len(b), 10))             # noqa: E731
    kw = dict(corruptions=("fog",), severities=(1,), progress=False)
    with pytest.raises(ValueError, match="keep_correct=True"):
        C.standard_error(C.benchmark(ok, x, np.zeros(3, int), **kw))
    with pytest.raises(ValueError, match="keep_correct=True"):
        C.image_scores([])
    rows = C.benchmark(ok, x, np.zeros(3, int), keep_correct=True, **kw)
    rows2 = C.benchmark(ok, x[:2], np.zeros(2, int), keep_correct=True, **kw)
    with pytest.raises(ValueError, match="same images; got sets of 2, 3 images"):
        C.image_scores(rows + rows2)
    with pytest.raises(ValueError, match="at least 2 images, got 1"):
        C.standard_error(C.benchmark(ok, x[:1], np.zeros(1, int), keep_correct=True, **kw))
