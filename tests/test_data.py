import os
import pickle

import numpy as np
import pytest
from fakedata import synthetic_images, write_batch, write_fake_cifar

from wic import data
from wic.data import cifar10, pipeline


@pytest.fixture
def fake(tmp_path):
    write_fake_cifar(tmp_path, per_batch=40)
    return tmp_path


def test_loads_layout_as_uint8_nhwc(fake):
    d = data.load_cifar10(fake, expect_full=False)
    assert d.x_train.shape == (200, 32, 32, 3) and d.x_train.dtype == np.uint8
    assert d.x_test.shape == (40, 32, 32, 3)
    assert d.y_train.dtype == np.int64 and set(np.unique(d.y_train)) <= set(range(10))
    assert d.class_names[3] == "cat"
    assert set(d.checksums()) == {*cifar10.TRAIN_FILES, cifar10.TEST_FILE, cifar10.META_FILE}


def test_channel_major_rows_become_nhwc(tmp_path):
    folder = write_fake_cifar(tmp_path, per_batch=10)
    x = np.zeros((10, 32, 32, 3), np.uint8)
    x[:, :, :, 0] = 200  # pure red images
    x[0, 0, 1, 2] = 7  # one blue pixel at row 0, column 1
    write_batch(folder / "test_batch", x, np.arange(10))
    d = data.load_cifar10(tmp_path, expect_full=False)
    assert (d.x_test[..., 0] == 200).all() and d.x_test[0, 0, 1, 2] == 7


def test_full_counts_are_enforced(fake):
    with pytest.raises(data.DataError, match="expected 50000"):
        data.load_cifar10(fake)


def test_env_var_is_used_and_named_in_errors(fake, monkeypatch, tmp_path):
    monkeypatch.setenv("WIC_DATA_DIR", str(fake))
    assert data.find_dataset() == fake / "cifar-10-batches-py"
    monkeypatch.setenv("WIC_DATA_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(data.DataError, match="WIC_DATA_DIR=.*nowhere"):
        data.find_dataset()


def test_explicit_path_wins_over_env(fake, monkeypatch, tmp_path):
    monkeypatch.setenv("WIC_DATA_DIR", str(tmp_path / "nowhere"))
    assert data.find_dataset(fake) == fake / "cifar-10-batches-py"


def test_not_found_message_says_how_to_configure(monkeypatch, tmp_path):
    monkeypatch.delenv("WIC_DATA_DIR", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    with pytest.raises(data.DataError, match="set WIC_DATA_DIR"):
        data.find_dataset()


def test_missing_batch_is_named(fake):
    os.remove(fake / "cifar-10-batches-py" / "data_batch_3")
    with pytest.raises(data.DataError, match="missing file .*data_batch_3"):
        data.load_cifar10(fake, expect_full=False)


def test_truncated_batch_is_named(fake):
    f = fake / "cifar-10-batches-py" / "data_batch_2"
    f.write_bytes(f.read_bytes()[:5000])
    with pytest.raises(data.DataError, match="data_batch_2 is truncated or corrupt"):
        data.load_cifar10(fake, expect_full=False)


@pytest.mark.parametrize("change, message", [
    ({b"data": np.zeros((10, 100), np.uint8)}, "expected \\(N, 3072\\)"),
    ({b"data": np.zeros((10, 3072), np.float32)}, "expected uint8"),
    ({b"labels": [12] * 10}, "labels outside 0..9"),
    ({b"labels": [1] * 9}, "9 labels for 10 images"),
])
def test_wrong_contents_are_explained(tmp_path, change, message):
    folder = write_fake_cifar(tmp_path, per_batch=10)
    x, y = synthetic_images(10)
    d = {b"data": x.transpose(0, 3, 1, 2).reshape(10, -1), b"labels": list(map(int, y)), **change}
    with open(folder / "test_batch", "wb") as fh:
        pickle.dump(d, fh)
    with pytest.raises(data.DataError, match=message):
        data.load_cifar10(tmp_path, expect_full=False)


def test_wrong_layout_is_explained(tmp_path):
    folder = write_fake_cifar(tmp_path, per_batch=10)
    with open(folder / "test_batch", "wb") as fh:
        pickle.dump([1, 2, 3], fh)
    with pytest.raises(data.DataError, match="wrong layout"):
        data.load_cifar10(tmp_path, expect_full=False)


def test_stratified_subset_balances_classes():
    x, y = synthetic_images(1000)
    xs, ys = data.stratified_subset(x, y, 95, seed=1)
    counts = np.bincount(ys, minlength=10)
    assert len(ys) == 95 and counts.max() - counts.min() <= 1
    assert data.stratified_subset(x, y, None)[0] is x
    with pytest.raises(ValueError):
        data.stratified_subset(x, y, 0)


def test_split_validation_takes_the_tail_like_keras():
    x = np.arange(100)
    (xt, _), (xv, _) = data.split_validation(x, x, 0.2)
    assert list(xv) == list(range(80, 100)) and len(xt) == 80


def test_eval_pipeline_batches_scales_and_one_hots_in_order():
    x, y = synthetic_images(70)
    batches = list(pipeline.eval_pipeline(x, y, batch_size=32))
    assert [b[0].shape[0] for b in batches] == [32, 32, 6]
    xb, yb = batches[0]
    assert xb.dtype.name == "float32" and float(xb.numpy().max()) <= 1.0
    assert yb.shape == (32, 10) and np.allclose(yb.numpy().sum(1), 1)
    np.testing.assert_allclose(xb.numpy(), x[:32] / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(np.concatenate([b[1].numpy() for b in batches]).argmax(1), y)
    # without labels: images only, still in order
    alone = list(pipeline.eval_pipeline(x, batch_size=32))
    assert [b.shape[0] for b in alone] == [32, 32, 6]
    np.testing.assert_allclose(np.concatenate([b.numpy() for b in alone]), x / 255.0, rtol=1e-6)
    with pytest.raises(ValueError, match="70 images but 69 labels"):
        pipeline.eval_pipeline(x, y[:69])


def _epoch(x, y, **kw):
    kw.setdefault("batch_size", len(x))
    batches = list(pipeline.train_pipeline(x, y, **kw))
    return (np.concatenate([b[0].numpy() for b in batches]),
            np.concatenate([b[1].numpy() for b in batches]))


def test_train_pipeline_translates_and_flips_reproducibly():
    x, y = synthetic_images(64)
    x[:, :, :16] = 0  # left half dark so flips are visible
    kw = dict(batch_size=64, epochs=1, seed=3, flip="random", translate=4)
    a, la = _epoch(x, y, **kw)
    b, lb = _epoch(x, y, **kw)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(la, lb)
    assert a.shape == (64, 32, 32, 3) and a.dtype == np.float32 and la.shape == (64, 10)
    assert sorted(la.argmax(1)) == sorted(y)  # every image once per epoch, shuffled
    assert not np.allclose(a, x / 255.0)
    flipped = (a[:, :, 24:].mean((1, 2, 3)) < a[:, :, :8].mean((1, 2, 3))).sum()
    assert 10 < flipped < 54  # about half of the images are mirrored
    assert not np.array_equal(a, _epoch(x, y, **{**kw, "seed": 4})[0])  # the seed matters


def test_train_pipeline_without_augmentation_only_shuffles():
    x, y = synthetic_images(64)
    a, lab = _epoch(x, y, batch_size=16, epochs=1, seed=0, flip="none", translate=0,
                    one_hot=False)
    assert lab.dtype == np.int32 and a.shape == (64, 32, 32, 3)
    # each output image is one of the inputs, untouched, with its own label
    flat = (x.reshape(64, -1) / 255.0).astype(np.float32)
    for img, label in zip(a.reshape(64, -1), lab, strict=True):
        i = int(np.flatnonzero(np.all(np.isclose(flat, img, atol=1e-6), axis=1))[0])
        assert y[i] == label


def test_train_pipeline_serves_full_batches_of_every_epoch_and_resumes_identically():
    x, y = synthetic_images(70)
    kw = dict(batch_size=32, seed=5, flip="alternate", translate=2)
    full = list(pipeline.train_pipeline(x, y, epochs=3, **kw))
    assert [b[0].shape[0] for b in full] == [32] * 6  # 70 // 32 = 2 full batches per epoch
    resumed = list(pipeline.train_pipeline(x, y, epochs=3, initial_epoch=1, **kw))
    assert len(resumed) == 4
    for (xa, ya), (xb, yb) in zip(full[2:], resumed, strict=True):
        np.testing.assert_array_equal(xa.numpy(), xb.numpy())
        np.testing.assert_array_equal(ya.numpy(), yb.numpy())
    assert not np.array_equal(full[0][0].numpy(), full[2][0].numpy())  # epochs differ


def test_alternate_flips_mirror_each_image_in_exactly_one_of_two_epochs():
    x = np.zeros((8, 32, 32, 3), np.uint8)
    x[:, :, :16] = 255  # left half white: a mirrored image has its white half on the right
    ds = pipeline.train_pipeline(x, np.arange(8) % 10, batch_size=8, epochs=2, seed=0,
                                 flip="alternate", translate=0, one_hot=False)
    (b0, y0), (b1, y1) = list(ds)
    m0 = dict(zip(np.asarray(y0), np.asarray(b0)[:, 0, 0, 0] == 0))
    m1 = dict(zip(np.asarray(y1), np.asarray(b1)[:, 0, 0, 0] == 0))
    assert all(m0[k] != m1[k] for k in m0)  # every image mirrored in exactly one of the epochs


def test_train_pipeline_refusals():
    x, y = synthetic_images(20)
    with pytest.raises(ValueError, match="flip='sometimes'; accepted: alternate, random, none"):
        pipeline.train_pipeline(x, y, batch_size=4, epochs=1, flip="sometimes")
    with pytest.raises(ValueError, match="20 images but 19 labels"):
        pipeline.train_pipeline(x, y[:19], batch_size=4, epochs=1)
    with pytest.raises(ValueError, match="fewer than one batch of 32"):
        pipeline.train_pipeline(x, y, batch_size=32, epochs=1)


@pytest.mark.parametrize("pad", [0, 1, 3])
def test_translate_batch_is_a_reflect_padded_shift_of_at_most_pad_pixels(pad):
    import tensorflow as tf

    rng = np.random.default_rng(pad)
    images = rng.random((6, 32, 32, 3)).astype(np.float32)
    out = pipeline.translate_batch(tf.constant(images), tf.constant([1, 2], tf.int64), pad).numpy()
    again = pipeline.translate_batch(tf.constant(images), tf.constant([1, 2], tf.int64), pad).numpy()
    np.testing.assert_array_equal(out, again)  # stateless: the seed pair decides
    assert out.shape == images.shape
    padded = np.pad(images, [(0, 0), (pad, pad), (pad, pad), (0, 0)], mode="reflect")
    for img, src in zip(out, padded, strict=True):
        windows = [(r, c) for r in range(2 * pad + 1) for c in range(2 * pad + 1)
                   if np.array_equal(src[r:r + 32, c:c + 32], img)]
        assert windows, "not a window of the reflect-padded image"
    if pad == 0:
        np.testing.assert_array_equal(out, images)


def test_test_split_alone(fake):
    x, y, names = data.load_test_split(fake)
    full = data.load_cifar10(fake, expect_full=False)
    np.testing.assert_array_equal(x, full.x_test)
    np.testing.assert_array_equal(y, full.y_test)
    assert names == full.class_names


def test_package_reexports_the_loader():
    for name in ("Cifar10", "DataError", "load_cifar10", "load_test_split", "find_dataset",
                 "stratified_subset", "split_validation", "to_float", "channel_stats",
                 "shown_location", "BATCH_DIR"):
        assert getattr(data, name) is getattr(cifar10, name), name
    assert data.BATCH_DIR == "cifar-10-batches-py"
    np.testing.assert_allclose(data.to_float(np.array([0, 51, 255], np.uint8)), [0, 0.2, 1])


def test_summary_names_the_dataset_through_wic_data_dir(tmp_path, monkeypatch):
    write_fake_cifar(tmp_path, per_batch=20)
    monkeypatch.setenv("WIC_DATA_DIR", str(tmp_path))
    ds = data.load_cifar10(expect_full=False)
    assert ds.summary().startswith("CIFAR-10 from $WIC_DATA_DIR/cifar-10-batches-py: train (100, 32, 32, 3)")
    assert str(tmp_path) not in ds.summary()
    monkeypatch.delenv("WIC_DATA_DIR")  # an explicit folder outside the configuration: shown as is
    assert str(tmp_path) in data.load_cifar10(tmp_path, expect_full=False).summary()


def test_jitter_batch_moves_brightness_and_contrast_within_their_ranges():
    import tensorflow as tf

    rng = np.random.default_rng(0)
    images = (0.3 + 0.4 * rng.random((200, 32, 32, 3))).astype(np.float32)  # no clipping
    pair = tf.constant([4, 5], tf.int64)
    out = pipeline.jitter_batch(tf.constant(images), pair, 0.14, 0.13).numpy()
    np.testing.assert_array_equal(out, pipeline.jitter_batch(tf.constant(images), pair, 0.14,
                                                             0.13).numpy())
    mean_in, mean_out = images.mean((1, 2, 3)), out.mean((1, 2, 3))
    shift = mean_out - mean_in
    scale = (out - mean_out[:, None, None, None]).std((1, 2, 3)) / images.std((1, 2, 3))
    assert np.abs(shift).max() <= 0.14 + 1e-5 and np.abs(shift).max() > 0.1  # spread, bounded
    assert np.abs(scale - 1).max() <= 0.13 + 1e-4 and np.abs(scale - 1).max() > 0.09
    assert abs(np.corrcoef(shift, scale)[0, 1]) < 0.3  # drawn independently
    # off means untouched; bright images stay pictures
    np.testing.assert_array_equal(
        pipeline.jitter_batch(tf.constant(images), pair, 0.0, 0.0).numpy(), images)
    white = pipeline.jitter_batch(tf.ones((50, 4, 4, 3)), pair, 0.5, 0.5).numpy()
    assert white.min() >= 0.5 - 1e-6 and white.max() <= 1.0


def test_train_pipeline_jitters_only_when_asked_and_refuses_out_of_range():
    x, y = synthetic_images(64)
    kw = dict(batch_size=64, epochs=1, seed=1, flip="none", translate=0, one_hot=False)
    plain, lab = _epoch(x, y, **kw)
    jittered, lab2 = _epoch(x, y, brightness=0.2, contrast=0.2, **kw)
    np.testing.assert_array_equal(lab, lab2)  # same order: jitter draws from its own seed
    assert not np.allclose(plain, jittered) and jittered.min() >= 0 and jittered.max() <= 1
    for name in ("brightness", "contrast"):
        with pytest.raises(ValueError, match=f"{name}=1.5; accepted: a fraction in"):
            pipeline.train_pipeline(x, y, batch_size=4, epochs=1, **{name: 1.5})


def test_recipe_jitter_fields_are_checked():
    from wic.training import recipes

    fast = recipes.FAST.with_text({"brightness": "0.14", "contrast": "0.13"})
    assert (fast.brightness, fast.contrast) == (0.14, 0.13)
    with pytest.raises(ValueError, match="contrast"):
        recipes.FAST.with_(contrast=-0.1)


def test_blur_batch_is_a_gaussian_per_image_and_sigma_zero_is_identity():
    import tensorflow as tf
    from scipy import ndimage

    rng = np.random.default_rng(1)
    images = rng.random((3, 32, 32, 3)).astype(np.float32)
    out = pipeline.blur_batch(tf.constant(images), tf.constant([0.0, 0.7, 1.5])).numpy()
    np.testing.assert_allclose(out[0], images[0], atol=1e-6)
    for i, s in ((1, 0.7), (2, 1.5)):  # scipy's Gaussian with the same reach and borders
        ref = ndimage.gaussian_filter(images[i], sigma=(s, s, 0), mode="mirror",
                                      truncate=pipeline.BLUR_RADIUS / s)
        np.testing.assert_allclose(out[i], ref, atol=2e-5)
    assert out[2].std() < out[1].std() < images[1].std()  # more blur, less detail


def test_noise_batch_adds_the_asked_spread_and_stays_in_range():
    import tensorflow as tf

    images = np.full((2, 64, 64, 3), 0.5, np.float32)
    out = pipeline.noise_batch(tf.constant(images), tf.constant([1, 2], tf.int64),
                               tf.constant([0.0, 0.08])).numpy()
    np.testing.assert_array_equal(out[0], images[0])
    assert abs(out[1].std() - 0.08) < 0.005 and out.min() >= 0 and out.max() <= 1


def test_train_pipeline_blur_and_noise_refuse_out_of_range_and_recipe_checks_them():
    from wic.training import recipes

    x, y = synthetic_images(64)
    kw = dict(batch_size=64, epochs=1, seed=1, flip="none", translate=0, one_hot=False)
    plain, _ = _epoch(x, y, **kw)
    noisy, _ = _epoch(x, y, blur=1.0, noise=0.1, **kw)
    assert not np.allclose(plain, noisy) and noisy.min() >= 0 and noisy.max() <= 1
    with pytest.raises(ValueError, match="blur=2.0; accepted: a sigma in pixels, 0..1.5"):
        pipeline.train_pipeline(x, y, batch_size=4, epochs=1, blur=2.0)
    with pytest.raises(ValueError, match="noise=0.9; accepted: a sigma 0..0.5"):
        pipeline.train_pipeline(x, y, batch_size=4, epochs=1, noise=0.9)
    assert recipes.FAST.with_text({"blur": "1", "noise": "0.1"}).changes(recipes.FAST) == {
        "blur": 1.0, "noise": 0.1}
    with pytest.raises(ValueError, match="noise"):
        recipes.FAST.with_(noise=0.7)


def test_blur_and_noise_leave_about_half_of_the_images_clean():
    x = np.full((512, 32, 32, 3), 128, np.uint8)
    y = np.arange(512) % 10
    out, _ = _epoch(x, y, batch_size=512, epochs=1, seed=2, flip="none", translate=0, noise=0.1,
                    one_hot=False)
    clean = np.all(np.isclose(out, 128 / 255.0), axis=(1, 2, 3)).mean()
    assert 0.4 < clean < 0.6


def test_clean_epochs_drop_jitter_blur_and_noise_at_the_end_but_keep_flips_and_shifts():
    from wic.training import recipes

    x, y = synthetic_images(64)
    kw = dict(batch_size=64, epochs=3, seed=4, flip="random", translate=2, one_hot=False)
    plain, _ = _epoch(x, y, **kw)  # 3 epochs, each 64 images
    robust, _ = _epoch(x, y, noise=0.1, blur=1.0, brightness=0.2, clean_epochs=1, **kw)
    for e in (0, 1):  # corrupted epochs differ from the plain ones
        assert not np.allclose(plain[64 * e:64 * (e + 1)], robust[64 * e:64 * (e + 1)])
    # the last epoch: the same shuffle, shifts and flips as without the corruptions
    np.testing.assert_array_equal(plain[128:], robust[128:])
    # two clean epochs, the first still noisy: epoch 0 corrupted, epoch 1 the plain one plus
    # noise only, epoch 2 plain
    kept, _ = _epoch(x, y, noise=0.1, blur=1.0, brightness=0.2, clean_epochs=2,
                     clean_noisy_epochs=1, **kw)
    noise_only, _ = _epoch(x, y, noise=0.1, **kw)
    np.testing.assert_array_equal(kept[:64], robust[:64])
    np.testing.assert_array_equal(kept[64:128], noise_only[64:128])
    assert not np.allclose(kept[64:128], plain[64:128])
    np.testing.assert_array_equal(kept[128:], plain[128:])
    with pytest.raises(ValueError, match="clean_noisy_epochs=2; accepted: an integer 0..clean_epochs"):
        pipeline.train_pipeline(x, y, batch_size=4, epochs=3, clean_epochs=1, clean_noisy_epochs=2)
    with pytest.raises(ValueError, match="clean_epochs=3; accepted: an integer 0..2"):
        pipeline.train_pipeline(x, y, batch_size=4, epochs=3, clean_epochs=3)
    with pytest.raises(ValueError, match="clean_epochs"):
        recipes.FAST.with_(clean_epochs=recipes.FAST.epochs)
    assert recipes.FAST.with_text({"clean_epochs": "2"}).clean_epochs == 2


def test_crop_batch_is_a_window_of_each_image_at_its_own_offset():
    import tensorflow as tf

    rng = np.random.default_rng(3)
    images = rng.random((16, 32, 32, 3)).astype(np.float32)
    out = pipeline.crop_batch(tf.constant(images), tf.constant([4, 5], tf.int64), 24).numpy()
    again = pipeline.crop_batch(tf.constant(images), tf.constant([4, 5], tf.int64), 24).numpy()
    np.testing.assert_array_equal(out, again)  # stateless: the seed pair decides
    assert out.shape == (16, 24, 24, 3)
    offsets = set()
    for img, src in zip(out, images, strict=True):
        found = [(r, c) for r in range(9) for c in range(9)
                 if np.array_equal(src[r:r + 24, c:c + 24], img)]
        assert found, "not a window of the image"
        offsets.add(found[0])
    assert len(offsets) > 4  # each image draws its own offset


def test_shrink_batch_averages_the_area_each_pixel_covers():
    """32 -> 16 is a mean over each 2x2 block; 32 -> 24 keeps each image's mean (the area weights
    sum to one) and stays within the images' range (averages, not extrapolations)."""
    import tensorflow as tf

    images = np.random.default_rng(4).random((3, 32, 32, 3)).astype(np.float32)
    half = pipeline.shrink_batch(tf.constant(images), 16).numpy()
    np.testing.assert_allclose(half, images.reshape(3, 16, 2, 16, 2, 3).mean(axis=(2, 4)), atol=1e-6)
    three_quarters = pipeline.shrink_batch(tf.constant(images), 24).numpy()
    assert three_quarters.shape == (3, 24, 24, 3)
    np.testing.assert_allclose(three_quarters.mean(axis=(1, 2)), images.mean(axis=(1, 2)), atol=1e-3)
    assert three_quarters.min() >= images.min() and three_quarters.max() <= images.max()


def test_train_pipeline_crops_the_first_steps_of_the_run_then_serves_whole_images():
    x, y = synthetic_images(70)
    kw = dict(batch_size=32, seed=5, flip="alternate", translate=2, crop=20, crop_steps=3)
    full = list(pipeline.train_pipeline(x, y, epochs=3, **kw))
    # 2 batches per epoch: the first 3 of the run are crops, into the second epoch
    assert [tuple(b[0].shape[1:3]) for b in full] == [(20, 20)] * 3 + [(32, 32)] * 3
    resumed = list(pipeline.train_pipeline(x, y, epochs=3, initial_epoch=1, **kw))
    assert [tuple(b[0].shape[1:3]) for b in resumed] == [(20, 20)] + [(32, 32)] * 3
    for (xa, ya), (xb, yb) in zip(full[2:], resumed, strict=True):  # the same batches
        np.testing.assert_array_equal(xa.numpy(), xb.numpy())
        np.testing.assert_array_equal(ya.numpy(), yb.numpy())
    uncropped = list(pipeline.train_pipeline(x, y, epochs=3, **{**kw, "crop_steps": 0}))
    for (xa, ya), (xb, yb) in zip(full[3:], uncropped[3:], strict=True):  # crops move nothing else
        np.testing.assert_array_equal(xa.numpy(), xb.numpy())
        np.testing.assert_array_equal(ya.numpy(), yb.numpy())
    for crop in (0, 32, 40):
        with pytest.raises(ValueError, match=f"crop={crop} for 3 steps; accepted: a size in "
                                             r"pixels 1\.\.31"):
            pipeline.train_pipeline(x, y, batch_size=32, epochs=1, crop=crop, crop_steps=3)
    # crop_by='resize': the same augmented batches, shrunk whole instead of windowed
    shrunk = list(pipeline.train_pipeline(x, y, epochs=3, crop_by="resize", **kw))
    assert [tuple(b[0].shape[1:3]) for b in shrunk] == [(20, 20)] * 3 + [(32, 32)] * 3
    for (xs, ys), (xu, yu) in zip(shrunk, uncropped, strict=True):
        expected = pipeline.shrink_batch(xu, 20) if xs.shape[1] == 20 else xu
        np.testing.assert_allclose(xs.numpy(), expected.numpy(), atol=1e-6)
        np.testing.assert_array_equal(ys.numpy(), yu.numpy())
    with pytest.raises(ValueError, match="crop_by='scale'; accepted: window, resize"):
        pipeline.train_pipeline(x, y, epochs=1, crop_by="scale", **kw)


def test_recipe_crop_fields_are_checked_together():
    from wic.training import recipes

    fast = recipes.FAST.with_text({"crop_size": "24", "crop_epochs": "2.5"})
    assert (fast.crop_size, fast.crop_epochs) == (24, 2.5)
    with pytest.raises(ValueError, match=r"crop_size=0 is invalid; accepted: an integer 12\.\.31"):
        recipes.FAST.with_(crop_epochs=1.0)
    with pytest.raises(ValueError, match=r"crop_size=8 is invalid; accepted: an integer 12\.\.31"):
        recipes.FAST.with_(crop_size=8, crop_epochs=1.0)
    with pytest.raises(ValueError, match="crop_size=24 is invalid; accepted: 0 when crop_epochs"):
        recipes.FAST.with_(crop_size=24)
    with pytest.raises(ValueError, match=r"crop_epochs=11\.0 is invalid; accepted: a number of "
                                         r"epochs 0\.\.10"):
        recipes.FAST.with_(crop_size=24, crop_epochs=11)
    shrink = recipes.FAST.with_text({"crop_size": "24", "crop_epochs": "1", "crop_by": "resize"})
    assert shrink.crop_by == "resize" and recipes.FAST.crop_by == "window"
    with pytest.raises(ValueError, match="crop_by='resize' is invalid; accepted: 'window' .* when "
                                         "crop_epochs is 0"):
        recipes.FAST.with_(crop_by="resize")
    with pytest.raises(ValueError, match="crop_by='scale' is invalid; accepted: one of window, resize"):
        recipes.FAST.with_(crop_size=24, crop_epochs=1.0, crop_by="scale")
