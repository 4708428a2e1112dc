import numpy as np
import pytest

from wic import models

SEED_TABLE = [  # the seed's published model.summary()
    ("conv2d", (None, 30, 30, 32), 896),
    ("batch_normalization", (None, 30, 30, 32), 128),
    ("dropout", (None, 30, 30, 32), 0),
    ("conv2d_1", (None, 28, 28, 64), 18496),
    ("batch_normalization_1", (None, 28, 28, 64), 256),
    ("max_pooling2d", (None, 14, 14, 64), 0),
    ("conv2d_2", (None, 14, 14, 128), 73856),
    ("batch_normalization_2", (None, 14, 14, 128), 512),
    ("max_pooling2d_1", (None, 7, 7, 128), 0),
    ("conv2d_3", (None, 5, 5, 64), 73792),
    ("batch_normalization_3", (None, 5, 5, 64), 256),
    ("max_pooling2d_2", (None, 1, 1, 64), 0),
    ("dropout_1", (None, 1, 1, 64), 0),
    ("flatten", (None, 64), 0),
    ("dense", (None, 256), 16640),
    ("dropout_2", (None, 256), 0),
    ("dense_1", (None, 10), 2570),
]


def test_seed_model_matches_published_summary():
    m = models.build("seed_v1_3")
    assert m.name == "pycrafters_team_model_v1.3"
    rows = [(r["name"], r["output_shape"], r["params"]) for r in models.layer_table(m)]
    assert rows == SEED_TABLE
    assert models.parameter_counts(m) == {"total": 187402, "trainable": 186826, "non_trainable": 576}


def test_seed_initialisers():
    m = models.build("seed_v1_3")
    inits = {layer.name: type(layer.kernel_initializer).__name__ for layer in m.layers if hasattr(layer, "kernel_initializer")}
    assert inits.pop("dense_1") == "GlorotUniform"
    assert set(inits.values()) == {"HeNormal"}


def test_ablation_switches_are_arguments_of_one_builder():
    no_bn = models.build("seed_v1_3", batch_norm=False)
    assert models.parameter_counts(no_bn)["non_trainable"] == 0
    assert models.parameter_counts(no_bn)["total"] == 187402 - 2 * 576
    glorot = models.build("seed_v1_3", initializer="glorot_uniform")
    assert type(glorot.get_layer("conv2d").kernel_initializer).__name__ == "GlorotUniform"
    no_drop = models.build("seed_v1_3", dropout=(0, 0, 0))
    assert [layer.rate for layer in no_drop.layers if type(layer).__name__ == "Dropout"] == [0, 0, 0]
    with pytest.raises(ValueError, match="dropout"):
        models.build("seed_v1_3", dropout=(0.5, 1.5, 0))


def test_unknown_model_lists_the_accepted_names():
    with pytest.raises(KeyError, match="accepted: .*seed_v1_3"):
        models.build("resnet9000")


def test_every_registered_model_outputs_probabilities():
    x = np.random.default_rng(0).random((2, 32, 32, 3), dtype=np.float32)
    for name in models.available():
        p = np.asarray(models.build(name)(x, training=False))
        assert p.shape == (2, 10), name
        np.testing.assert_allclose(p.sum(1), 1, rtol=1e-4, err_msg=name)


def test_registry_spec_and_refusals():
    s = models.spec("airbench94_cpu")
    assert s.name == "airbench94_cpu" and s.defaults == {"widths": (64, 256, 256)}
    assert models.INPUT_SHAPE == (32, 32, 3) and models.NUM_CLASSES == 10
    with pytest.raises(KeyError, match="unknown model 'nope'; accepted: .*seed_v1_3"):
        models.spec("nope")
    with pytest.raises(ValueError, match="model 'seed_v1_3' is already registered"):
        models.register("seed_v1_3", "a second seed")(lambda **kw: None)
    assert models.available() == sorted(models.available())


def test_anatomy_of_the_seed():
    m = models.build("seed_v1_3")
    rf = {r["name"]: r for r in models.receptive_fields(m)}
    assert (rf["conv2d"]["receptive_field"], rf["conv2d"]["jump"]) == (3, 1)
    assert (rf["max_pooling2d"]["receptive_field"], rf["max_pooling2d"]["jump"]) == (6, 2)
    macs = {r["name"]: r["macs"] for r in models.multiply_adds(m)}
    assert macs["conv2d"] == 30 * 30 * 3 * 3 * 3 * 32 and macs["dense_1"] == 256 * 10
    assert set(macs) == {"conv2d", "conv2d_1", "conv2d_2", "conv2d_3", "dense", "dense_1"}


def test_save_is_atomic_and_load_checks(tmp_path):
    m = models.build("seed_v1_3")
    path = models.save(m, tmp_path / "sub" / "m.keras")
    assert path == tmp_path / "sub" / "m.keras" and sorted(p.name for p in path.parent.iterdir()) == ["m.keras"]
    loaded = models.load(path)
    assert loaded.name == m.name and models.parameter_counts(loaded) == models.parameter_counts(m)
    with pytest.raises(models.ModelError, match="not a .keras file"):
        models.load(tmp_path / "m.h5")
