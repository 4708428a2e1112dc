"""Model resolution, loading, the Classifier API, calibration and latency (tiny untrained model)."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
from hostile.generate import encode, noise

from wic import CLASS_NAMES, cards, models
from wic.evaluation import calibration
from wic.serving import Classifier, ImageError, ModelError, latency, resolve_model_path

pytestmark = pytest.mark.timeout(120)


def fake_model(folder, name, **card):
    path = folder / f"{name}.keras"
    path.write_bytes(b"not loaded by resolve_model_path")
    if card:
        cards.write_card(path, card)
    return path


# ----------------------------------------------------------------------------- resolving


def test_default_is_the_most_accurate_model_within_the_latency_budget(models_dir):
    fake_model(models_dir, "big", test_accuracy=0.90, latency_ms_p50=45.0)
    fake_model(models_dir, "fast", test_accuracy=0.85, latency_ms_p50=4.0)
    fake_model(models_dir, "slower", test_accuracy=0.82, latency_ms_p50=19.0)
    fake_model(models_dir, "unmeasured", test_accuracy=0.95)
    assert resolve_model_path(None).name == "fast.keras"
    cards.write_card(models_dir / "fast.keras", {"test_accuracy": 0.85, "latency_ms_p50": 25.0})
    assert resolve_model_path(None).name == "slower.keras"  # unmeasured is never the default
    cards.write_card(models_dir / "slower.keras", {"test_accuracy": 0.82, "latency_ms_p50": 20.0})
    assert resolve_model_path(None).name == "slower.keras"  # the budget is inclusive


def test_no_default_when_no_model_fits_the_budget(models_dir):
    fake_model(models_dir, "a", test_accuracy=0.9, latency_ms_p50=60.0)
    fake_model(models_dir, "b", test_accuracy=0.8, latency_ms_p50=30.0)
    fake_model(models_dir, "c", test_accuracy=0.7)
    with pytest.raises(ModelError, match="none is the default"):
        resolve_model_path(None)
    assert resolve_model_path("b").name == "b.keras"  # a named model is still found


def test_name_path_and_missing(models_dir, tmp_path, monkeypatch):
    seed = fake_model(models_dir, "seed_v1_3")
    fake_model(models_dir, "other")
    assert resolve_model_path("seed_v1_3") == seed
    assert resolve_model_path("seed_v1_3.keras") == seed
    assert resolve_model_path(str(seed)) == seed
    elsewhere = fake_model(tmp_path, "elsewhere")
    monkeypatch.chdir(tmp_path)
    assert resolve_model_path("elsewhere.keras") == elsewhere
    with pytest.raises(ModelError) as info:
        resolve_model_path("nope")
    assert "'nope' not found" in str(info.value) and "other, seed_v1_3" in str(info.value)
    with pytest.raises(ModelError, match="is a folder"):
        resolve_model_path(str(tmp_path) + "/")


def test_no_models_at_all(models_dir):
    with pytest.raises(ModelError, match="no models in .*wic models promote"):
        resolve_model_path(None)


# ----------------------------------------------------------------------------- loading


def test_model_error_is_one_class_everywhere():
    from wic.serving import classifier

    assert ModelError is cards.ModelError is models.ModelError is classifier.ModelError
    assert issubclass(ModelError, ValueError)


def test_corrupt_and_wrong_models_are_model_errors(tmp_path):
    import keras

    bad = tmp_path / "corrupt.keras"
    bad.write_bytes(os.urandom(2000))
    h5 = shutil.copy(bad, tmp_path / "model.h5")
    five = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Flatten(),
                             keras.layers.Dense(5, activation="softmax")])
    five.save(tmp_path / "five.keras")
    for load in (models.load, Classifier.load):  # the one loader, and the serving path over it
        with pytest.raises(ModelError, match="cannot load model"):
            load(bad)
        with pytest.raises(ModelError, match="not a .keras file"):
            load(h5)
        with pytest.raises(ModelError, match="not a CIFAR-10 classifier.*10 outputs"):
            load(tmp_path / "five.keras")
        with pytest.raises(ModelError, match="not found"):
            load(tmp_path / "missing.keras")
    with pytest.raises(ModelError, match="saved as a .keras file"):
        models.save(five, tmp_path / "five.h5")


def test_models_are_cached_by_path_and_mtime(tiny_model_path, tmp_path):
    path = shutil.copy(tiny_model_path, tmp_path / "m.keras")
    first = Classifier.load(path)
    again = Classifier.load(path)
    assert again.model is first.model and again._predict is first._predict
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # the file was replaced
    assert Classifier.load(path).model is not first.model


def test_logit_outputs_are_turned_into_probabilities(tmp_path):
    import keras

    logits = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Flatten(),
                               keras.layers.Dense(10, kernel_initializer="ones")])
    logits.save(tmp_path / "logits.keras")
    p = Classifier.load(str(tmp_path / "logits.keras")).probabilities(
        np.full((32, 32, 3), 0.5, np.float32))
    assert p.shape == (10,) and abs(p.sum() - 1) < 1e-5 and (p >= 0).all()


# ----------------------------------------------------------------------------- Classifier


@pytest.fixture
def clf(tiny_model_path, models_dir):
    shutil.copy(tiny_model_path, models_dir / "seed_v1_3.keras")
    cards.write_card(models_dir / "seed_v1_3.keras", {"test_accuracy": 0.5, "latency_ms_p50": 5.0})
    return Classifier.load()


def test_classifier_attributes(clf, models_dir):
    assert clf.name == "seed_v1_3" and clf.path == models_dir / "seed_v1_3.keras"
    assert clf.card["test_accuracy"] == 0.5 and clf.class_names == CLASS_NAMES
    assert clf.backend == "keras" and clf.temperature is None  # no calibration in the card
    assert clf.keras_model() is clf.model and clf.model.name == "pycrafters_team_model_v1.3"
    assert repr(clf) == "Classifier('seed_v1_3', backend='keras', test_accuracy=0.5)"


def test_backends_are_checked(clf, models_dir):
    with pytest.raises(ModelError, match="backend 'torch' is not one of keras, onnx"):
        Classifier.load("seed_v1_3", backend="torch")
    with pytest.raises(ModelError, match="no ONNX export of seed_v1_3 .*wic export seed_v1_3 --format onnx"):
        Classifier.load("seed_v1_3", backend="onnx")


def test_probabilities_are_calibrated_by_the_cards_temperature(clf, models_dir):
    x = np.random.default_rng(5).integers(0, 256, (6, 32, 32, 3), dtype=np.uint8)
    raw = clf.predict_arrays(x)
    cards.write_card(models_dir / "seed_v1_3.keras",
                     {"test_accuracy": 0.5, "latency_ms_p50": 5.0, "calibration": {"temperature": 0.5}})
    hot = Classifier.load("seed_v1_3")
    assert hot.temperature == 0.5
    np.testing.assert_allclose(hot.predict_arrays(x), calibration.apply_temperature(raw, 0.5),
                               atol=1e-5)
    assert (hot.predict_arrays(x).max(1) > raw.max(1)).all()  # T < 1 sharpens
    assert (hot.predict_arrays(x).argmax(1) == raw.argmax(1)).all()
    off = Classifier.load("seed_v1_3", calibrated=False)
    assert off.temperature is None
    np.testing.assert_allclose(off.predict_arrays(x), raw, atol=1e-6)
    top = hot.top_k(x[0], k=1)[0]
    assert top[1] == pytest.approx(float(hot.predict_arrays(x[:1]).max()), abs=1e-5)


def test_from_model_wraps_a_model_in_memory(clf):
    x = np.random.default_rng(6).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    mem = Classifier.from_model(clf.model, name="mine", card={"calibration": {"temperature": 2.0}})
    assert mem.name == "mine" and mem.path is None and mem.keras_model() is clf.model
    np.testing.assert_allclose(mem.predict_arrays(x),
                               calibration.apply_temperature(clf.predict_arrays(x), 2.0), atol=1e-5)
    assert Classifier.from_model(clf.model).name == clf.model.name
    with pytest.raises(ModelError, match="not loaded from a file"):
        latency.write_latency_card(mem, {"latency_ms_p50": 1.0})


def test_top_k_is_sorted_and_sums_with_the_rest_to_one(clf):
    data = encode(noise(200, 150), "JPEG")
    probs = clf.probabilities(data)
    assert probs.shape == (10,) and abs(float(probs.sum()) - 1) < 1e-4
    top = clf.top_k(data, k=3)
    assert len(top) == 3 and [p for _, p in top] == sorted((p for _, p in top), reverse=True)
    assert top[0] == (CLASS_NAMES[int(probs.argmax())], pytest.approx(float(probs.max())))
    assert len(clf.top_k(data, k=50)) == 10
    for bad_k in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="k must be"):
            clf.top_k(data, k=bad_k)


def test_top_k_batch_matches_single_calls_and_keeps_errors_in_place(clf, tmp_path):
    good = [encode(noise(seed=i), "PNG") for i in range(3)]
    srcs = [good[0], b"%PDF-1.4", good[1], tmp_path / "missing.png",
            np.asarray(noise(32, 32, seed=9)), good[2]]
    out = clf.top_k_batch(srcs, k=2, batch_size=2)
    assert [type(o).__name__ for o in out] == ["list", "ImageError", "list", "ImageError",
                                               "list", "list"]
    for src, got in zip(srcs, out, strict=True):
        if isinstance(got, list):
            want = clf.top_k(src, k=2)
            assert [n for n, _ in got] == [n for n, _ in want]
            assert np.allclose([p for _, p in got], [p for _, p in want], atol=1e-5)
    assert "PDF" in str(out[1]) and "not found" in str(out[3])


def test_preview_gives_the_picture_and_what_the_model_sees(clf):
    img, x = clf.preview(encode(noise(300, 200), "PNG"))
    assert img.mode == "RGB" and img.size == (300, 200)
    assert x.shape == (32, 32, 3) and x.dtype == np.uint8
    with pytest.raises(ImageError):
        clf.preview(b"")


def test_fast_path_equals_model_predict(clf):
    x = np.random.default_rng(0).random((4, 32, 32, 3), dtype=np.float32)
    ours = clf._predict(x)
    assert np.allclose(ours, clf.model.predict(x, verbose=0), atol=1e-5)


def test_measure_latency_and_write_it_to_the_card(clf, models_dir):
    result = latency.measure_latency(clf, n=5, warmup=1, n_predict=3)
    for key in ("predict_ms", "eager_call_ms", "ours_ms", "end_to_end_ms"):
        assert 0 < result[key]["p50"] <= result[key]["p90"]
    assert result["ratio_predict_over_ours_p50"] > 0
    assert result["latency_ms_p50"] == result["end_to_end_ms"]["p50"] and result["backend"] == "keras"
    latency.write_latency_card(clf, result)
    card = cards.read_card(models_dir / "seed_v1_3.keras")
    assert card["latency_ms_p50"] == result["end_to_end_ms"]["p50"]
    assert card["test_accuracy"] == 0.5 and card["latency"]["n"] == 5  # the rest is kept
    assert clf.card["latency_ms_p50"] == card["latency_ms_p50"]


def test_percentages_never_read_certain():
    from wic.serving import percent

    assert [percent(p) for p in (0.934, 0.05, 0.9994, 0.9995, 1.0, 0.0005, 0.0004, 0.0)] == \
        ["93.4%", "5.0%", "99.9%", ">99.9%", ">99.9%", "0.1%", "<0.1%", "<0.1%"]
