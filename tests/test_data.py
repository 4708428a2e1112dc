import os
import pickle

import numpy as np
import pytest
from fakedata import synthetic_images, write_batch, write_fake_cifar

from wic import data


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
    assert set(d.checksums()) == {*data.TRAIN_FILES, data.TEST_FILE, data.META_FILE}


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


def test_pipeline_batches_scales_and_one_hots():
    x, y = synthetic_images(70)
    batches = list(data.make_pipeline(x, y, batch_size=32))
    assert [b[0].shape[0] for b in batches] == [32, 32, 6]
    xb, yb = batches[0]
    assert xb.dtype.name == "float32" and float(xb.numpy().max()) <= 1.0
    assert yb.shape == (32, 10) and np.allclose(yb.numpy().sum(1), 1)
    np.testing.assert_allclose(xb.numpy(), x[:32] / 255.0, rtol=1e-6)


def test_augmentation_crops_and_flips_reproducibly():
    x, y = synthetic_images(64)
    x[:, :, :16] = 0  # left half dark so flips are visible
    a = np.concatenate([b[0].numpy() for b in data.make_pipeline(x, y, batch_size=64, augment=True, seed=3)])
    b = np.concatenate([b[0].numpy() for b in data.make_pipeline(x, y, batch_size=64, augment=True, seed=3)])
    np.testing.assert_array_equal(a, b)
    assert a.shape == (64, 32, 32, 3)
    assert not np.allclose(a, x / 255.0)
    flipped = (a[:, :, 24:].mean((1, 2, 3)) < a[:, :, :8].mean((1, 2, 3))).sum()
    assert 10 < flipped < 54  # about half of the images are mirrored


def test_test_split_alone(fake):
    x, y, names = data.load_test_split(fake)
    full = data.load_cifar10(fake, expect_full=False)
    np.testing.assert_array_equal(x, full.x_test)
    np.testing.assert_array_equal(y, full.y_test)
    assert names == full.class_names


def test_summary_names_the_dataset_through_wic_data_dir(tmp_path, monkeypatch):
    write_fake_cifar(tmp_path, per_batch=20)
    monkeypatch.setenv("WIC_DATA_DIR", str(tmp_path))
    ds = data.load_cifar10(expect_full=False)
    assert ds.summary().startswith("CIFAR-10 from $WIC_DATA_DIR/cifar-10-batches-py: train (100, 32, 32, 3)")
    assert str(tmp_path) not in ds.summary()
    monkeypatch.delenv("WIC_DATA_DIR")  # an explicit folder outside the configuration: shown as is
    assert str(tmp_path) in data.load_cifar10(tmp_path, expect_full=False).summary()
