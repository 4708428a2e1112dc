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
