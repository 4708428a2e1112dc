"""The ipywidgets app driven in-process, as the browser would drive it, without a browser.

Uploads are set exactly as ipywidgets 8 delivers them to the kernel: ``FileUpload.value`` is
a tuple of dicts whose ``content`` is a memoryview. The model is an untrained seed network in a
temporary models folder (the app's logic does not depend on what the model has learnt).
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
import re
import shutil

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("ipywidgets")
keras = pytest.importorskip("keras")

from wic import CLASS_NAMES, cards  # noqa: E402

ACC = 0.4321


@pytest.fixture(scope="module")
def models_folder(tmp_path_factory, tiny_model_path):
    folder = tmp_path_factory.mktemp("models")
    path = folder / "seed_v1_3.keras"
    shutil.copy(tiny_model_path, path)
    # a measured latency: only such a model is the default
    cards.write_card(path, {"test_accuracy": ACC, "latency_ms_p50": 5.0})
    return folder


@pytest.fixture(autouse=True)
def _env(models_folder, monkeypatch):
    monkeypatch.setenv("WIC_MODELS_DIR", str(models_folder))


@pytest.fixture
def app():
    from wic.serving.app import ClassifierApp

    return ClassifierApp(data_available=False, seed=0)


def upload_item(name: str, content: bytes, mime: str = "image/png") -> dict:
    return {"name": name, "type": mime, "size": len(content), "content": memoryview(content),
            "last_modified": dt.datetime.now().astimezone()}


def encoded(fmt: str = "PNG", size=(64, 48), seed: int = 0) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, fmt)
    return buf.getvalue()


def cards_html(app) -> list[str]:
    """The HTML of every card on the page, newest first."""
    return [card.value for card in app.results_box.children]


def top3(card_html: str) -> list[tuple[str, float]]:
    return [(lab, float(p)) for lab, p in
            re.findall(r'class="wic-row" data-label="([^"]+)" data-prob="([0-9.]+)"', card_html)]


def test_upload_png_and_jpeg_shows_top3_and_clears(app):
    assert not app.upload.disabled
    app.upload.value = (upload_item("a.png", encoded("PNG")),
                        upload_item("b.jpg", encoded("JPEG", (300, 200)), "image/jpeg"))
    assert app.upload.value == ()  # processed and dropped
    page = cards_html(app)
    assert len(page) == 2 and "b.jpg" in page[0] and "a.png" in page[1]  # newest first
    for h in page:
        rows = top3(h)
        assert len(rows) == 3, h
        assert all(label in CLASS_NAMES for label, _ in rows)
        probs = [p for _, p in rows]
        assert probs == sorted(probs, reverse=True) and sum(probs) <= 1 + 1e-5
    # Each card shows the picture and the 32x32 model input (enlarged with hard pixel edges).
    images = re.findall(r'<img src="data:image/(\w+);base64,([^"]+)" width="(\d+)"', page[0])
    assert [(fmt, int(w)) for fmt, _, w in images] == [("jpeg", 192), ("png", 128)]  # b.jpg: 300x200
    assert "image-rendering:pixelated" in page[0]
    # A picture smaller than the thumbnail (a.png, 64x48) is sent losslessly and enlarged.
    small = re.findall(r'<img src="data:image/(\w+);base64,[^"]+" width="(\d+)" height="(\d+)"', page[1])
    assert small[0] == ("png", "192", "144")
    assert Image.open(io.BytesIO(base64.b64decode(images[1][1]))).size == (32, 32)
    assert app.results[0].x32.shape == (32, 32, 3)


def test_bad_file_gives_message_and_next_upload_works(app):
    app.upload.value = (upload_item("notes.txt", b"just some text\n", "text/plain"),)
    (err,) = cards_html(app)
    assert 'class="wic-error"' in err and "notes.txt" in err and "not an image" in err
    assert "Traceback" not in err
    assert app.upload.value == ()
    app.upload.value = (upload_item("ok.png", encoded()),)
    assert len(top3(cards_html(app)[0])) == 3


def test_unexpected_error_is_generic_in_page_and_logged_to_server(app, monkeypatch, capfd):
    def boom(src):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(app.classifier, "preview", boom)
    app.upload.value = (upload_item("x.png", encoded()),)
    (msg,) = cards_html(app)
    assert "went wrong" in msg and "secret" not in msg and "Traceback" not in msg
    err = capfd.readouterr().err
    assert "Traceback" in err and "secret internal detail" in err  # the server log has it
    monkeypatch.undo()
    app.upload.value = (upload_item("y.png", encoded()),)
    assert len(top3(cards_html(app)[0])) == 3


def test_empty_value_returns_early(app):
    app._on_upload({"name": "value", "old": (), "new": ()})
    app._on_upload({"name": "value", "old": (), "new": None})
    app.upload.value = ()
    assert app.results_box.children == () and app.results == []


def test_two_apps_do_not_share_state():
    from wic.serving.app import ClassifierApp

    a, b = ClassifierApp(data_available=False), ClassifierApp(data_available=False)
    a.upload.value = (upload_item("only-in-a.png", encoded(seed=1)),)
    assert len(a.results) == 1 and b.results == [] and b.results_box.children == ()
    b.upload.value = (upload_item("only-in-b.png", encoded(seed=2)),)
    assert "only-in-a.png" in cards_html(a)[0] and "only-in-b.png" in cards_html(b)[0]
    assert len(a.results_box.children) == len(b.results_box.children) == 1
    b.explain_toggle.value = "gradcam"
    assert a.explain_toggle.value == "off" and "wic-overlay" not in cards_html(a)[0]
    assert "wic-overlay" in cards_html(b)[0]


def test_file_names_are_escaped(app):
    app.upload.value = (upload_item('<img src=x onerror="alert(1)">.png', encoded()),
                        upload_item("<b>bad</b>.txt", b"text", "text/plain"))
    page = "".join(cards_html(app))
    assert "<img src=x" not in page and "<b>bad" not in page
    assert "&lt;img src=x onerror=" in page


def test_model_selector_shows_test_accuracy(app, models_folder):
    assert app.model_select.options == ((f"seed_v1_3 — test accuracy {ACC:.1%}",
                                         str(models_folder / "seed_v1_3.keras")),)
    assert app.classifier.name == "seed_v1_3"
    assert "test accuracy 43.2%" in app.status.value


def test_explanations_toggle_on_existing_and_new_cards(app):
    app.upload.value = (upload_item("a.png", encoded()),)
    assert "wic-overlay" not in cards_html(app)[0]
    for mode, title in (("gradcam", "Grad-CAM: why"), ("saliency", "Saliency (SmoothGrad): why")):
        app.explain_toggle.value = mode
        (card,) = cards_html(app)
        assert card.count("wic-overlay") == 1 and title in card
    app.upload.value = (upload_item("b.png", encoded(seed=3)),)
    assert "Saliency (SmoothGrad): why" in cards_html(app)[0]
    app.explain_toggle.value = "off"
    assert all("wic-overlay" not in h for h in cards_html(app))


def test_random_test_images_show_true_label(monkeypatch):
    from wic.serving.app import ClassifierApp

    app = ClassifierApp(data_available=True, seed=0, random_count=3)
    assert not app.random_button.disabled
    x = np.random.default_rng(0).integers(0, 256, (20, 32, 32, 3), dtype=np.uint8)
    app._test_set = (x, np.arange(20) % 10, CLASS_NAMES)
    app.random_button.click()
    page = cards_html(app)
    assert len(page) == 3
    for h in page:
        assert 'class="wic-truth"' in h and len(top3(h)) == 3 and "CIFAR-10 test image #" in h


def test_random_button_disabled_without_dataset(app, monkeypatch):
    assert app.random_button.disabled
    monkeypatch.delenv("WIC_DATA_DIR", raising=False)
    from wic.serving.app import ClassifierApp

    assert ClassifierApp().random_button.disabled


def test_no_models_shows_a_message_and_disables_upload(tmp_path, monkeypatch):
    from wic.serving.app import ClassifierApp

    monkeypatch.setenv("WIC_MODELS_DIR", str(tmp_path))
    app = ClassifierApp()
    assert app.classifier is None and app.upload.disabled and app.random_button.disabled
    assert "No trained model" in app.status.value


def test_unknown_model_name_is_a_message_not_a_crash(models_folder):
    from wic.serving.app import ClassifierApp

    app = ClassifierApp("no_such_model", data_available=False)
    (msg,) = cards_html(app)
    assert "wic-error" in msg and "no_such_model" in msg and "default model" in msg
    assert app.classifier.name == "seed_v1_3"  # the default model, as the list shows


def test_a_model_without_measured_latency_is_not_served_by_default(tmp_path, monkeypatch,
                                                                   tiny_model_path):
    from wic.serving.app import ClassifierApp

    shutil.copy(tiny_model_path, tmp_path / "seed_v1_3.keras")
    cards.write_card(tmp_path / "seed_v1_3.keras", {"test_accuracy": ACC})  # never measured
    monkeypatch.setenv("WIC_MODELS_DIR", str(tmp_path))
    app = ClassifierApp(data_available=False)
    assert app.classifier is None and app.model_select.value is None
    assert "none is the default" in app.status.value and "wic-error" in app.status.value
    named = ClassifierApp("seed_v1_3", data_available=False)  # asked for by name: served
    assert named.classifier.name == "seed_v1_3" and not named.upload.disabled


def test_onnx_backend_without_an_export_says_how_to_make_one(models_folder, monkeypatch):
    from wic.serving.app import ClassifierApp

    monkeypatch.setenv("WIC_SERVING_BACKEND", "onnx")
    app = ClassifierApp(data_available=False)
    assert app.backend == "onnx" and app.classifier is None
    assert "wic export seed_v1_3 --format onnx" in app.status.value
    assert ClassifierApp(data_available=False, backend="keras").classifier.backend == "keras"


def test_results_are_bounded(app, monkeypatch):
    from wic.serving import app as widgets

    monkeypatch.setattr(widgets, "MAX_RESULTS", 3)
    for i in range(5):
        app.upload.value = (upload_item(f"{i}.png", encoded(seed=i)),)
    assert len(app.results_box.children) == 3 and len(app.results) == 3
    assert "4.png" in cards_html(app)[0]



def test_every_hostile_file_in_one_upload(app, monkeypatch):
    """All hostile and awkward cases at once: each refused one gets its own message, each
    valid one a result, none an "unexpected error", and the app still works afterwards."""
    from hostile import CASES

    from wic.serving import app as widgets

    monkeypatch.setattr(widgets, "MAX_RESULTS", len(CASES) + 1)
    app.upload.value = tuple(upload_item(f"{c.name}{c.suffix}", c.make(), "application/octet-stream")
                             for c in CASES)
    page = cards_html(app)[::-1]  # oldest first: the upload's order
    assert len(page) == len(CASES)
    for case, h in zip(CASES, page, strict=True):
        assert f"{case.name}{case.suffix}" in h and "went wrong" not in h, (case.name, h)
        if case.refuse:
            text = html.unescape(h)  # messages are escaped: "<svg>" is sent as "&lt;svg&gt;"
            assert 'class="wic-error"' in h and all(w in text for w in case.refuse), (case.name, h)
        else:
            assert len(top3(h)) == 3, (case.name, h)
    app.upload.value = (upload_item("after.png", encoded()),)
    assert len(top3(cards_html(app)[0])) == 3


# ----------------------------------------------------------------------------- reduced uploads
# PhotoUpload's JavaScript sends a big photo as raw RGB pixels at 256 px on its shorter side,
# with the original's size and dimensions (wic.serving.upload; its JavaScript runs in
# tests/test_browser.py and benchmarks/browser_reduce.py).


def reduced_item(name: str, w: int = 320, h: int = 256, original=(2500, 2000), nbytes=None,
                 size: int = 5_100_000) -> dict:
    pixels = np.random.default_rng(3).integers(0, 256, (h, w, 3), dtype=np.uint8).tobytes()
    if nbytes is not None:
        pixels = pixels[:nbytes]
    return {"name": name, "type": "image/jpeg", "size": size, "content": memoryview(pixels),
            "last_modified": 0, "shape": [h, w], "original_px": list(original)}


def test_a_photo_reduced_in_the_browser_is_classified_with_its_own_size(app):
    app.upload.value = (reduced_item("big.jpg"),)
    assert app.upload.value == ()
    (card,) = cards_html(app)
    assert len(top3(card)) == 3 and "big.jpg" in card
    assert "4.9 MB, 2500×2000 px (sent reduced to 320×256)" in card
    assert app.results[0].x32.shape == (32, 32, 3)


@pytest.mark.parametrize(("item", "message"), [
    (reduced_item("bomb.jpg", original=(30000, 30000)), "the limit is 50 megapixels"),
    (reduced_item("strip.jpg", original=(20000, 500)), "too thin to classify"),
    (reduced_item("short.jpg", nbytes=1000), "the browser sent 1,000 bytes for a 320x256"),
    ({**reduced_item("odd.jpg"), "original_px": "wide"}, "without its dimensions"),
])
def test_a_reduced_photo_is_checked_like_the_original(app, item, message):
    app.upload.value = (item,)
    (err,) = cards_html(app)
    assert 'class="wic-error"' in err and item["name"] in err and html.escape(message) in err
    app.upload.value = (upload_item("ok.png", encoded()),)  # the next upload works
    assert len(top3(cards_html(app)[0])) == 3


def test_a_card_is_born_complete_and_shares_its_layout(app):
    app.upload.value = (upload_item("a.png", encoded()), upload_item("b.png", encoded(seed=1)))
    a, b = app.results_box.children
    assert "wic-result" in a._dom_classes and a.layout is b.layout and a.style is b.style
