"""Shipping a model: train_and_save writes into runs/<name>/, promote copies into models/, and
the page's default model is chosen only among models with a measured latency."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from fakedata import write_fake_cifar

from wic import backend, cards, cli, config, training
from wic.serving import LATENCY_BUDGET_MS, Classifier, ModelError, default_model, resolve_model_path

pytestmark = pytest.mark.timeout(600)
ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "models"


@pytest.fixture
def runs_dir(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "runs"
    monkeypatch.setenv("WIC_RUNS_DIR", str(folder))
    return folder


def finished_run(runs_dir: Path, name: str, model: Path, card: dict | None) -> Path:
    """runs/<name>/<name>.keras (a copy of ``model``) with ``card`` (None: no card)."""
    path = runs_dir / name / f"{name}.keras"
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(model, path)
    if card is not None:
        cards.write_card(path, card)
    return path


def edit_card(path: Path, **changes) -> None:
    card = cards.read_card(path)
    for key, value in changes.items():
        if value is None:
            card.pop(key, None)
        else:
            card[key] = value
    cards.write_card(path, card)


# ----------------------------------------------------------------------------- promote


def test_run_folder_is_under_the_runs_dir(runs_dir):
    assert training.run_folder("try1") == runs_dir / "try1" == config.runs_dir() / "try1"


def test_promote_refuses_an_unknown_run(runs_dir, models_dir):
    with pytest.raises(ValueError, match=r"no finished model at .*nope\.keras; accepted: a run name "
                                         f"in {runs_dir}"):
        training.promote("nope")
    with pytest.raises(ValueError, match="no finished model at"):
        training.promote(runs_dir / "elsewhere.keras")
    assert list(models_dir.iterdir()) == []


def test_promote_refuses_a_model_without_a_card(runs_dir, models_dir, tiny_model_path):
    finished_run(runs_dir, "bare", tiny_model_path, None)
    with pytest.raises(ValueError, match=r"bare\.keras has no card with a measured test accuracy "
                                         r"\(bare\.json\)"):
        training.promote("bare")
    finished_run(runs_dir, "unscored", tiny_model_path, {"epochs_run": 1})  # no test accuracy
    with pytest.raises(ValueError, match="unscored.keras has no card with a measured test accuracy"):
        training.promote("unscored")
    assert list(models_dir.iterdir()) == []


def _weights_h5(path: Path) -> dict[str, np.ndarray]:
    """Every array stored in a .keras archive's weights file, by its path in it."""
    import io
    import zipfile

    import h5py

    arrays = {}
    with h5py.File(io.BytesIO(zipfile.ZipFile(path).read("model.weights.h5")), "r") as h5:
        h5.visititems(lambda name, obj: arrays.__setitem__(name, obj[()])
                      if isinstance(obj, h5py.Dataset) else None)
    return arrays


@pytest.fixture(scope="module")
def trained_model_path(tmp_path_factory) -> Path:
    """``seed_v1_3`` after one SGD-with-momentum step, saved with its optimiser, as a run is."""
    from wic import models
    from wic.backend import keras

    config.set_seed(0)
    model = models.build("seed_v1_3")
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
                  loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    model.fit(rng.random((8, 32, 32, 3), dtype=np.float32), rng.integers(0, 10, 8), epochs=1,
              verbose=0)
    path = tmp_path_factory.mktemp("trained") / "seed_v1_3.keras"
    models.save(model, path)
    return path


def test_promote_ships_the_weights_without_the_optimiser_state(runs_dir, models_dir,
                                                               trained_model_path):
    src = finished_run(runs_dir, "trained", trained_model_path, {"test_accuracy": 0.5})
    dest = training.promote("trained")
    before, after = _weights_h5(src), _weights_h5(dest)
    momentum = [k for k in before if k.startswith("optimizer/")]
    assert momentum and not [k for k in after if k.startswith("optimizer/")]
    layers = {k: v for k, v in before.items() if not k.startswith("optimizer/")}
    assert layers.keys() == after.keys()
    assert all(np.array_equal(layers[k], after[k]) for k in layers)  # the same weights, bit for bit
    assert dest.stat().st_size < src.stat().st_size
    from wic import models

    x = np.random.default_rng(1).random((4, 32, 32, 3), dtype=np.float32)
    assert np.array_equal(models.load(src)(x).numpy(), models.load(dest)(x).numpy())


def test_promote_copies_both_files_and_replaces_only_with_force(runs_dir, models_dir,
                                                                tiny_model_path):
    src = finished_run(runs_dir, "try1", tiny_model_path, {"test_accuracy": 0.5})
    dest = training.promote("try1")
    assert dest == models_dir / "try1.keras"
    assert _weights_h5(dest).keys() == _weights_h5(src).keys()
    assert cards.card_path(dest).read_text() == cards.card_path(src).read_text()
    assert sorted(p.name for p in models_dir.iterdir()) == ["try1.json", "try1.keras"]

    edit_card(src, test_accuracy=0.6)  # a newer result for the same name
    with pytest.raises(ValueError, match=f"{dest} is already shipped; pass --force to replace it"):
        training.promote("try1")
    assert cards.read_card(dest)["test_accuracy"] == 0.5  # untouched
    assert training.promote("try1", force=True) == dest
    assert cards.read_card(dest)["test_accuracy"] == 0.6

    other = models_dir.parent / "elsewhere"
    assert training.promote(src, models_dir=other) == other / "try1.keras"  # by path, elsewhere
    assert (other / "try1.json").is_file()


def test_wic_models_promote(runs_dir, models_dir, tiny_model_path, capsys):
    finished_run(runs_dir, "try2", tiny_model_path, {"test_accuracy": 0.25})
    assert cli.main(["models", "promote", "try2"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"shipped {models_dir / 'try2.keras'} and try2.json")
    assert "--write-card" in out  # how to measure its latency, which makes it eligible
    assert cli.main(["models", "promote", "try2"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("wic models: error: ") and "--force" in err
    assert cli.main(["models", "promote", "try2", "--force"]) == 0
    capsys.readouterr()
    assert cli.main(["models"]) == 0
    assert capsys.readouterr().out.split() == ["try2", "test", "accuracy", "0.2500"]
    assert cli.main(["models", "promote", "nope"]) == 2
    assert "no finished model at" in capsys.readouterr().err


def test_wic_models_registry_lists_the_builders(capsys):
    from wic import models

    assert cli.main(["models", "--registry"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == models.available()
    assert any(line.startswith("seed_v1_3 ") and "pycrafters_team_model_v1.3" in line for line in lines)


# ----------------------------------------------------------------------------- the default model


def row(name, acc, latency="absent") -> dict:
    r = {"name": name, "path": Path(f"/m/{name}.keras"), "test_accuracy": acc, "card": {}}
    if latency != "absent":
        r["latency_ms_p50"] = latency
    return r


def test_default_model_rule_on_catalogue_rows():
    assert LATENCY_BUDGET_MS == 20.0
    rows = [row("unmeasured", 0.99, None), row("absent", 0.98), row("text", 0.97, "3.0"),
            row("slow", 0.95, 25.0), row("edge", 0.80, 20.0), row("quick", 0.70, 3.0),
            row("unscored", None, 1.0)]
    assert default_model(rows)["name"] == "edge"  # the most accurate measured within 20 ms
    assert default_model([r for r in rows if r["name"] != "edge"])["name"] == "quick"
    assert default_model([rows[-1]])["name"] == "unscored"  # measured, even if not scored
    assert default_model(rows[:4]) is None  # never a model without a measured latency
    assert default_model([]) is None


def _calibrated(r, ece=0.01, held_out=True):
    r["card"] = {"calibration": {"temperature": 0.5, "held_out_ece_after": ece,
                                 "held_out": held_out}}
    return r


def test_believable_percentages_come_first_then_accuracy():
    from wic.serving.classifier import ECE_BUDGET, believable

    assert ECE_BUDGET == 0.02
    sharp = _calibrated(row("sharp", 0.90, 10.0))
    fitted_on_seen = _calibrated(row("seen", 0.94, 10.0), held_out=False)
    loose = _calibrated(row("loose", 0.95, 10.0), ece=0.03)
    slow = _calibrated(row("slow", 0.99, 30.0))
    assert [believable(r["card"]) for r in (sharp, fitted_on_seen, loose)] == [True, False, False]
    assert default_model([sharp, fitted_on_seen, loose, slow])["name"] == "sharp"
    assert default_model([fitted_on_seen, loose])["name"] == "loose"  # none believable: accuracy
    # a card without the flag counts as held out when the run held images out (wic train)
    assert believable({"held_out_examples": 5000, "calibration": {"held_out_ece_after": 0.01}})
    assert not believable({"held_out_examples": 0, "calibration": {"held_out_ece_after": 0.01}})
    assert not believable({})


def test_the_most_robust_within_half_a_point_of_the_most_accurate_is_the_default():
    from wic.serving.classifier import ACCURACY_TOLERANCE

    assert ACCURACY_TOLERANCE == 0.005

    def robust(r, mean):
        r["card"]["robustness"] = {"mean_accuracy": mean, "n_images": 300}
        return r

    top = robust(_calibrated(row("top", 0.944, 10.0)), 0.69)
    sturdy = robust(_calibrated(row("sturdy", 0.940, 10.0)), 0.82)
    sturdier_but_worse = robust(_calibrated(row("worse", 0.938, 10.0)), 0.90)
    never_run = _calibrated(row("never", 0.942, 10.0))
    assert default_model([top, sturdy, sturdier_but_worse, never_run])["name"] == "sturdy"
    assert default_model([top, sturdier_but_worse, never_run])["name"] == "top"  # 0.6 pt: too far
    assert default_model([top, never_run])["name"] == "top"  # benchmarked beats never run
    twin = robust(_calibrated(row("twin", 0.943, 10.0)), 0.69)
    assert default_model([twin, top])["name"] == "top"  # equal robustness: the more accurate


def _copy_committed(models_dir: Path, *names: str) -> None:
    for name in names:
        for suffix in (".keras", ".json"):
            shutil.copy(COMMITTED / f"{name}{suffix}", models_dir / f"{name}{suffix}")


@pytest.mark.timeout(600)
def test_default_model_among_real_models_needs_a_measured_latency(models_dir, runs_dir,
                                                                  tiny_model_path):
    for name in ("seed_v1_3", "fast_cpu_v2"):
        if not (COMMITTED / f"{name}.keras").is_file():
            pytest.fail(f"models/{name}.keras is committed and missing")
    _copy_committed(models_dir, "seed_v1_3", "fast_cpu_v2")  # both calibrated on held-out images
    seed, fast = models_dir / "seed_v1_3.keras", models_dir / "fast_cpu_v2.keras"
    assert cards.read_card(fast)["test_accuracy"] > cards.read_card(seed)["test_accuracy"]
    # the more accurate one as if its latency had never been measured
    edit_card(fast, latency_ms_p50=None)
    edit_card(seed, latency_ms_p50=3.7)
    assert resolve_model_path(None) == seed
    clf = Classifier.load()
    img = np.random.default_rng(0).integers(0, 256, (40, 60, 3), dtype=np.uint8)
    assert clf.name == "seed_v1_3" and len(clf.top_k(img)) == 3

    # a freshly promoted experiment, however accurate, does not become the default
    finished_run(runs_dir, "shiny", tiny_model_path, {"test_accuracy": 0.99})
    training.promote("shiny")
    assert resolve_model_path(None) == seed

    edit_card(fast, latency_ms_p50=7.5)  # measured, within the budget: the best eligible one
    assert resolve_model_path(None) == fast
    assert Classifier.load().name == "fast_cpu_v2"
    edit_card(fast, latency_ms_p50=21.0)  # measured, over the budget
    assert resolve_model_path(None) == seed
    edit_card(seed, latency_ms_p50=None)
    with pytest.raises(ModelError, match="none is the default"):
        resolve_model_path(None)
    with pytest.raises(ModelError, match="none is the default"):
        Classifier.load()
    assert Classifier.load("seed_v1_3").name == "seed_v1_3"  # by name it is still served


# ----------------------------------------------------------------------------- train_and_save


@pytest.fixture
def tiny_data(tmp_path):
    from wic import data

    write_fake_cifar(tmp_path / "cifar", per_batch=60)
    return data.load_cifar10(tmp_path / "cifar", expect_full=False)


def test_train_and_save_writes_model_card_and_figures_into_the_run_folder(
        tiny_data, runs_dir, models_dir, tmp_path, monkeypatch):
    from wic.evaluation import calibration, metrics

    monkeypatch.setenv("WIC_FIGURES_DIR", str(tmp_path / "figures"))
    recipe = training.SEED.with_(epochs=1)
    out = training.train_and_save("seed_v1_3", recipe, "try1", dataset=tiny_data, verbose=0)
    run = runs_dir / "try1"
    assert out.path == run / "try1.keras"
    assert {"try1.keras", "try1.json", "try1_curves.png", "try1_confusion.png", "last.keras",
            "state.json", "history.csv"} <= set(os.listdir(run))
    assert list(models_dir.iterdir()) == [] and not (tmp_path / "figures").exists()

    card = json.loads((run / "try1.json").read_text())
    assert card == out.card
    assert (card["name"], card["registry_model"], card["model_file"]) == ("try1", "seed_v1_3",
                                                                         "try1.keras")
    assert (card["train_examples"], card["held_out_examples"], card["test_examples"]) == (240, 60, 60)
    assert "test_subset" not in card  # scored on every test image: it may ship (below)
    assert card["precision_used"] == "float32" and card["recipe"] == recipe.to_dict()
    assert card["onednn_ops"] is backend.onednn_enabled()  # what this process's TensorFlow ran
    assert card["best_val_accuracy"] is not None and card["epochs_run"] == 1
    calib = card["calibration"]
    assert calib["fitted_on"] == "60 held-out training images" and calib["temperature"] > 0
    held = metrics.predict_proba(out.result.model, out.result.held_out[0])
    assert calib["temperature"] == round(calibration.fit_temperature(held, out.result.held_out[1]), 4)
    assert calib["test_ece_before"] == round(out.evaluation.ece, 5)  # the raw probabilities
    assert {"held_out_ece_before", "held_out_ece_after", "test_ece_after"} <= set(calib)

    # shipping it: both files into models/, and the page applies the card's temperature
    dest = training.promote("try1")
    clf = Classifier.load("try1")
    assert clf.path == dest and clf.temperature == calib["temperature"]
    with pytest.raises(ModelError, match="none is the default"):
        resolve_model_path(None)  # its latency is not measured yet


def test_train_and_save_without_held_out_images_has_no_calibration(tiny_data, runs_dir):
    recipe = training.SEED.with_(epochs=1, validation_split=0.0, early_stopping=False,
                                 reduce_lr=False)
    out = training.train_and_save("seed_v1_3", recipe, "all", dataset=tiny_data, verbose=0,
                                  figures=False)
    card = out.card
    assert out.path == runs_dir / "all" / "all.keras" and out.result.held_out is None
    assert "calibration" not in card and card["held_out_examples"] == 0
    assert card["train_examples"] == 300 and card["best_val_accuracy"] is None
    assert not list((runs_dir / "all").glob("*.png"))
    assert Classifier.load(out.path).temperature is None


def test_a_model_scored_on_a_test_subset_says_so_and_is_not_shipped(tiny_data, runs_dir, models_dir):
    recipe = training.SEED.with_(epochs=1, early_stopping=False, reduce_lr=False)
    out = training.train_and_save("seed_v1_3", recipe, "smoke", dataset=tiny_data, verbose=0,
                                  figures=False, test_subset=20)
    card = out.card
    assert (card["test_examples"], card["test_subset"]) == (20, 20)
    assert out.evaluation.accuracy == card["test_accuracy"] and len(out.evaluation.probs) == 20
    with pytest.raises(ValueError, match="scored on the first 20 test images only .*--test-subset"):
        training.promote("smoke")
    assert list(models_dir.iterdir()) == []  # (a card without test_subset ships: the test above)


@pytest.mark.parametrize("n", [0, -5, 61, 2.5, True])
def test_a_test_subset_outside_the_test_set_is_refused(tiny_data, n):
    with pytest.raises(ValueError, match=rf"test subset {n!r}: accepted: 1 to 60 "):
        tiny_data.test_split(n)
    assert tiny_data.test_split(60)[0] is not None and len(tiny_data.test_split(7)[1]) == 7


# ----------------------------------------------------------------------------- the commands, real data


@pytest.mark.integration
@pytest.mark.slow
def test_wic_train_writes_into_runs_and_ships_on_promote(cifar_dir, runs_dir, models_dir, capsys):
    code = cli.main(["train", "--model", "seed_v1_3", "--epochs", "1", "--train-subset", "500",
                     "--out", "cli1", "--verbose", "0"])
    out = capsys.readouterr().out
    assert code == 0, out
    path = runs_dir / "cli1" / "cli1.keras"
    assert f"saved {path} (card cli1.json): test accuracy " in out and "temperature" in out
    assert out.rstrip().endswith("ship it with: wic models promote cli1")
    card = cards.read_card(path)
    assert card["train_examples"] == 400 and card["held_out_examples"] == 100
    assert card["test_examples"] == 10000 and "temperature" in card["calibration"]
    assert (runs_dir / "cli1" / "cli1_confusion.png").is_file()
    assert list(models_dir.iterdir()) == []
    assert cli.main(["models", "promote", "cli1"]) == 0
    assert (models_dir / "cli1.keras").is_file() and (models_dir / "cli1.json").is_file()


@pytest.mark.integration
@pytest.mark.slow
def test_wic_evaluate_figures_go_to_runs_evaluate(cifar_dir, runs_dir, monkeypatch, capsys):
    monkeypatch.setenv("WIC_MODELS_DIR", str(COMMITTED))
    assert cli.main(["evaluate", "--model", "seed_v1_3", "--figures"]) == 0
    out = capsys.readouterr().out
    card = cards.read_card(COMMITTED / "seed_v1_3.keras")
    assert out.startswith("seed_v1_3 (keras): test accuracy ")
    assert f"(card says {card['test_accuracy']:.4f})" in out.splitlines()[0]
    assert (runs_dir / "evaluate" / "seed_v1_3_confusion.png").is_file()
    assert f"wrote {runs_dir / 'evaluate' / 'seed_v1_3_confusion.png'}" in out
