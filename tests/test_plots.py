"""Figures a teacher can put on a slide: readable text, integer ticks, zoomed effects, small files.

Every figure function notebooks 04-07 draw through ``wic.evaluation.plots`` is drawn here on
synthetic numbers and checked: each text at least ``plots.MIN_TEXT_PX`` pixels high when the
PNG is shown ``plots.SHOWN_PX`` wide (the rendered course's column in a 1024-px window),
integer axes with whole-number ticks, colours from the colour-blind-safe palette. And every
committed figure file stays at most 200 KB.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from wic.evaluation import plots
from wic.experiments import ablation

ROOT = Path(__file__).resolve().parents[1]
CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def _probs(n=400, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 10, n)
    logits = rng.normal(size=(n, 10))
    logits[np.arange(n), y] += 2.5
    p = np.exp(logits)
    return p / p.sum(1, keepdims=True), y


def _ablation_table():
    rows = []
    for i, name in enumerate(ablation.VARIANTS):
        for seed in (0, 1, 2):
            rows.append({"variant": name, "seed": seed, "status": "ok",
                         "test_accuracy": 0.45 - 0.01 * i + 0.005 * seed,
                         "train_wall_time_s": 180.0})
    return pd.DataFrame(rows)


def _tta_rows():
    rows = []
    for label, src, speed in (("seed", "recorded (validation accuracy, from the log)", 1.0),
                              ("fast", "measured", 6.0), ("fast_3ep", "measured", 5.0)):
        for e in range(1, 4):
            rows.append({"recipe": label, "epoch": e, "elapsed_s": 200 * e / speed * 10,
                         "test_accuracy": 0.6 + 0.1 * e if label != "seed" else 0.5 + 0.09 * e,
                         "source": src, "load_avg_end": "", "model": "net"})
        rows.append({**rows[-1], "epoch": "final", "elapsed_s": rows[-1]["elapsed_s"] + 5,
                     "test_accuracy": rows[-1]["test_accuracy"] + 0.002})
    return rows


def _figures():
    probs, y = _probs()
    cm = np.eye(10) * 80 + np.random.default_rng(0).integers(0, 5, (10, 10))
    hist = {"loss": [2.0, 1.5, 1.2], "val_loss": [2.1, 1.7, 1.6],
            "accuracy": [0.3, 0.5, 0.6], "val_accuracy": [0.3, 0.45, 0.5]}
    rows = [{"corruption": c, "family": f, "severity": s, "accuracy": 0.8 - 0.1 * s, "n": 40}
            for c, f in (("gaussian_noise", "noise"), ("fog", "weather")) for s in (1, 3, 5)]
    table = _ablation_table()
    summary = ablation.summarize(table)
    hw = {"cpu": "Some CPU", "conv_peak": {"fp32": 400.0, "bf16": 3500.0},
          "steps": [("airbench94_cpu", "fp32", 389.0, 275.0, 0.68),
                    ("airbench_cpu_s", "bf16", 2415.0, 377.0, 0.11)],
          "fast_kernels": [("airbench_cpu_s b512", "bf16", 2419.0, 1478.0, 1.64),
                           ("airbench94_cpu b512", "fp32", 420.0, 400.0, 1.05)],
          "xla_gelu": [("airbench_cpu_s b512", "bf16", 2419.0, 2000.0, 1.21)]}
    imgs = [np.zeros((32, 32, 3), np.uint8)] * 12
    return {
        "training_curves": plots.training_curves(hist, title="Loss and accuracy per epoch"),
        "confusion_matrix": plots.confusion_matrix(cm, CLASSES),
        "image_grid": plots.image_grid(imgs, titles=["true cat\nsaid dog 97%"] * 12, ncols=6,
                                       cell=1.7, title="Confident mistakes"),
        "reliability_before_after": plots.reliability_before_after(probs, probs, y, 0.5),
        "robustness_heatmap": plots.robustness_heatmap(rows, 0.9),
        # two recipes ending at the same accuracy a little apart: their end labels must not overlap
        "time_to_accuracy": plots.time_to_accuracy(_tta_rows(), ["seed", "fast", "fast_3ep"]),
        "bar": plots.bar(["a", "bb", "ccc"], [1.0, 1.4, 2.2], xlabel="images/s", title="Speed"),
        "dots": plots.dots(["1 view", "2 views", "6 views"], [90.14, 91.27, 91.58],
                           xlabel="test accuracy, %", title="Test-time augmentation", fmt="{:.2f}%"),
        "hardware_efficiency": plots.hardware_efficiency(hw),
        "hardware_across_cpus": plots.hardware_across_cpus(_across_rows()),
        "step_profile": plots.step_profile(_PROFILE, names={"on": "all on", "off": "Keras' ops"}),
        "whole_run": plots.whole_run(_WHOLE_RUN, names={"on": "all on", "off": "Keras' ops"}),
        "ablation_runs": ablation.plot(table, summary, title="One change at a time"),
        "epoch_study": plots.epoch_study(_epoch_study_rows(), title="net, 8 epochs"),
        "accuracy_against_time": plots.accuracy_against_time(_time_rows(), title="net, crops",
                                                             names={"whole": "whole images"}),
        "robustness_by_model": plots.robustness_by_model(_robust_cards()),
        "robustness_tradeoff": plots.robustness_tradeoff(_tradeoff_rows()),
        "robust_rescore": plots.robust_rescore(_rescore_rows()),
        "per_class_pair": plots.per_class_pair(*_pair_cards()),
    }


def _pair_cards():
    old = {c: 0.85 + 0.01 * i for i, c in enumerate(CLASSES)}
    new = {c: a + (0.02 if c == "cat" else -0.01 if c == "truck" else 0.0) for c, a in old.items()}
    return ("old_v2", {"test_accuracy": 0.9437, "per_class_accuracy": old}), \
        ("new_v2", {"test_accuracy": 0.9468, "per_class_accuracy": new})


_PROFILE = {"cpu": "Some CPU", "model": "net", "policy": "mixed_bfloat16", "batch": 512,
            "settings": ["on", "off"], "wall_ms": {"on": 900.0, "off": 1200.0},
            "kinds": [("convolution backward (weights)", {"on": (700.0, 0.4), "off": (710.0, 0.3)}),
                      ("convolution forward", {"on": (250.0, 0.15), "off": (255.0, 0.1)}),
                      ("element-wise TensorFlow ops", {"off": (400.0, 0.2)}),
                      ("XLA-compiled (GELU)", {"on": (60.0, 0.04)}),
                      ("a kind nobody named", {"on": (5.0, 0.0), "off": (5.0, 0.0)})]}


_WHOLE_RUN = {"cpu": "Some CPU", "settings": ["on", "off"], "repeats": 3, "run": "net, 3 epochs",
              "per": {"on": {"train_s": [100.0, 120.0, 90.0], "process_s": [160.0, 190.0, 150.0],
                             "accuracy": [0.86] * 3},
                      "off": {"train_s": [150.0, 168.0], "process_s": [215.0, 230.0],
                              "accuracy": [0.85] * 2}},
              "ratios": {"off": [1.5, 1.4]}, "gain": {"off": 1.45},
              "median": {"on": {"train_s": 100.0, "process_s": 160.0},
                         "off": {"train_s": 159.0, "process_s": 222.5}}}


def _tradeoff_rows():
    base = dict(optimizer="muon", noise=0.08, blur=0.8, brightness=0.2, contrast=0.3, epochs=28,
                clean_noisy_epochs=0)
    return [{"model": "plain", "optimizer": "nesterov", "noise": 0, "blur": 0, "brightness": 0,
             "contrast": 0, "epochs": 15, "clean_epochs": 0, "test_accuracy": 0.9437,
             "corruption_mean": 0.688},
            {**base, "model": "r0", "clean_epochs": 0, "test_accuracy": 0.9368,
             "corruption_mean": 0.879},
            {**base, "model": "r3", "clean_epochs": 3, "test_accuracy": 0.9413,
             "corruption_mean": 0.849},
            {**base, "model": "r2", "clean_epochs": 2, "test_accuracy": 0.9396,
             "corruption_mean": 0.866},
            {**base, "model": "r3n", "clean_epochs": 3, "clean_noisy_epochs": 3,
             "test_accuracy": 0.9378, "corruption_mean": 0.8725}]


def _rescore_rows():
    common = dict(test_images=10000, test_se=0.0024, card_images=300, corruption_images=2000)
    return [dict(common, model="r_v9", seed=1337, test_accuracy=0.9402, card_mean=0.870,
                 first_se=0.013, corruption_mean=0.8655, corruption_se=0.005),
            dict(common, model="r_v9_s1", seed=1, test_accuracy=0.9394, card_mean=0.864,
                 first_se=0.015, corruption_mean=0.858, corruption_se=0.006)]


def _robust_cards():
    from wic.evaluation.corruptions import CORRUPTIONS

    def card(acc, level):
        per = {c: level - 0.02 * i for i, c in enumerate(CORRUPTIONS)}
        return {"test_accuracy": acc, "robustness": {
            "per_corruption": per, "mean_accuracy": sum(per.values()) / len(per), "n_images": 300}}

    return {"plain": card(0.944, 0.7), "sturdy": card(0.941, 0.85), "never run": {"test_accuracy": 0.9}}


def _across_rows():
    def row(cpu, dt, gf, peak, pass_peak=None):
        return {"cpu": cpu, "file": f"{cpu}.csv", "dtype": dt, "gflops": gf, "peak": peak,
                "share": gf / peak, "pass_share": gf / pass_peak if pass_peak else None}

    return [row("old", "fp32", 16.0, 15.0), row("amx", "fp32", 275.0, 400.0),
            row("amx", "bf16", 670.0, 3500.0, 2200.0), row("avx512", "fp32", 200.0, 220.0),
            row("avx512", "bf16", 320.0, 430.0, 380.0)]


def _epoch_study_rows():
    base = {"validation_split": 0.1}
    rows = [dict(base, variant=v, seed=s, val_accuracy=0.93 + d + 0.001 * s,
                 test_accuracy=0.931 + d, val_accuracy_per_epoch=" ".join(
                     f"{0.6 + 0.04 * e + d:.4f}" for e in range(8)))
            for v, d in (("nesterov", 0.0), ("muon", 0.004)) for s in (0, 1, 2)]
    rows.append(dict(base, variant="ls", seed=0, val_accuracy=0.932, test_accuracy=0.93,
                     val_accuracy_per_epoch=" ".join(f"{0.6 + 0.04 * e:.4f}" for e in range(8))))
    return rows + [dict(variant="muon", seed=s, validation_split=0.0, val_accuracy="",
                        val_accuracy_per_epoch="", test_accuracy=0.94 + 0.001 * s)
                   for s in (0, 1, 2)]


def _time_rows():
    base = {"validation_split": 0.1}
    rows = [dict(base, variant="whole", epochs=e, seed=s, train_seconds=120 * e + s,
                 val_accuracy=0.75 + 0.04 * e + 0.002 * s) for e in (1, 2, 3) for s in (0, 1, 2)]
    rows += [dict(base, variant="crops", epochs=e, seed=s, train_seconds=95 * e + s,
                  val_accuracy=0.74 + 0.04 * e) for e in (1, 3) for s in (0, 1, 2)]
    rows.append(dict(base, variant="once", epochs=2, seed=0, train_seconds=200, val_accuracy=0.8))
    # a final run (nothing held out) has no validation accuracy: not drawn
    return rows + [dict(variant="whole", epochs=3, seed=0, validation_split=0.0,
                        val_accuracy="", train_seconds=400, test_accuracy=0.9)]


@pytest.fixture(scope="module")
def figures():
    figs = _figures()
    yield figs
    import matplotlib.pyplot as plt

    plt.close("all")


def test_every_text_is_readable_in_the_rendered_course(figures):
    small = {name: [(t, round(px, 1)) for t, px in plots.text_px_at(fig) if px < plots.MIN_TEXT_PX]
             for name, fig in figures.items()}
    assert not {k: v for k, v in small.items() if v}, small


def test_integer_axes_have_whole_number_ticks(figures):
    fig = figures["training_curves"]
    for ax in fig.axes:
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert ticks and all(float(t).is_integer() for t in ticks), ticks


def test_a_small_effect_is_drawn_on_a_zoomed_axis(figures):
    ax = figures["dots"].axes[0]
    lo, hi = ax.get_xlim()
    assert lo > 80 and hi < 95  # 90.14 .. 91.58 fills the axis; bars from 0 would hide it
    assert "zoomed" in ax.get_xlabel()


def test_validation_series_are_named_on_the_axis(figures):
    ax = figures["time_to_accuracy"].axes[0]
    assert "validation" in ax.get_ylabel()  # the seed's recorded run is validation accuracy
    assert "validation" in ablation.METRIC_LABELS["best_val_accuracy"]
    assert "test" in figures["ablation_runs"].axes[0].get_xlabel()


def test_ablation_dots_are_the_same_each_time_and_leave_numpys_generator_alone():
    """Seaborn jitters with numpy's global generator: the figure must not depend on it (a
    republished notebook would change for nothing), nor move it."""
    import matplotlib.pyplot as plt

    table = _ablation_table()
    summary = ablation.summarize(table)

    def dots():
        fig = ablation.plot(table, summary)
        out = np.concatenate([c.get_offsets() for c in fig.axes[0].collections
                              if len(c.get_offsets())])
        plt.close(fig)
        return out

    np.random.seed(1)
    first = dots()
    after = np.random.random()
    np.random.seed(2)
    np.random.random()
    assert np.array_equal(dots(), first)  # another global state, the same dots
    np.random.seed(1)
    assert np.random.random() == after  # the caller's stream is where it would be without us


def test_end_labels_do_not_overlap(figures):
    ax = figures["time_to_accuracy"].axes[0]
    ends = sorted(t.get_position()[1] for t in ax.texts if t.get_text().endswith("%")
                  and t.get_position()[0] > 0 and t.get_color() != "0.4")
    gaps = np.diff(ends)
    assert len(ends) == 3 and (gaps >= 0.04 * (100 - ax.get_ylim()[0]) - 1e-9).all(), ends


def test_series_colours_come_from_the_colour_blind_safe_palette(figures):
    from matplotlib.colors import to_hex

    ax = figures["time_to_accuracy"].axes[0]
    colours = {to_hex(line.get_color()) for line in ax.get_lines() if line.get_marker() == "o"}
    assert colours and colours <= set(plots.PALETTE), colours


def test_epoch_study_shows_each_variants_curve_and_every_runs_end(figures):
    from matplotlib.colors import to_hex

    left, right = figures["epoch_study"].axes
    assert "validation" in left.get_ylabel() and "test" in right.get_xlabel()
    assert [t.get_text() for t in right.get_yticklabels()] == [
        "nesterov", "muon", "ls", "muon, all images (final)"]
    # one curve per variant with seeds to average: the one-seed variant is on the right only
    assert len([ln for ln in left.get_lines() if ln.get_marker() not in ("None", "")]) == 2
    ends = [ln for ln in right.get_lines() if ln.get_marker() in ("o", "x")]
    assert sum(len(ln.get_xdata()) for ln in ends) == 6 + 6 + 2 + 3  # val + test, and final tests
    row_colour = {round(float(np.mean(ln.get_ydata()))): to_hex(ln.get_color()) for ln in ends
                  if len(ln.get_ydata())}
    assert row_colour[2] == plots.GREY  # one seed: grey
    assert row_colour[3] == row_colour[1] != plots.GREY  # muon's final runs: muon's colour
    assert [t.get_text() for t in left.get_legend().get_texts()] == ["nesterov (3 seeds)", "muon (3 seeds)"]
    assert left.get_title().endswith("\n(one-seed variants: right panel only)")  # ls: one seed
    # once every held-out variant has its seeds, the title no longer speaks of one-seed variants
    seeded = plots.epoch_study([r for r in _epoch_study_rows() if r["variant"] != "ls"])
    assert seeded.axes[0].get_title() == "After each epoch, mean over seeds"
    import matplotlib.pyplot as plt

    plt.close(seeded)


def test_accuracy_against_time_draws_every_run_and_each_budgets_mean(figures):
    ax = figures["accuracy_against_time"].axes[0]
    assert "seconds" in ax.get_xlabel() and "validation" in ax.get_ylabel()
    means = {ln.get_label(): (list(ln.get_xdata()), list(ln.get_ydata())) for ln in ax.get_lines()
             if not ln.get_label().startswith("_")}
    assert list(means) == ["whole images (3 seeds each)", "crops (3 seeds each)",
                           "once (1 seed, 2 epochs)"]
    assert means["whole images (3 seeds each)"][0] == [121, 241, 361]  # each budget's mean seconds
    np.testing.assert_allclose(means["crops (3 seeds each)"][1], [78.0, 86.0])
    singles = [ln for ln in ax.get_lines() if ln.get_label().startswith("_")]
    assert sum(len(ln.get_xdata()) for ln in singles) == 9 + 6 + 1  # every held-out run, no final
    # the budgets are labelled on the lines that join several; a single budget is in the legend
    assert sorted(t.get_text() for t in ax.texts) == ["1 epoch", "1 epoch", "2 epochs", "3 epochs",
                                                      "3 epochs"]
    with pytest.raises(ValueError, match="no held-out run"):
        plots.accuracy_against_time(_time_rows()[-1:])


def test_epoch_study_colours_only_the_variants_compared_and_greys_the_rest():
    from matplotlib.colors import to_hex

    fig = plots.epoch_study(_epoch_study_rows(), highlight=("muon",))
    left, right = fig.axes
    # nesterov is a thin grey curve now, under one legend entry; muon keeps its colour and marker
    assert [t.get_text() for t in left.get_legend().get_texts()] == [
        "muon (3 seeds)", "1 other variant (named on the right)"]
    grey = [ln for ln in left.get_lines() if to_hex(ln.get_color()) == plots.GREY and len(ln.get_xdata()) == 8]
    assert len(grey) == 1 and grey[0].get_marker() in ("None", "")
    bold = [t.get_text() for t in right.get_yticklabels() if t.get_fontweight() == "bold"]
    assert bold == ["muon", "muon, all images (final)"]
    ends = [ln for ln in right.get_lines() if ln.get_marker() == "o" and len(ln.get_xdata())]
    assert to_hex(ends[0].get_color()) == to_hex("0.35")  # nesterov, several seeds: dark grey
    with pytest.raises(ValueError, match=r"cannot highlight \['ls'\]"):  # one seed: no curve to colour
        plots.epoch_study(_epoch_study_rows(), highlight=("ls",))
    import matplotlib.pyplot as plt

    plt.close("all")


def test_epoch_study_just_begun_shows_each_variants_one_run_dashed_and_coloured():
    """No variant has several seeds yet: the left panel is not left empty, it draws each one run."""
    import warnings

    from matplotlib.colors import to_hex

    rows = [r for r in _epoch_study_rows()
            if r["seed"] == 0 and r["validation_split"] and r["variant"] != "ls"]
    assert [r["variant"] for r in rows] == ["nesterov", "muon"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. matplotlib's "No artists with labels" legend warning
        fig = plots.epoch_study(rows)
    left, right = fig.axes
    assert left.get_title() == "After each epoch, each variant's one run so far"
    assert [t.get_text() for t in left.get_legend().get_texts()] == [
        "nesterov (one seed: no spread yet)", "muon (one seed: no spread yet)"]
    curves = [ln for ln in left.get_lines() if len(ln.get_xdata()) == 8]
    assert [ln.get_linestyle() for ln in curves] == ["--", "--"]
    assert list(curves[1].get_ydata()) == pytest.approx(
        [100 * float(v) for v in rows[1]["val_accuracy_per_epoch"].split()])
    assert len({to_hex(ln.get_color()) for ln in curves} - {plots.GREY}) == 2  # two colours
    bold = [t.get_text() for t in right.get_yticklabels() if t.get_fontweight() == "bold"]
    assert bold == ["nesterov", "muon"]
    import matplotlib.pyplot as plt

    plt.close("all")


def test_hardware_across_cpus_orders_cpus_by_peak_and_says_why_a_slot_is_empty(figures):
    ax = figures["hardware_across_cpus"].axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["old", "avx512", "amx"]
    labels = [t.get_text() for t in ax.texts]
    assert "19% (30%): 670 of 3,500 GFLOP/s" in labels  # the share (of the three passes'), of what
    assert "91%: 200 of 220 GFLOP/s" in labels  # no backward peaks: no second share
    assert "bf16: no step measured at this batch" in labels  # the old CPU's missing bar
    assert any(line.get_xdata()[0] == 50 for line in ax.get_lines())  # the goal
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["fp32", "bf16", "share of the three conv passes' peak (in brackets)"]
    ticks = [ln for ln in ax.get_lines() if ln.get_marker() == "|"]
    assert len(ticks) == 1 and list(ticks[0].get_xdata()) == pytest.approx([100 * 320 / 380,
                                                                            100 * 670 / 2200])


def test_hardware_efficiency_draws_the_fast_kernels_without_xla_between_keras_and_all_on(figures):
    ax = figures["hardware_efficiency"].axes[1]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "Keras' ops", "fast kernels, GELU not compiled", "wic's fast kernels (GELU compiled by XLA)"]
    labels = [t.get_text() for t in ax.texts]
    # each setting against Keras' ops; a net whose no-XLA run is missing says so
    assert {"1,478", "2,000 (x1.35)", "2,419 (x1.64)", "not measured", "420 (x1.05)"} <= set(labels)


def test_step_profile_stacks_every_kind_once_and_labels_each_bar_with_its_wall_time(figures):
    ax = figures["step_profile"].axes[0]
    ends = {}  # each bar's right end: the sum of its segments
    for patch in ax.patches:
        y = round(patch.get_y() + patch.get_height() / 2)
        ends[y] = max(ends.get(y, 0.0), patch.get_x() + patch.get_width())
    # all on: 700 + 250 + 60 + 5 (the unnamed kind counted as "other"); Keras' ops: 710 + 255 + 400 + 5
    assert ends == pytest.approx({0: 1015.0, 1: 1370.0})
    assert [t.get_text() for t in ax.get_yticklabels()] == ["all on", "Keras' ops"]
    assert {"  wall 900 ms per step", "  wall 1,200 ms per step"} <= {t.get_text() for t in ax.texts}
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "GELU compiled by XLA" in legend and "optimizer, executor, other" in legend
    assert ax.get_title().endswith("batch 512")  # one process per setting: no median named
    medians = plots.step_profile({**_PROFILE, "processes": 3})
    assert medians.axes[0].get_title().endswith("batch 512 (median of 3 processes)")


def test_whole_run_draws_training_then_the_rest_with_every_repeat_as_a_dot(figures):
    ax = figures["whole_run"].axes[0]
    segments = sorted((round(p.get_y() + p.get_height() / 2), p.get_x(), p.get_width())
                      for p in ax.patches)
    # all on: training median 100, process median 160; Keras' ops: 159 and 222.5
    assert [v for seg in segments for v in seg] == pytest.approx(
        [0, 0.0, 100.0, 0, 100.0, 60.0, 1, 0.0, 159.0, 1, 159.0, 63.5])
    dots = [list(ln.get_xdata()) for ln in ax.get_lines()]
    assert dots == [[100.0, 120.0, 90.0], [150.0, 168.0]]
    texts = {t.get_text() for t in ax.texts}
    assert texts == {"  training 100 s", "  training 159 s, x1.45 the time of all fast kernels"}
    assert [t.get_text() for t in ax.get_yticklabels()] == ["all on", "Keras' ops"]


def test_robustness_by_model_draws_every_benchmarked_card_on_every_corruption(figures):
    from wic.evaluation.corruptions import CORRUPTIONS

    ax = figures["robustness_by_model"].axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert len(labels) == 2 and labels[1].startswith("sturdy: clean 94.1%, mean")  # never run: out
    points = [ln for ln in ax.get_lines() if ln.get_marker() in plots.MARKERS]
    assert [len(ln.get_xdata()) for ln in points] == [len(CORRUPTIONS)] * 2
    assert ax.get_yticklabels()[0].get_text().endswith("(noise)")  # grouped by family
    with pytest.raises(ValueError, match="no card records a robustness benchmark"):
        plots.robustness_by_model({"x": {"test_accuracy": 0.9}})


def test_per_class_pair_draws_both_models_per_class_hardest_first_with_the_change(figures):
    ax = figures["per_class_pair"].axes[0]
    old, new = (card["per_class_accuracy"] for _, card in _pair_cards())
    order = [t.get_text() for t in ax.get_yticklabels()]
    assert order == sorted(CLASSES, key=old.get)  # hardest for the old model on top
    dots = {ln.get_marker(): list(ln.get_xdata()) for ln in ax.get_lines()}
    assert dots["o"] == pytest.approx([100 * old[c] for c in order])
    assert dots["D"] == pytest.approx([100 * new[c] for c in order])
    changes = [t.get_text() for t in ax.texts if t.get_text()[:1] in "+-0"]
    assert changes == [f"{100 * (new[c] - old[c]):+.1f}" if new[c] != old[c] else "0.0" for c in order]
    assert "+2.0" in changes and "-1.0" in changes and "0.0" in changes
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["old_v2: 94.37% overall", "new_v2: 94.68% overall"]
    with pytest.raises(ValueError, match="per_class_accuracy over the same classes"):
        plots.per_class_pair(("a", {"per_class_accuracy": old}), ("b", {}))


def test_robustness_tradeoff_puts_each_model_at_clean_and_corrupted_accuracy(figures):
    ax = figures["robustness_tradeoff"].axes[0]
    points = {t.get_text(): t.xy for t in ax.texts if t.get_text() != ax.texts[0].get_text()}
    assert points["plain"] == pytest.approx((94.37, 68.8))  # the shared 'r' is not cut: one letter
    assert points["r3 · 3 clean"] == pytest.approx((94.13, 84.9))
    assert points["r3n · 3 clean (3 noisy)"] == pytest.approx((93.78, 87.25))
    named = plots.robustness_tradeoff([{**r, "model": f"net_robust_{r['model']}"}
                                       for r in _tradeoff_rows()[1:]])
    labels = {t.get_text() for t in named.axes[0].texts}
    assert "r3 · 3 clean" in labels  # the augmented models' shared 'net_robust_' is cut
    assert "net_robust_" in named.axes[0].get_legend().get_texts()[0].get_text()
    assert "both targets: ≥ 94% clean and ≥ 85% corrupted" in ax.texts[0].get_text()
    # the clean-epochs series of one recipe is one line, in order of clean epochs (not noisy)
    (line,) = [ln for ln in ax.get_lines() if ln.get_linestyle() == "-" and len(ln.get_xdata()) > 1]
    assert list(line.get_xdata()) == pytest.approx([93.68, 93.96, 94.13])
    # a model that held out less of its training images is named so, and not on that line
    rows = [{**r, "validation_split": 0.1} for r in _tradeoff_rows()]
    rows.append({**rows[3], "model": "r2h", "validation_split": 0.05, "test_accuracy": 0.9402})
    fig = plots.robustness_tradeoff(rows)
    assert "r2h · 2 clean · 5% held out" in {t.get_text() for t in fig.axes[0].texts}
    assert "r2 · 2 clean" in {t.get_text() for t in fig.axes[0].texts}
    (line,) = [ln for ln in fig.axes[0].get_lines()
               if ln.get_linestyle() == "-" and len(ln.get_xdata()) > 1]
    assert list(line.get_xdata()) == pytest.approx([93.68, 93.96, 94.13])
    # the same recipe on another net: a triangle, off the line, its net in the legend and its
    # label what its name does not share with the others'
    rows = [{**r, "model": f"net_robust_{r['model']}", "net": "net"} for r in _tradeoff_rows()]
    rows.append({**rows[3], "model": "net_wide_robust_v1", "net": "net_wide",
                 "test_accuracy": 0.9450, "corruption_mean": 0.880})
    ax = plots.robustness_tradeoff(rows).axes[0]
    labels = {t.get_text(): t.xy for t in ax.texts}
    assert labels["wide_robust_v1 · 2 clean"] == pytest.approx((94.50, 88.0))
    assert "r2 · 2 clean" in labels
    (tri,) = [ln for ln in ax.get_lines() if ln.get_marker() == "^" and len(ln.get_xdata())]
    assert (tri.get_xdata()[0], tri.get_ydata()[0]) == pytest.approx((94.50, 88.0))
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "the same on another net (net_wide)" in legend
    (line,) = [ln for ln in ax.get_lines() if ln.get_linestyle() == "-" and len(ln.get_xdata()) > 1]
    assert list(line.get_xdata()) == pytest.approx([93.68, 93.96, 94.13])
    # one recipe trained with other seeds: not joined; a diamond at the mean, bars over the range
    rows = _tradeoff_rows()
    rows += [{**rows[3], "model": "r2_s1", "seed": 1, "test_accuracy": 0.9380,
              "corruption_mean": 0.874},
             {**rows[3], "model": "r2_s2", "seed": 2, "test_accuracy": 0.9412,
              "corruption_mean": 0.845}]
    ax = plots.robustness_tradeoff(rows).axes[0]
    (line,) = [ln for ln in ax.get_lines() if ln.get_linestyle() == "-" and len(ln.get_xdata()) > 1]
    assert list(line.get_xdata()) == pytest.approx([93.68, 93.96, 94.13])
    (mean,) = [ln for ln in ax.get_lines() if ln.get_marker() == "D" and len(ln.get_xdata())]
    assert (mean.get_xdata()[0], mean.get_ydata()[0]) == pytest.approx(
        ((93.96 + 93.80 + 94.12) / 3, (86.6 + 87.4 + 84.5) / 3))
    bars = [c for c in ax.collections if c.get_segments()]
    assert sorted(tuple(np.round(np.ravel(c.get_segments()[0]), 2)) for c in bars) == [
        (93.8, 86.17, 94.12, 86.17), (93.96, 84.5, 93.96, 87.4)]  # across, then up
    # the first run is labelled; the others are hollow and unlabelled (robust_seeds names them)
    texts = {t.get_text() for t in ax.texts}
    assert "r2 · 2 clean" in texts and not {"r2_s1", "r2_s2"} & texts
    hollow = [ln for ln in ax.get_lines() if ln.get_marker() == "o" and ln.get_mfc() == "white"]
    assert sorted(ln.get_xdata()[0] for ln in hollow) == pytest.approx([93.80, 94.12])
    assert sorted(ln.get_ydata()[0] for ln in hollow) == pytest.approx([84.5, 87.4])
    assert ax.get_legend().get_texts()[-1].get_text() == (
        "r2's recipe, 3 seeds: mean and range (other seeds hollow)")
    # the seeds one by one: a dot per run on each accuracy, the mean as a bar, named runs
    fig = plots.robust_seeds(rows)
    clean_ax, corrupted_ax = fig.axes
    dots = [ln for ln in clean_ax.get_lines() if ln.get_marker() == "o"]
    assert sorted(ln.get_xdata()[0] for ln in dots) == pytest.approx([93.80, 93.96, 94.12])
    (bar,) = [ln for ln in corrupted_ax.get_lines() if ln.get_linestyle() == "-"]
    assert bar.get_xdata()[0] == pytest.approx((86.6 + 87.4 + 84.5) / 3)
    assert {t.get_text() for t in clean_ax.texts} == {
        "mean 93.96%", "r2 (first run)", "r2_s1 (seed 1)", "r2_s2 (seed 2)"}  # r2: no seed column
    assert [t.get_text() for t in clean_ax.get_yticklabels()] == ["r2's recipe"]
    assert "≥ 85%" in corrupted_ax.get_title()
    with pytest.raises(ValueError, match="more than one seed"):
        plots.robust_seeds(_tradeoff_rows())
    with pytest.raises(ValueError, match="robust_study.py"):
        plots.robustness_tradeoff([])


def test_two_recipes_with_seeds_get_their_own_colour_and_rows_that_do_not_overlap():
    """Two recipes trained with several seeds (the usual net's and the wider net's): each
    recipe's mean in the trade-off figure has a colour of its own, named in the legend, and in
    the seeds figure one row's run names stay clear of the next row's mean."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import to_hex, to_rgba_array
    from matplotlib.text import Text

    rows = _tradeoff_rows()
    rows += [{**rows[3], "model": "r2_s1", "seed": 1, "test_accuracy": 0.9380,
              "corruption_mean": 0.874},
             {**rows[3], "model": "r2_s2", "seed": 2, "test_accuracy": 0.9412,
              "corruption_mean": 0.845},
             {**rows[3], "model": "w2", "net": "wide", "seed": 1337, "test_accuracy": 0.9404,
              "corruption_mean": 0.878},
             {**rows[3], "model": "w2_s1", "net": "wide", "seed": 1, "test_accuracy": 0.9387,
              "corruption_mean": 0.8665}]
    ax = plots.robustness_tradeoff(rows).axes[0]
    means = [ln for ln in ax.get_lines() if ln.get_marker() == "D" and len(ln.get_xdata())]
    assert len(means) == 2 and len({to_hex(ln.get_color()) for ln in means}) == 2
    legend = ax.get_legend()
    named = {t.get_text(): to_hex(to_rgba_array(h.get_color())[0])
             for t, h in zip(legend.get_texts(), legend.legend_handles) if "recipe" in t.get_text()}
    assert set(named) == {"r2's recipe, 3 seeds: mean and range (other seeds hollow)",
                          "w2's recipe, 2 seeds: mean and range (other seeds hollow)"}
    assert sorted(named.values()) == sorted(to_hex(ln.get_color()) for ln in means)
    fig = plots.robust_seeds(rows)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for axis in fig.axes:
        # the text's own box (an annotation's extent includes its line to the dot)
        boxes = [(t.get_text(), Text.get_window_extent(t, renderer)) for t in axis.texts]
        clashes = [(a, b) for k, (a, box) in enumerate(boxes) for b, other in boxes[k + 1:]
                   if box.overlaps(other)]
        assert clashes == []
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["r2's recipe", "w2's recipe"]
    plt.close(fig)
    plt.close(ax.figure)


def test_no_label_in_the_committed_tradeoff_figure_covers_a_hollow_seed():
    """figures/robust_tradeoff.png as robust_study.py draws it from the committed CSV: a run's
    label starts past any hollow later seed on its line (the wider net's third seed sat under
    the start of v9's label)."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import to_hex
    from matplotlib.text import Text

    from wic.experiments import results

    def covered(rows: list[dict], hollows: int) -> list:
        fig = plots.robustness_tradeoff(rows)
        ax = fig.axes[0]
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        hollow = [ln for ln in ax.get_lines() if ln.get_marker() in ("o", "^")
                  and len(ln.get_xdata()) and to_hex(ln.get_markerfacecolor()) == "#ffffff"]
        assert len(hollow) == hollows
        points = [ax.transData.transform((ln.get_xdata()[0], ln.get_ydata()[0])) for ln in hollow]
        radius = 5 * fig.dpi / 72  # the markers' half size, 10 points across
        plt.close(fig)
        return [(t.get_text(), tuple(p)) for t in ax.texts for p in points
                if Text.get_window_extent(t, renderer).padded(radius).contains(*p)]

    csv = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "robust_study.csv"
    # v9's two later seeds and the wider net's two: the third sits on v9's label's line
    assert covered([r for r in results.read_rows(csv) if float(r["test_accuracy"]) >= 0.92],
                   4) == []
    # a label on the left (r0's) with a later seed of its recipe further left on its line
    rows = _tradeoff_rows()
    rows[1]["seed"] = 1337
    assert covered([*rows, {**rows[1], "model": "r0_s1", "seed": 1, "test_accuracy": 0.9364}],
                   1) == []


def test_seed_groups_draws_each_rows_runs_their_mean_and_the_target():
    fig = plots.seed_groups({"float32": [(0.9393, "seed 1337"), (0.9412, "seed 1"), (0.9371, "seed 2")],
                             "bfloat16": [(0.9433, "seed 1337"), (0.9419, "seed 1")]},
                            target=0.94, title="Two precisions")
    (ax,) = fig.axes
    assert [t.get_text() for t in ax.get_yticklabels()] == ["float32", "bfloat16"]
    dots = [ln for ln in ax.get_lines() if ln.get_marker() == "o"]
    filled = sorted((ln.get_ydata()[0], ln.get_xdata()[0]) for ln in dots if ln.get_mfc() != "white")
    rows = list(ax.get_yticks())  # each row's first run, on its row
    assert filled == [(rows[0], pytest.approx(93.93)), (rows[1], pytest.approx(94.33))]
    assert len(dots) == 5
    bars = sorted((ln.get_ydata()[0], ln.get_xdata()[0]) for ln in ax.get_lines() if ln.get_linestyle() == "-")
    assert [x for _, x in bars] == pytest.approx([(93.93 + 94.12 + 93.71) / 3, (94.33 + 94.19) / 2])
    texts = {t.get_text() for t in ax.texts}
    assert {"seed 1337", "seed 1", "seed 2", "mean 93.92%", "mean 94.26%"} <= texts
    assert fig._suptitle.get_text() == "Two precisions" and "≥ 94%" in ax.get_title()
    with pytest.raises(ValueError, match="at least one run in every row"):
        plots.seed_groups({"float32": []}, target=0.94)


def test_rescore_draws_each_number_with_two_standard_errors_either_side():
    fig = plots.robust_rescore(_rescore_rows())
    clean_ax, corrupted_ax = fig.axes[:2]

    def bars(ax):  # per error bar: (x, y, half-width, filled?)
        out = []
        for c in ax.containers:
            line, _, (seg,) = c.lines
            for (x0, y), (x1, _) in seg.get_segments():
                out.append((round((x0 + x1) / 2, 2), round(y, 2), round((x1 - x0) / 2, 2),
                            line.get_mfc() != "white"))
        return sorted(out)

    # by hand: 94.02 ± 2 x 0.24, and the first run on top (y = 0)
    assert bars(clean_ax) == [(93.94, 1.0, 0.48, True), (94.02, 0.0, 0.48, True)]
    # the card's 300 images hollow (above: the y axis runs down), the 2,000 filled (below),
    # bars 2 x SE
    assert bars(corrupted_ax) == [(85.8, 1.17, 1.2, True), (86.4, 0.83, 3.0, False),
                                  (86.55, 0.17, 1.0, True), (87.0, -0.17, 2.6, False)]
    assert [t.get_text() for t in clean_ax.get_yticklabels()] == ["v9 (seed 1337)",
                                                                  "v9_s1 (seed 1)"]
    assert [t.get_text() for t in corrupted_ax.get_legend().get_texts()] == [
        "the card's first 300 images", "the first 2,000 images"]
    assert "86.55% ± 1.00" in {t.get_text() for t in corrupted_ax.texts}
    assert "≥ 85%" in corrupted_ax.get_title() and "≥ 94%" in clean_ax.get_title()
    with pytest.raises(ValueError, match="robust_rescore.py"):
        plots.robust_rescore([])


def test_committed_figures_are_at_most_200_kb():
    sizes = {p.name: p.stat().st_size for p in (ROOT / "figures").glob("*.png")}
    assert sizes
    assert plots.MAX_BYTES == 200_000
    assert not {k: v for k, v in sizes.items() if v > plots.MAX_BYTES}, "figures above 200 KB"


def test_a_figure_is_saved_under_the_size_limit_without_losing_pixels_first(tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    rng = np.random.default_rng(0)
    fig = plt.figure(figsize=(4, 3))
    # noise finer than the pixels: every pixel of the file is random, its size grows with them
    fig.add_subplot().imshow(rng.random((600, 800, 3)), interpolation="nearest")
    free = tmp_path / "free.png"
    monkeypatch.setattr(plots, "MAX_BYTES", 10 ** 9)
    plots.save(fig, free, dpi=100)
    with Image.open(free) as im:
        mode, size, pixels = im.mode, im.size, np.asarray(im.convert("RGB"))
    assert mode == "RGBA"  # under the limit: written as Matplotlib writes it
    # a limit the RGBA file passes but the RGB one meets: same pixels, alpha dropped
    monkeypatch.setattr(plots, "MAX_BYTES", free.stat().st_size - 1)
    rgb = tmp_path / "rgb.png"
    plots.save(fig, rgb, dpi=100)
    with Image.open(rgb) as im:
        assert im.mode == "RGB" and im.size == size
        assert np.array_equal(np.asarray(im), pixels)
    # a limit only fewer pixels meet: smaller dpi, under the limit, same aspect
    monkeypatch.setattr(plots, "MAX_BYTES", int(free.stat().st_size * 0.6))
    small = tmp_path / "small.png"
    plots.save(fig, small, dpi=100)
    assert small.stat().st_size <= plots.MAX_BYTES
    with Image.open(small) as im:
        assert im.size[0] < size[0] and abs(im.size[0] / im.size[1] - size[0] / size[1]) < 0.05
    plt.close(fig)


def test_epoch_study_legend_below_the_curves_clears_the_epoch_label():
    """Below the axes the legend hides no curve; it must not cover the "epoch" label either,
    on a short figure (a study of two variants, one with its seeds and one with one run) as on
    a tall one."""
    rows = [r for r in _epoch_study_rows() if r["variant"] in ("muon", "ls")]
    one_run = next(r for r in rows if r["variant"] == "ls")
    many = rows + [dict(one_run, variant=f"ls{i}") for i in range(12)]  # a row each on the right
    for fig in (plots.epoch_study([r for r in rows if r["validation_split"]]),
                plots.epoch_study(many)):
        left = fig.axes[0]
        fig.canvas.draw()
        legend, label = (a.get_window_extent() for a in (left.get_legend(), left.xaxis.label))
        assert legend.y1 < label.y0, (legend, label)  # wholly below the label
    import matplotlib.pyplot as plt

    plt.close("all")
