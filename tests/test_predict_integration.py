"""The upload path on real CIFAR-10 (WIC_DATA_DIR) with the trained seed model.

Skipped only when WIC_DATA_DIR is unset. The accuracy test needs ``models/seed_v1_3.keras``
(``wic train``): when the data is there but the model is not, it fails and says so.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from wic import cards, config, data
from wic.evaluation import metrics
from wic.serving import Classifier, load_image, to_model_input

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]
N = 1000  # the first 1000 test images: ~100 a class, 1.3 pt standard error on accuracy


@pytest.fixture(scope="module")
def test_set(cifar_dir):
    cifar = data.load_cifar10(cifar_dir)
    return cifar.x_test[:N], cifar.y_test[:N]


@pytest.fixture(scope="module")
def seed_classifier():
    path = config.models_dir() / "seed_v1_3.keras"
    if not path.is_file():
        pytest.fail(f"{path} is missing: train it with `wic train --model seed_v1_3`")
    return Classifier.load(str(path))


def _encode(x: np.ndarray, fmt: str, scale: int = 1, **kw) -> bytes:
    img = Image.fromarray(x)
    if scale != 1:
        img = img.resize((32 * scale, 32 * scale), Image.Resampling.BICUBIC)
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def test_uploaded_cifar_pngs_reach_the_model_unchanged(test_set):
    x, _ = test_set
    for img in x[:200]:
        assert np.array_equal(to_model_input(load_image(_encode(img, "PNG"))), img)


def test_upload_path_gives_the_models_own_answers_and_accuracy(test_set, seed_classifier):
    x, y = test_set
    clf = seed_classifier
    tops = clf.top_k_batch([_encode(img, "PNG") for img in x], k=1)
    ours = np.array([clf.class_names.index(t[0][0]) for t in tops])
    direct = metrics.predict_proba(clf.model, x).argmax(1)
    assert np.array_equal(ours, direct)  # decode + our compiled call = the model on the arrays
    card_acc = cards.read_card(clf.path)["test_accuracy"]
    assert abs((ours == y).mean() - card_acc) < 0.05, ((ours == y).mean(), card_acc)


def test_photo_sized_jpeg_uploads_keep_most_of_the_accuracy(test_set, seed_classifier):
    """4x upscaled JPEGs → decode → area-average back to 32x32 → still a working classifier.

    The upscale's blur costs ~5 points (measured with BOX and Lanczos alike); a broken path
    (channels swapped, scaling lost, axes transposed) costs far more. This cannot detect
    aliasing (an aliased resize of an upscaled image lands on the original pixels); the
    checkerboard test in test_predict_image.py does.
    """
    x, y = test_set
    clf = seed_classifier
    tops = clf.top_k_batch([_encode(img, "JPEG", scale=4, quality=90) for img in x], k=1)
    acc = (np.array([clf.class_names.index(t[0][0]) for t in tops]) == y).mean()
    card_acc = cards.read_card(clf.path)["test_accuracy"]
    assert acc >= card_acc - 0.10, (acc, card_acc)


def test_photo_like_uploads_score_like_the_arrays(test_set, seed_classifier):
    """Test images enlarged to 200-600 px and saved as JPEG/PNG/WebP, through the upload path.

    The issue's bar is a gap of at most 0.5 points (measured on 2,000 images per model by
    benchmarks/upload_gap.py); on this small sample (600 images, a few minutes of CI) the
    check is looser: a gap of at most 1.5 points and the model's own answer on ≥ 97% of images
    (without the restore step: ~3 points and ~91%).
    """
    from wic.serving import fidelity

    x, y = test_set
    rows = fidelity.measure(seed_classifier, x[:600], y[:600], ["box+restore"])
    overall = next(r for r in rows if r["format"] == "all")
    assert overall["gap_points"] <= 1.5 and overall["agreement"] >= 0.97, overall
    for r in rows:  # and no format is far off (JPEG, PNG, WebP: 200 images each)
        assert r["agreement"] >= 0.95, r
