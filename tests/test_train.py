import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from fakedata import write_fake_cifar

from wic import data, training
from wic.training import trainer


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("cifar")
    write_fake_cifar(root, per_batch=60)
    return data.load_cifar10(root, expect_full=False)


def test_default_recipe_is_the_seeds():
    r = training.Recipe()
    assert r == training.SEED and training.RECIPES["seed"] is training.SEED
    assert (r.optimizer, r.batch_size, r.validation_split, r.epochs) == ("adam", 32, 0.2, 50)
    assert (r.early_stopping, r.early_stopping_patience, r.monitor) == (True, 5, "val_accuracy")
    assert (r.reduce_lr, r.reduce_lr_factor, r.reduce_lr_patience, r.min_lr) == (True, 0.5, 5, 1e-5)


@pytest.mark.parametrize("field, value, accepted", [
    ("epochs", -1, "integer >= 1"),
    ("optimizer", "rmsprop", "adam, adamw, sgd, nesterov"),
    ("batch_size", 0, "integer >= 1"),
    ("learning_rate", 0.0, "positive"),
    ("validation_split", 1.0, r"\[0, 1\)"),
])
def test_bad_recipe_fields_name_the_field_and_what_is_accepted(field, value, accepted):
    with pytest.raises(ValueError, match=f"{field}=.*accepted: .*{accepted}"):
        training.Recipe(**{field: value})


def test_unknown_recipe_field_is_refused():
    with pytest.raises(ValueError, match="unknown recipe field\\(s\\) epoch; accepted: optimizer, "):
        training.Recipe.from_dict({"epoch": 3})


def test_fit_learns_and_saves_history(tiny, tmp_path):
    r = training.Recipe(epochs=3, batch_size=16, learning_rate=3e-3)
    res = training.fit("seed_v1_3", tiny, r, run_dir=tmp_path / "run", verbose=0)
    h = res.history
    assert res.epochs_run == 3 and len(h["loss"]) == 3 and len(h["val_accuracy"]) == 3
    assert h["loss"][-1] < h["loss"][0]
    assert (tmp_path / "run" / "last.keras").is_file()
    lines = (tmp_path / "run" / "history.csv").read_text().splitlines()
    assert lines[0].startswith("epoch,") and len(lines) == 4
    state = json.loads((tmp_path / "run" / "state.json").read_text())
    assert state["finished"] and state["epoch"] == 3
    # the last 20% of the training images are held out (never trained on) and handed back
    x_held, y_held = res.held_out
    assert res.train_examples == 240 and len(y_held) == 60
    np.testing.assert_array_equal(x_held, tiny.x_train[240:])
    np.testing.assert_array_equal(y_held, tiny.y_train[240:])


def test_training_arrays_are_the_recipes_subset_and_split(tiny):
    (x, y), held = trainer.training_arrays(tiny, training.Recipe(train_subset=100))
    assert len(x) == 80 and len(held[0]) == 20 and x.dtype == np.uint8
    assert np.bincount(np.concatenate([y, held[1]]), minlength=10).tolist() == [10] * 10
    (x, y), held = trainer.training_arrays(
        tiny, training.Recipe(validation_split=0.0, early_stopping=False, reduce_lr=False))
    assert held is None and len(x) == len(tiny.x_train)


def test_same_seed_same_run(tiny, tmp_path):
    r = training.Recipe(epochs=1, batch_size=32, early_stopping=False, reduce_lr=False, seed=7)
    a = training.fit("seed_v1_3", tiny, r, run_dir=tmp_path / "a", verbose=0).history
    b = training.fit("seed_v1_3", tiny, r, run_dir=tmp_path / "b", verbose=0).history
    np.testing.assert_allclose(a["loss"], b["loss"], rtol=1e-4)
    np.testing.assert_allclose(a["val_loss"], b["val_loss"], rtol=1e-4)


def test_time_budget_stops_training(tiny, tmp_path):
    r = training.Recipe(epochs=50, batch_size=8, time_budget_s=1.0, early_stopping=False,
                     reduce_lr=False)
    t = time.perf_counter()
    res = training.fit("seed_v1_3", tiny, r, run_dir=tmp_path / "b", verbose=0)
    assert res.epochs_run < 50 and time.perf_counter() - t < 30


def test_recipe_mismatch_on_resume_is_refused(tiny, tmp_path):
    run = tmp_path / "run"
    training.fit("seed_v1_3", tiny, training.Recipe(epochs=1, early_stopping=False, reduce_lr=False),
              run_dir=run, verbose=0)
    state = json.loads((run / "state.json").read_text())
    state["finished"] = False
    (run / "state.json").write_text(json.dumps(state))
    with pytest.raises(ValueError, match="different recipe"):
        training.fit("seed_v1_3", tiny, training.Recipe(epochs=2), run_dir=run, verbose=0)


def _killed_after_epoch_two_and_resumed(tiny, recipe, run):
    """airbench_cpu_s trained with ``recipe`` into ``run``, stopped after epoch 2 as if the
    process had been killed there, then resumed to the end: the resumed model."""
    from wic.backend import keras

    class StopAfterTwo(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            self.model.stop_training = epoch == 1

    training.fit("airbench_cpu_s", tiny, recipe, run_dir=run, verbose=0, callbacks=[StopAfterTwo()])
    state = json.loads((run / "state.json").read_text())
    assert state["epoch"] == 2
    state["finished"] = False  # as if the process had been killed after epoch 2
    (run / "state.json").write_text(json.dumps(state))
    return training.fit("airbench_cpu_s", tiny, recipe, run_dir=run, verbose=0).model


def test_a_run_resumed_after_lookahead_started_takes_the_same_steps(tiny, tmp_path):
    """Lookahead's EMA is not saved, but at an epoch's end the weights are the EMA: a run
    stopped after epoch 2 of 3 (lookahead active from 30% of the steps) and resumed ends with
    the weights of the run never interrupted."""

    r = training.Recipe(epochs=3, batch_size=32, lookahead=True, early_stopping=False,
                        reduce_lr=False, validation_split=0.0, seed=5)
    # airbench_cpu_s: no dropout, whose random masks a resumed run would draw afresh
    whole = training.fit("airbench_cpu_s", tiny, r, run_dir=tmp_path / "whole", verbose=0).model

    resumed = _killed_after_epoch_two_and_resumed(tiny, r, tmp_path / "resumed")
    for a, b in zip(whole.get_weights(), resumed.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_the_whitening_bias_learns_for_its_epochs_then_is_held(tiny, tmp_path):
    """``whiten_bias_epochs=1`` of 3: the bias moves during the first epoch's steps, then keeps
    the value it had after them — under lookahead's EMA too, at every later step, in the saved
    model, and in a run resumed after epoch 2. Held, it is out of the trainable variables (the
    step no longer computes its gradient), and trainable again once training ends. With 0 it
    keeps learning."""
    from wic.backend import keras

    class Trace(keras.callbacks.Callback):  # runs after the trainer's own callbacks
        def __init__(self):
            super().__init__()
            self.seen, self.trained = [], []

        def on_train_batch_end(self, batch, logs=None):
            bias = self.model.get_layer("whiten").bias
            self.seen.append(np.array(bias.numpy()))
            self.trained.append(any(v is bias for v in self.model.trainable_variables))

    r = training.Recipe(optimizer="nesterov", learning_rate=0.05, epochs=3, batch_size=32,
                        lookahead=True, early_stopping=False, reduce_lr=False,
                        validation_split=0.0, seed=5, whiten_bias_epochs=1)
    steps = 300 // 32
    held, free = Trace(), Trace()
    model = training.fit("airbench_cpu_s", tiny, r, run_dir=tmp_path / "held", verbose=0,
                         callbacks=[held]).model
    training.fit("airbench_cpu_s", tiny, r.with_(whiten_bias_epochs=0.0), run_dir=tmp_path / "free",
                 verbose=0, callbacks=[free])
    value = held.seen[steps - 1]
    assert np.abs(value).max() > 0  # it learnt during epoch 1 (it starts at zero)
    assert all(np.array_equal(v, value) for v in held.seen[steps:])
    assert held.trained == [True] * (steps - 1) + [False] * (len(held.seen) - steps + 1)
    assert free.trained == [True] * len(free.seen)
    np.testing.assert_array_equal(model.get_layer("whiten").bias.numpy(), value)
    assert model.get_layer("whiten").bias.trainable  # the saved model's bias can learn again
    assert not np.allclose(free.seen[-1], free.seen[steps - 1])  # without the hold it moves on
    resumed = _killed_after_epoch_two_and_resumed(tiny, r, tmp_path / "resumed")
    np.testing.assert_array_equal(resumed.get_layer("whiten").bias.numpy(), value)


def test_a_held_whitening_bias_takes_the_first_convs_input_gradient_out_of_the_step():
    """What the hold saves: with the bias trainable the step's gradients need every 3x3 conv's
    input gradient (the first one's reaches the bias through the whitening layer); held, nothing
    before the first conv trains, and the ops the gradients are computed from (what TensorFlow
    runs of a traced function) hold one ``Conv2DBackpropInput`` fewer."""
    from wic import models
    from wic.backend import keras, tf

    model = models.build("airbench_cpu_s")
    x, y = tf.zeros((2, 32, 32, 3)), tf.one_hot([0, 1], 10)

    def backprop_inputs() -> int:
        @tf.function
        def grads(x, y):
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(keras.losses.categorical_crossentropy(y, model(x, training=True)))
            return tape.gradient(loss, model.trainable_variables)

        graph = grads.get_concrete_function(x, y).graph
        seen, todo = set(), [t.op for t in graph.outputs]
        while todo:  # the outputs' ancestors: a gradient op nothing reads is pruned, never run
            op = todo.pop()
            if op not in seen:
                seen.add(op)
                todo += [t.op for t in op.inputs] + list(op.control_inputs)
        return sum(op.type == "Conv2DBackpropInput" for op in seen)

    trained = backprop_inputs()
    model.get_layer("whiten").bias.trainable = False
    assert trained >= 3 and backprop_inputs() == trained - 1


def test_holding_a_whitening_bias_is_refused_for_a_net_without_one(tiny, tmp_path):
    r = training.Recipe(epochs=1, early_stopping=False, reduce_lr=False, whiten_bias_epochs=0.5)
    with pytest.raises(ValueError, match=r"whiten_bias_epochs=0\.5 is invalid; accepted: 0 for "
                                         r"seed_v1_3, which has no patch-whitening layer"):
        training.fit("seed_v1_3", tiny, r, run_dir=tmp_path / "run", verbose=0)
    with pytest.raises(ValueError, match=r"whiten_bias_epochs=4\.0 is invalid; accepted: a number "
                                         r"of epochs 0\.\.3"):
        training.Recipe(epochs=3, whiten_bias_epochs=4)


def test_a_run_trains_its_first_crop_epochs_on_smaller_pictures_then_on_whole_images(
        tiny, tmp_path, monkeypatch):
    """``crop_epochs=1.5`` of 2 at 16 pixels, shrunk (``crop_by='resize'``; windows are the
    pipeline's other branch, tested in test_data): the step sees the pipeline's first 1.5 epochs
    of batches at 16x16, the rest whole, and the trained net scores 32x32 images."""
    import tensorflow as tf

    seen, real, asked = [], trainer.train_pipeline, {}

    def spy(*args, **kwargs):
        asked.update(kwargs)

        def note(images):
            seen.append(tuple(images.shape[1:3]))
            return images

        def through(x, y):
            out = tf.numpy_function(note, [x], tf.float32)
            return tf.ensure_shape(out, (None, None, None, 3)), y

        return real(*args, **kwargs).map(through)

    monkeypatch.setattr(trainer, "train_pipeline", spy)
    r = training.RECIPES["fast"].with_(epochs=2, batch_size=32, validation_split=0.0,
                                       crop_size=16, crop_epochs=1.5, crop_by="resize")
    result = training.fit("airbench_cpu_s", tiny, r, run_dir=tmp_path / "run", verbose=0)
    steps = 300 // 32
    assert (asked["crop"], asked["crop_steps"], asked["crop_by"]) == (16, round(1.5 * steps), "resize")
    assert seen == [(16, 16)] * round(1.5 * steps) + [(32, 32)] * (2 * steps - round(1.5 * steps))
    probs = result.model.predict(tiny.x_test[:4].astype(np.float32) / 255.0, verbose=0)
    assert probs.shape == (4, 10) and np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def test_crop_epochs_count_whole_steps_and_never_round_to_none():
    fast = training.RECIPES["fast"]
    assert trainer.crop_steps(fast, 87) == 0
    assert trainer.crop_steps(fast.with_(crop_size=24, crop_epochs=0.5), 87) == 44  # round(43.5)
    assert trainer.crop_steps(fast.with_(crop_size=24, crop_epochs=1.5), 87) == 130
    assert trainer.crop_steps(fast.with_(crop_size=24, crop_epochs=0.001), 87) == 1


def test_crops_are_refused_for_a_net_that_takes_whole_images_only(tiny, tmp_path):
    r = training.Recipe(epochs=1, early_stopping=False, reduce_lr=False, crop_size=24,
                        crop_epochs=0.5)
    with pytest.raises(ValueError, match=r"crop_size=24 is invalid; accepted: 0 for seed_v1_3, "
                                         r"which takes whole 32x32 images only"):
        training.fit("seed_v1_3", tiny, r, run_dir=tmp_path / "run", verbose=0)


def test_a_second_process_cannot_train_into_a_busy_run_folder(tiny, tmp_path):
    """The same command started twice must not interleave two runs' checkpoints."""
    run = tmp_path / "run"
    run.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent("""
            import sys, time
            from pathlib import Path
            from wic.training import trainer
            with trainer.run_lock(Path(sys.argv[1])):
                print("locked", flush=True)
                time.sleep(30)
        """), str(run)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        recipe = training.Recipe(epochs=1, early_stopping=False, reduce_lr=False)
        with pytest.raises(ValueError, match=rf"being trained by another process \(pid {holder.pid}\)"):
            training.fit("seed_v1_3", tiny, recipe, run_dir=run, verbose=0)
        assert not (run / "state.json").exists()  # refused before touching anything
    finally:
        holder.kill()
        holder.wait()
    # the OS frees the lock with the process, however it ended: now the run goes through
    training.fit("seed_v1_3", tiny, training.Recipe(epochs=1, early_stopping=False,
                                                    reduce_lr=False), run_dir=run, verbose=0)
    assert (run / "state.json").is_file()


KILLABLE = textwrap.dedent("""
    import sys, time, keras
    from wic import data, training
    class Slow(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            time.sleep(0.05)
    d = data.load_cifar10(sys.argv[1], expect_full=False)
    r = training.Recipe(epochs=6, batch_size=16, early_stopping=False, reduce_lr=False)
    training.fit("seed_v1_3", d, r, run_dir=sys.argv[2], verbose=0, callbacks=[Slow()])
    print("finished")
""")


@pytest.mark.timeout(240)
def test_killed_run_resumes_losing_at_most_one_epoch(tmp_path):
    """SIGKILL a training process mid-run; the rerun continues after the last finished epoch."""
    root = tmp_path / "cifar"
    write_fake_cifar(root, per_batch=60)
    run = tmp_path / "run"
    script = tmp_path / "killable.py"
    script.write_text(KILLABLE)
    proc = subprocess.Popen([sys.executable, str(script), str(root), str(run)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    state_file = run / "state.json"
    deadline = time.time() + 180
    while time.time() < deadline:
        if state_file.is_file() and json.loads(state_file.read_text())["epoch"] >= 2:
            break
        assert proc.poll() is None, proc.stdout.read().decode()[-2000:]
        time.sleep(0.1)
    os.kill(proc.pid, signal.SIGKILL)  # mid-way through epoch 3
    proc.wait()
    done = json.loads(state_file.read_text())["epoch"]
    assert 2 <= done < 6 and not json.loads(state_file.read_text()).get("finished")

    d = data.load_cifar10(root, expect_full=False)
    r = training.Recipe(epochs=6, batch_size=16, early_stopping=False, reduce_lr=False)
    res = training.fit("seed_v1_3", d, r, run_dir=run, verbose=0)
    assert res.resumed_from_epoch == done  # nothing finished was lost; only epoch done+1 is redone
    assert res.epochs_run == 6
    assert len(res.history["loss"]) == 6  # one history row per epoch, no gaps or duplicates
    assert res.wall_time_s > 0
