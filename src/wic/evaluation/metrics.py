"""Metrics: accuracy, confusion matrix, per-class report, most-confused pairs, mistakes.

Everything here works on predicted probabilities, so a model is run over the test set once
(:func:`predict_proba`) and every figure and number is derived from that one array.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sklearn.metrics import classification_report, confusion_matrix

from wic import config, data
from wic.evaluation.calibration import expected_calibration_error


def predict_proba(model, x_uint8: np.ndarray, batch_size: int = 500) -> np.ndarray:
    """Class probabilities for uint8 images, in batches, without Keras' per-call overhead."""
    out = []
    for i in range(0, len(x_uint8), batch_size):
        xb = data.to_float(x_uint8[i:i + batch_size])
        out.append(np.asarray(model(xb, training=False)))
    return np.concatenate(out) if out else np.zeros((0, 10), np.float32)


def predict_proba_selective(model, x_uint8: np.ndarray, threshold: float,
                            batch_size: int = 500) -> tuple[np.ndarray, np.ndarray]:
    """Test-time augmentation only where the plain net is unsure (the 2025 record's selective TTA).

    Every image is scored once as it is; those whose top probability is below ``threshold`` are
    scored again with the model's own TTA views, and those scores replace the plain ones. Returns
    the probabilities and a boolean mask of the images scored again. ``threshold`` 0 scores none
    again (the plain net), anything above 1 scores all (full TTA, at the cost of a plain pass)."""
    from wic.models import airbench

    threshold = float(threshold)
    if not np.isfinite(threshold) or threshold < 0:
        raise ValueError(f"threshold must be a probability from 0 up (above 1 means every image), "
                         f"got {threshold!r}")
    if not airbench.tta_level(model):
        raise ValueError(f"model {model.name!r} has no test-time augmentation to apply selectively "
                         "(its TTA level is 0 or it has no TTA layers)")
    with airbench.tta_disabled(model):
        probs = predict_proba(model, x_uint8, batch_size)
    rerun = probs.max(1) < threshold
    if rerun.any():
        probs[rerun] = predict_proba(model, x_uint8[rerun], batch_size)
    return probs, rerun


def selective_tta_curve(plain: np.ndarray, full: np.ndarray, y_true: np.ndarray,
                        thresholds) -> list[dict]:
    """Accuracy of selective TTA at each confidence threshold, from one plain and one full-TTA
    scoring of the same images: an image whose plain top probability is below the threshold
    takes its TTA prediction. Rows of threshold, share of images scored again, accuracy."""
    plain, full = np.asarray(plain), np.asarray(full)
    y_true = np.asarray(y_true).astype(int).ravel()
    if plain.shape != full.shape or len(plain) != len(y_true) or not len(y_true):
        raise ValueError(f"plain {plain.shape}, full-TTA {full.shape} scores and {len(y_true)} "
                         "labels must describe the same non-empty set of images")
    conf, p_plain, p_full = plain.max(1), plain.argmax(1), full.argmax(1)
    rows = []
    for t in thresholds:
        rerun = conf < float(t)
        pred = np.where(rerun, p_full, p_plain)
        rows.append({"threshold": float(t), "rerun_fraction": float(rerun.mean()),
                     "accuracy": float((pred == y_true).mean())})
    return rows


def choose_tta_threshold(curve: list[dict], full_accuracy: float) -> float | None:
    """The cheapest threshold of ``curve`` (:func:`selective_tta_curve`) that loses nothing against
    full TTA: the one scoring the fewest images again whose accuracy is at least
    ``full_accuracy``. None when no threshold reaches it (then TTA goes to every image)."""
    ok = [r for r in curve if r["accuracy"] >= full_accuracy]
    if not ok:
        return None
    return min(ok, key=lambda r: (r["rerun_fraction"], r["threshold"]))["threshold"]


@dataclass
class Evaluation:
    accuracy: float
    per_class_accuracy: dict[str, float]
    confusion: np.ndarray
    report: dict
    ece: float
    class_names: tuple[str, ...]
    probs: np.ndarray = field(repr=False)
    y_true: np.ndarray = field(repr=False)

    @property
    def y_pred(self) -> np.ndarray:
        return self.probs.argmax(1)

    def to_card(self) -> dict:
        """The JSON-safe numbers that go into a model card."""
        return {
            "test_accuracy": round(self.accuracy, 5),
            "per_class_accuracy": {k: round(v, 4) for k, v in self.per_class_accuracy.items()},
            "expected_calibration_error": round(self.ece, 5),
            "macro_f1": round(self.report["macro avg"]["f1-score"], 5),
            "test_examples": int(len(self.y_true)),
        }


def evaluate_probs(probs: np.ndarray, y_true: np.ndarray, class_names=None) -> Evaluation:

    class_names = tuple(class_names or config.CLASS_NAMES)
    y_true = np.asarray(y_true).astype(int)
    y_pred = probs.argmax(1)
    labels = list(range(len(class_names)))
    cm = confusion_matrix(y_true, y_pred, labels=labels)
    with np.errstate(invalid="ignore", divide="ignore"):
        per = np.where(cm.sum(1) > 0, cm.diagonal() / cm.sum(1), 0.0)
    report = classification_report(y_true, y_pred, labels=labels, target_names=list(class_names),
                                    output_dict=True, zero_division=0)
    return Evaluation(
        accuracy=float((y_pred == y_true).mean()) if len(y_true) else 0.0,
        per_class_accuracy={n: float(a) for n, a in zip(class_names, per)},
        confusion=cm, report=report, ece=expected_calibration_error(probs, y_true),
        class_names=class_names, probs=probs, y_true=y_true,
    )


def evaluate_model(model, x_uint8, y_true, class_names=None, batch_size: int = 500) -> Evaluation:
    return evaluate_probs(predict_proba(model, x_uint8, batch_size), y_true, class_names)


def accuracy_standard_error(accuracy: float, images: int) -> float:
    """How far an accuracy measured on ``images`` test images moves from one sample of images to
    another: sqrt(p (1 - p) / n), the standard error of a share. About two of them either side is
    where the same model would score on other images (95% of the time); a difference smaller
    than that is not yet a result. Four times the images halve it."""
    if not 0.0 <= accuracy <= 1.0 or not np.isfinite(accuracy):
        raise ValueError(f"accuracy must be a share between 0 and 1, got {accuracy!r}")
    if int(images) != images or images < 1:
        raise ValueError(f"images must be a whole number of at least 1, got {images!r}")
    return float(np.sqrt(accuracy * (1.0 - accuracy) / images))


def most_confused_pairs(confusion: np.ndarray, class_names, top: int = 5) -> list[tuple[str, str, int]]:
    """(true, predicted, count) for the largest off-diagonal cells."""
    cm = np.array(confusion, copy=True)
    np.fill_diagonal(cm, 0)
    order = np.argsort(cm, axis=None)[::-1][:top]
    return [(class_names[i], class_names[j], int(cm[i, j]))
            for i, j in zip(*np.unravel_index(order, cm.shape)) if cm[i, j] > 0]


def confident_mistakes(probs: np.ndarray, y_true: np.ndarray, top: int = 16) -> np.ndarray:
    """Indices of the wrong predictions made with the highest confidence."""
    wrong = np.flatnonzero(probs.argmax(1) != np.asarray(y_true))
    return wrong[np.argsort(-probs[wrong].max(1))][:top]


def time_to_threshold(rows: list[dict], label: str, threshold: float) -> float | None:
    """First elapsed seconds at which run ``label`` reached ``threshold`` accuracy (or None).

    ``rows`` are time-to-accuracy records: ``recipe``, ``elapsed_s``, ``test_accuracy``.
    """
    hits = [float(r["elapsed_s"]) for r in rows if r["recipe"] == label
            and float(r["test_accuracy"]) >= threshold]
    return min(hits) if hits else None


# time-to-accuracy (issue 6): the thresholds every run is timed to, and the (accuracy, seconds)
# targets drawn on its plots
TIME_TO_ACCURACY_THRESHOLDS = (0.78, 0.85, 0.90, 0.94)
TIME_TO_ACCURACY_TARGETS = ((0.90, 12 * 60), (0.94, 45 * 60))
# robustness (issue 12): the page's model should reach both its clean test accuracy and its
# CIFAR-10-C (regenerated) mean; the robustness figure shades the corner that meets both
CLEAN_TARGET, CORRUPTED_TARGET = 0.94, 0.85
#: What a robustness study's recipe is (``robust_study.csv``): the net and the fields its runs
#: set, all but the seed; runs equal in all of them are one recipe's repeats
ROBUST_RECIPE_FIELDS = ("net", "optimizer", "noise", "blur", "brightness", "contrast",
                        "clean_epochs", "clean_noisy_epochs", "validation_split", "epochs")


def robust_repeats(rows: list[dict]) -> list[list[int]]:
    """The indices of ``rows`` (``robust_study.csv``) that are one recipe trained with several
    seeds: equal in every field of :data:`ROBUST_RECIPE_FIELDS`, more than one seed. In row
    order, the first run first."""
    groups: dict[tuple, list[int]] = {}
    for i, r in enumerate(rows):
        groups.setdefault(tuple(str(r.get(k) or 0) for k in ROBUST_RECIPE_FIELDS), []).append(i)
    return [m for m in groups.values() if len({str(rows[i].get("seed")) for i in m}) > 1]
