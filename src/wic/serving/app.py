"""The interactive classifier: an ipywidgets app on top of :class:`wic.serving.Classifier`.

``ClassifierApp(model_name).widget`` is the whole page: upload one or many images and see,
for each, the picture, the 32x32 image the model actually sees and its top-3 classes as a bar
chart; pick another model (each labelled with its test accuracy from its card); draw random
CIFAR-10 test images (when ``WIC_DATA_DIR`` is configured) with their true label beside the
prediction; and switch on a saliency or Grad-CAM overlay to see what the model looked at.

Rules the app keeps, because it is served to strangers by Voilà:

- All state lives in the app instance. Voilà starts one kernel per page, so one instance is
  one visitor; nothing user-related is kept at module level.
- Every callback is guarded: a bad file (:class:`wic.ImageError`) shows its message in
  the page; anything unexpected shows a generic message and its traceback goes to the server
  log (the kernel's real stderr, never the page); the next upload works either way.
- Uploads are processed then cleared (``upload.value = ()``), so the kernel does not keep the
  files and the notebook never saves them in its widget state.
- Speed (the budget is one second from upload to result for a 5 MB photo): a big photo is
  reduced in the visitor's browser before it is sent (:mod:`wic.serving.upload`); a card is one
  HTML widget, born complete with its images inlined, the top-3 drawn with CSS and a layout and
  style shared by every card — one message to the browser, no matplotlib; the model is loaded and the whole upload path run once when the app starts; the
  explanation overlay, which needs a backward pass, is computed after the card is on screen and
  the card is redrawn with it.
"""

from __future__ import annotations

import base64
import html
import io
import logging
import os
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

import ipywidgets as W
import numpy as np
from ipywidgets.widgets.widget_string import HTMLStyle

from wic import cards, config
from wic.files import human_size
from wic.serving.classifier import (
    Classifier,
    ModelError,
    percent,
    resolve_model_path,
    top_classes,
)
from wic.serving.images import ACCEPTED, MAX_PIXELS, ImageError
from wic.serving.upload import PhotoUpload, received

MAX_RESULTS = 24  # cards kept on the page (older ones are dropped with their arrays)
THUMB_PX = 192  # the uploaded picture is shown at most this wide/high
VIEW_PX = 128  # the 32x32 model input (and the overlay) is shown at this size, nearest-neighbour
THUMB_COLUMN, VIEW_COLUMN = THUMB_PX + 8, VIEW_PX + 28  # fixed column widths: cards line up
EXPLAIN_MODES = (("Off", "off"), ("Saliency", "saliency"), ("Grad-CAM", "gradcam"))
EXPLAIN_TITLES = {"saliency": "Saliency (SmoothGrad)", "gradcam": "Grad-CAM"}
GENERIC_ERROR = ("Sorry, something went wrong while {what}. The problem has been logged; "
                 "please try again or use another image.")


# ----------------------------------------------------------------------------- server log


class _ServerLogHandler(logging.Handler):
    """Writes to the process's real stderr (the Voilà / Jupyter server's terminal).

    Inside a kernel ``sys.stderr`` publishes to the browser; its ``fileno()`` is a copy of the
    kernel's original stderr, which is where these records go. They never reach a page.
    """

    def emit(self, record):
        try:
            try:
                fd = sys.stderr.fileno()
            except (AttributeError, OSError, ValueError):
                fd = 2
            os.write(fd, (self.format(record) + "\n").encode("utf-8", "replace"))
        except Exception:  # noqa: BLE001 - a logging failure must not reach the page either
            pass


log = logging.getLogger(__name__)
if not any(isinstance(h, _ServerLogHandler) for h in log.handlers):
    _handler = _ServerLogHandler()
    _handler.setFormatter(logging.Formatter("%(created).3f %(asctime)s %(name)s %(levelname)s %(message)s"))
    log.addHandler(_handler)
    log.setLevel(logging.INFO)
    log.propagate = False  # the root logger's handlers may write to the page's stderr


# ----------------------------------------------------------------------------- small helpers


def _png(array: np.ndarray) -> bytes:
    """uint8 RGB array → PNG bytes (fast, lightly compressed)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(array)).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def _thumbnail(img, px: int = THUMB_PX) -> tuple[bytes, str, tuple[int, int]]:
    """A display copy of a PIL image: (bytes, MIME type, size).

    Large pictures are shrunk to ``px`` on their long side and sent as JPEG; small ones are
    sent as they are, losslessly (PNG), and enlarged in the page with visible pixels.
    """
    from PIL import Image

    if img.mode != "RGB":
        img = img.convert("RGB")
    buf = io.BytesIO()
    if max(img.size) <= px:
        img.save(buf, format="PNG", compress_level=1)
        return buf.getvalue(), "image/png", img.size
    thumb = img.resize(_fit(img.size, px), Image.BILINEAR, reducing_gap=2.0)
    thumb.save(buf, format="JPEG", quality=85)
    return buf.getvalue(), "image/jpeg", thumb.size


def _fit(size: tuple[int, int], px: int) -> tuple[int, int]:
    w, h = size
    scale = px / max(w, h)
    return max(1, round(w * scale)), max(1, round(h * scale))


def figure_html(title: str, data: bytes, mime: str, width: int, height: int, column: int,
                pixelated: bool = False, cls: str = "wic-fig") -> str:
    """An image with a caption, inlined as a data: URI (one widget per card, no extra round trips).

    ``pixelated`` shows a small image (the 32x32 model input) enlarged with hard pixel edges.
    ``column`` is the figure's fixed width and captions have a two-line height, so the
    columns of successive cards line up.
    """
    src = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
    rendering = "image-rendering:pixelated;" if pixelated else ""
    return (f'<figure class="{cls}" style="margin:0 12px 6px 0;width:{column}px">'
            f'<figcaption style="font-size:12px;line-height:15px;min-height:30px;color:#555;'
            f'margin-bottom:3px">{title}</figcaption>'
            f'<img src="{src}" width="{width}" height="{height}" alt="{title}" '
            f'style="{rendering}width:{width}px;height:{height}px;display:block;'
            f'border:1px solid #ddd;background:#fafafa"></figure>')


def _safe_name(name) -> str:
    """A file name for display: a string, no path, not absurdly long (HTML-escaped later)."""
    name = str(name or "upload").replace("\\", "/").rsplit("/", 1)[-1] or "upload"
    return name if len(name) <= 80 else name[:60] + "…" + name[-15:]


def _idle_note() -> str:
    """On the class page (``$WIC_IDLE_MINUTES`` set by wic.serving.classroom): when it closes."""
    minutes = os.environ.get("WIC_IDLE_MINUTES")
    if not minutes:
        return ""
    return ("<div class='wic-idle' style='color:#666;font-size:12px;margin-top:2px'>Nothing you "
            "upload is stored. A page left idle for " + html.escape(minutes) + " minutes is closed "
            "to free its seat for someone else: reload it to continue.</div>")


def _is_bytes(content) -> bool:
    return isinstance(content, (bytes, bytearray, memoryview))


def _pct(p: float) -> str:
    return percent(p)


def bars_html(top: list[tuple[str, float]], true_label: str | None = None) -> str:
    """The top-k as an HTML bar chart; labels and raw probabilities are in ``data-`` attributes."""
    rows = []
    for i, (label, p) in enumerate(top):
        colour = "#1f77b4" if i == 0 else "#9ab8d6"
        weight = "600" if i == 0 else "400"
        width = max(0.0, min(100.0, 100.0 * float(p)))
        rows.append(
            f'<div class="wic-row" data-label="{html.escape(label)}" data-prob="{float(p):.6f}" '
            f'style="display:flex;align-items:center;margin:3px 0">'
            f'<span class="wic-label" style="width:90px;font-weight:{weight}">{html.escape(label)}</span>'
            f'<span style="display:inline-block;width:180px;height:14px;background:#eee;'
            f'border-radius:3px;margin:0 8px">'
            f'<span style="display:block;height:14px;width:{width:.1f}%;background:{colour};'
            f'border-radius:3px"></span></span>'
            f'<span class="wic-prob" style="width:52px;text-align:right;'
            f'font-variant-numeric:tabular-nums">{_pct(p)}</span></div>')
    truth = ""
    if true_label is not None:
        ok = bool(top) and top[0][0] == true_label
        mark = ('<span style="color:#2a7d2a">✓ correct</span>' if ok
                else '<span style="color:#b22">✗ wrong</span>')
        truth = (f'<div class="wic-truth" data-true="{html.escape(true_label)}" '
                 f'style="margin-top:6px">true label: <b>{html.escape(true_label)}</b> {mark}</div>')
    return f'<div class="wic-top3">{"".join(rows)}{truth}</div>'


def message_html(text: str, kind: str = "error") -> str:
    colours = {"error": ("#fdecea", "#b71c1c", "⚠"), "info": ("#eef5fb", "#1f4e79", "ℹ")}
    bg, fg, icon = colours.get(kind, colours["info"])
    return (f'<div class="wic-{kind}" role="{"alert" if kind == "error" else "status"}" '
            f'style="background:{bg};color:{fg};padding:6px 10px;border-radius:4px;'
            f'margin:4px 0">{icon} {html.escape(text)}</div>')


def _model_label(row: dict) -> str:
    acc = row.get("test_accuracy")
    acc_text = f"test accuracy {acc:.1%}" if isinstance(acc, (int, float)) else "no test accuracy (no card)"
    return f"{row['name']} — {acc_text}"


@dataclass
class _Result:
    """One card on the page: a single HTML widget, re-rendered when its explanation changes."""

    widget: W.HTML | None
    x32: np.ndarray = field(repr=False)
    class_index: int
    label: str
    model_path: str
    figures: str = field(repr=False)  # the picture(s), as HTML
    info: str = field(repr=False)  # file name, model, timing and the top-3 chart
    overlay: str = field(default="", repr=False)

    def html(self) -> str:
        return ('<div style="display:flex;flex-flow:row wrap;align-items:flex-start">'
                f'{self.figures}{self.overlay}<div class="wic-info-col" style="min-width:330px">'
                f'{self.info}</div></div>')

    def render(self) -> None:
        self.widget.value = self.html()


# ----------------------------------------------------------------------------- the app


class ClassifierApp:
    """The interactive CIFAR-10 classifier; display ``app.widget``.

    ``model_name`` is a model name in the models folder, a path to a ``.keras`` file, or None
    for the best model there (by test accuracy). ``data_available`` overrides the check for a
    configured CIFAR-10 folder (for tests); ``seed`` makes the random test images repeatable.
    ``backend`` is ``"keras"`` or ``"onnx"`` (default: ``$WIC_SERVING_BACKEND``, else keras);
    with ONNX the kernel classifies without TensorFlow, which is loaded only when a visitor
    asks for an explanation.
    """

    def __init__(self, model_name: str | None = None, *, explain: str = "off",
                 random_count: int = 4, data_available: bool | None = None,
                 seed: int | None = None, backend: str | None = None):
        self.backend = backend or os.environ.get("WIC_SERVING_BACKEND", "keras")
        self.classifier = None
        self.results: list[_Result] = []
        self._explainers: dict[str, object] = {}
        self._classifiers: dict[str, object] = {}
        self._test_set = None
        self._rng = np.random.default_rng(seed)
        self.random_count = int(random_count)
        self._data_available = self._dataset_configured() if data_available is None else data_available

        self.header = W.HTML(
            "<h3 style='margin:4px 0'>What is in the picture?</h3>"
            "<div style='color:#444'>Upload photos or drawings (" + html.escape(ACCEPTED) + "). A small "
            "network trained on CIFAR-10 guesses which of its 10 classes each shows: airplane, "
            "automobile, bird, cat, deer, dog, frog, horse, ship, truck.</div>" + _idle_note())
        self.model_select = W.Dropdown(description="Model:", options=[],
                                       style={"description_width": "initial"},
                                       layout=W.Layout(width="430px", margin="6px 0 4px 0"))
        self.upload = PhotoUpload(accept="image/*,.svg", multiple=True,
                                  description="Upload images")
        self.random_button = W.Button(
            description="Random CIFAR-10 test images", icon="random",
            disabled=not self._data_available, layout=W.Layout(width="240px"),
            tooltip=("Draw random images from the CIFAR-10 test set" if self._data_available
                     else "The CIFAR-10 dataset is not configured on this server (WIC_DATA_DIR)"))
        self.explain_toggle = W.ToggleButtons(
            options=EXPLAIN_MODES, value=explain if explain in dict(EXPLAIN_MODES).values() else "off",
            description="Show what it looked at:", style={"description_width": "initial",
                                                          "button_width": "90px"})
        self.clear_button = W.Button(description="Clear results", icon="trash",
                                     layout=W.Layout(width="140px"))
        self.status = W.HTML()
        self._card_layout = W.Layout(border="1px solid #ddd", padding="8px", margin="4px 0")
        self._card_style = HTMLStyle()
        self.results_box = W.VBox(layout=W.Layout(margin="8px 0 0 0"))
        for w, cls in ((self.upload, "wic-upload"), (self.random_button, "wic-random"),
                       (self.model_select, "wic-model"), (self.explain_toggle, "wic-explain"),
                       (self.status, "wic-status"), (self.results_box, "wic-results")):
            w.add_class(cls)

        self.widget = W.VBox([
            self.header,
            self.model_select,
            W.HBox([self.upload, self.random_button, self.clear_button],
                   layout=W.Layout(margin="4px 0", flex_flow="row wrap")),
            self.explain_toggle,
            self.status,
            self.results_box,
        ], layout=W.Layout(max_width="980px"))
        self.widget.add_class("wic-app")

        self._fill_model_options(model_name)
        self.upload.observe(self._on_upload, names="value")
        self.model_select.observe(self._on_model_change, names="value")
        self.explain_toggle.observe(self._on_explain_change, names="value")
        self.random_button.on_click(self._on_random)
        self.clear_button.on_click(self.clear)
        with self._guard("loading the model"):
            self._load(self.model_select.value)
        if self.classifier is None:  # no default, or it failed to load: nothing to upload to
            self._set_enabled(False)

    # -- display in Jupyter -----------------------------------------------------------------
    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)

    # -- guarded execution ------------------------------------------------------------------
    @contextmanager
    def _guard(self, what: str, name: str | None = None):
        """Turn any exception into a message in the page; the app keeps working."""
        try:
            yield
        except ImageError as exc:
            self._error(f"{name}: {exc}" if name else str(exc))
        except ModelError as exc:
            log.warning("model error while %s: %s", what, exc)
            self._error(str(exc), card=False)
        except Exception:  # noqa: BLE001 - the page must survive anything
            log.exception("unexpected error while %s%s", what, f" ({name!r})" if name else "")
            text = GENERIC_ERROR.format(what=what)
            self._error(f"{name}: {text}" if name else text)

    def _error(self, text: str, card: bool = True):
        if card:
            self._add_card(W.HTML(message_html(text, "error")))
        else:
            self.status.value = message_html(text, "error")

    def _info(self, text: str):
        self.status.value = message_html(text, "info")

    # -- models -------------------------------------------------------------------------------
    def _fill_model_options(self, model_name):
        rows = []
        with self._guard("listing the models"):
            rows = cards.catalogue()
        options = [(_model_label(r), str(r["path"])) for r in rows]
        wanted = None
        if model_name is not None:
            try:
                wanted = str(resolve_model_path(model_name))
            except ModelError as exc:
                fallback = " The default model is used instead." if options else ""
                self._add_card(W.HTML(message_html(f"{exc}.{fallback}", "error")))
        if wanted is None and options:
            with self._guard("finding the model"):
                wanted = str(resolve_model_path(None))
        if wanted is not None and wanted not in [v for _, v in options]:
            card = cards.read_card(wanted)
            label = _model_label({"name": os.path.basename(wanted).rsplit(".", 1)[0],
                                  "test_accuracy": card.get("test_accuracy")})
            options.insert(0, (label, wanted))
        self.model_select.options = options
        if wanted is not None:
            self.model_select.value = wanted
        if not options:
            self._error("No trained model found in the models folder. Train one (notebook "
                        "03_training or `wic train`) or set WIC_MODELS_DIR.", card=False)
        self._set_enabled(bool(options))

    def _set_enabled(self, enabled: bool):
        self.upload.disabled = not enabled
        self.random_button.disabled = not (enabled and self._data_available)

    def _load(self, path):
        if not path:
            return
        self._info("Loading the model…")
        if path not in self._classifiers:
            clf = Classifier.load(path, backend=self.backend)
            _warm_up(clf)
            self._classifiers[path] = clf
        self.classifier = self._classifiers[path]
        acc = (self.classifier.card or {}).get("test_accuracy")
        acc_text = f" (test accuracy {acc:.1%})" if isinstance(acc, (int, float)) else ""
        self._info(f"Model {self.classifier.name}{acc_text} is ready: upload images"
                   + (" or draw random CIFAR-10 test images." if self._data_available else "."))
        self._set_enabled(True)

    def _on_model_change(self, change):
        if not change.get("new"):
            return
        self.classifier = None
        with self._guard("loading the model"):
            self._load(change["new"])
        if self.classifier is None:
            self._set_enabled(False)

    def _explainer(self, path: str):
        if path not in self._explainers:
            from wic.serving.classroom import take_explain_seat

            take_explain_seat()  # on the class page, only a few kernels may hold TensorFlow
            from wic.evaluation import explain  # TensorFlow: loaded when a visitor asks

            self._explainers[path] = explain.Explainer(self._classifiers[path].keras_model())
        return self._explainers[path]

    # -- uploads ------------------------------------------------------------------------------
    def _on_upload(self, change):
        files = change.get("new")
        if not files:  # fires again when we clear the value
            return
        log.info("upload received: %d file(s), %s", len(files), human_size(sum(
            memoryview(f["content"]).nbytes for f in files if isinstance(f, dict) and "content" in f)))
        try:
            for f in files:
                name = _safe_name(f.get("name") if isinstance(f, dict) else None)
                with self._guard("reading the upload", name):
                    clf = self.classifier
                    src, size_note = received(f, clf.max_pixels if clf else MAX_PIXELS)
                    self.classify(src, name, size_note=size_note)
        finally:
            self.upload.value = ()

    def classify(self, content, name: str = "image", *, size_note: str | None = None) -> _Result:
        """Classify one image (bytes, memoryview, path, PIL or array) and show its card.

        ``size_note`` replaces the shown size (a photo reduced in the browser: its own size)."""
        if self.classifier is None:
            raise ModelError("No model is loaded; choose one in the Model list.")
        clf = self.classifier
        t0 = time.perf_counter()
        picture, x32 = clf.preview(content)
        probs = np.asarray(clf.probabilities(x32), np.float64)
        top = top_classes(probs, clf.class_names, 3)
        thumb, mime, (tw, th) = _thumbnail(picture)
        elapsed = time.perf_counter() - t0
        size = (f"{size_note} · " if size_note else
                f"{human_size(memoryview(content).nbytes)} · " if _is_bytes(content) else "")
        info = (f'<div class="wic-file" style="font-weight:600;margin-bottom:2px">'
                f'{html.escape(name)}</div><div class="wic-meta" style="font-size:12px;color:#666;'
                f'margin-bottom:4px">{size}{html.escape(clf.name)} · {elapsed * 1000:.0f} ms</div>')
        shown = _fit((tw, th), THUMB_PX)  # small pictures are enlarged, with visible pixels
        figures = (figure_html("your picture", thumb, mime, *shown, THUMB_COLUMN,
                               pixelated=shown[0] > tw)
                   + figure_html("what the model sees (32×32)", _png(x32), "image/png",
                                 VIEW_PX, VIEW_PX, VIEW_COLUMN, pixelated=True))
        log.info("classified %r (%s) as %s in %.0f ms", name, size.strip(" ·") or "-", top[0][0],
                 elapsed * 1000)
        return self._show(figures, info, top, x32, clf)

    # -- random CIFAR-10 test images ----------------------------------------------------------
    @staticmethod
    def _dataset_configured() -> bool:
        if config.data_dir() is None:
            return False
        try:
            from wic.data import cifar10

            cifar10.find_dataset()
            return True
        except Exception:  # noqa: BLE001 - any problem means "not available"
            return False

    def _cifar_test(self):
        if self._test_set is None:
            from wic.data import cifar10

            self._test_set = cifar10.load_test_split()
        return self._test_set

    def _on_random(self, _button=None):
        with self._guard("drawing random test images"):
            self.show_random()

    def show_random(self, n: int | None = None) -> list[_Result]:
        """Classify ``n`` random CIFAR-10 test images and show them with their true labels."""
        if self.classifier is None:
            raise ModelError("No model is loaded; choose one in the Model list.")
        x, y, names = self._cifar_test()
        idx = self._rng.choice(len(x), size=min(n or self.random_count, len(x)), replace=False)
        clf = self.classifier
        tops = clf.top_k_batch([x[i] for i in idx], k=3)
        out = []
        for i, top in zip(idx, tops, strict=True):
            if isinstance(top, Exception):
                raise top
            top = [(str(label), float(p)) for label, p in top]
            info = (f'<div class="wic-file" style="font-weight:600;margin-bottom:2px">'
                    f'CIFAR-10 test image #{int(i)}</div><div class="wic-meta" style="font-size:12px;'
                    f'color:#666;margin-bottom:4px">32×32 px · {html.escape(clf.name)}</div>')
            figures = figure_html("the test image (32×32)", _png(x[i]), "image/png", VIEW_PX,
                                  VIEW_PX, VIEW_COLUMN, pixelated=True)
            out.append(self._show(figures, info, top, x[i], clf, true_label=names[int(y[i])]))
        return out

    # -- cards --------------------------------------------------------------------------------
    def _show(self, figures, info, top, x32, clf, true_label=None) -> _Result:
        label = top[0][0]
        result = _Result(None, np.asarray(x32), list(clf.class_names).index(label), label,
                         str(clf.path), figures, info + bars_html(top, true_label))
        # Born complete, with the layout and style every card shares: one message to the
        # browser (a new HTML widget with its own layout and style, then its class and then its
        # value, were five).
        result.widget = W.HTML(result.html(), layout=self._card_layout, style=self._card_style,
                               _dom_classes=("wic-result",))
        self.results.insert(0, result)
        self._add_card(result.widget)
        self._explain(result)  # after the card is on screen: it fills in a moment later
        return result

    def _add_card(self, card: W.Widget):
        children = (card, *self.results_box.children)
        if len(children) > MAX_RESULTS:
            dropped = children[MAX_RESULTS:]
            children = children[:MAX_RESULTS]
            self.results = [r for r in self.results if r.widget not in dropped]
            for w in dropped:
                w.close()  # frees the comm and the browser-side model
        self.results_box.children = children

    def clear(self, _button=None):
        """Remove every card (and the arrays kept for redrawing explanations)."""
        old = self.results_box.children
        self.results = []
        self.results_box.children = ()
        for w in old:
            w.close()

    # -- explanations -------------------------------------------------------------------------
    def _explain(self, result: _Result):
        mode = self.explain_toggle.value
        overlay = ""
        if mode != "off":
            from wic.serving.classroom import ExplainSeatsTaken

            with self._guard("computing the explanation"), _reported(ExplainSeatsTaken, self._info):
                from wic.evaluation import explain

                e = self._explainer(result.model_path)
                heat = (e.grad_cam(result.x32, result.class_index) if mode == "gradcam"
                        else e.saliency(result.x32, result.class_index))
                img = explain.overlay(result.x32, heat, alpha=0.55, size=VIEW_PX, nearest=True)
                title = f"{EXPLAIN_TITLES[mode]}: why “{html.escape(result.label)}”"
                overlay = figure_html(title, _png(img), "image/png", VIEW_PX, VIEW_PX, VIEW_COLUMN,
                                      cls="wic-fig wic-overlay")
        if overlay != result.overlay:
            result.overlay = overlay
            result.render()

    def _on_explain_change(self, change):
        if not change.get("new"):
            return
        for result in list(self.results):
            self._explain(result)


# ----------------------------------------------------------------------------- the picture


SCREENSHOT = "app_page.png"  # in the project's figures/, taken by tests/test_browser.py


def page_screenshot():
    """The committed screenshot of the page, for a reader of notebook 06 without a kernel.

    Returns an ``IPython.display.Image`` (shown as the cell's output, kept in the committed
    notebook and the rendered course), or None on the web page itself (Voilà sets
    ``VOILA_PREHEAT`` in its kernels' environment) and when no screenshot has been taken.
    """
    if "VOILA_PREHEAT" in os.environ:
        return None
    path = config.project_root() / "figures" / SCREENSHOT
    if not path.is_file():
        print(f"no screenshot yet: tests/test_browser.py writes artifacts/{SCREENSHOT}; "
              f"copy it to figures/{SCREENSHOT}")
        return None
    from IPython.display import Image

    return Image(filename=str(path), width=720)


# ----------------------------------------------------------------------------- adapters


@contextmanager
def _reported(kind: type[Exception], show):
    """An expected refusal (``kind``) is shown with ``show(message)``, not as an error."""
    try:
        yield
    except kind as exc:
        show(str(exc))


def _warm_up(clf) -> None:
    """Run the whole upload path once (decoders, model trace, encoders) before anyone waits on it."""
    from PIL import Image

    for fmt in ("JPEG", "PNG"):
        buf = io.BytesIO()
        Image.new("RGB", (64, 48), (120, 140, 160)).save(buf, fmt)
        picture, x32 = clf.preview(buf.getvalue())
        clf.probabilities(x32)
        _thumbnail(picture)
        _png(x32)
