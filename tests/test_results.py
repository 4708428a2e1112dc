"""wic.experiments.results: the fast recipe's markdown tables, from benchmark CSVs."""

from __future__ import annotations

import csv
import statistics
from pathlib import Path

import pytest
from benchtools import load_benchmark

from wic import cards
from wic.experiments import results

FIELDS = ["recipe", "epoch", "elapsed_s", "test_accuracy", "source", "load_avg_end"]
ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"  # the committed CSVs the quote checks read


def _fast_recipe_text() -> str:
    """benchmarks/FAST_RECIPE.md with its line breaks folded, as the quote checks search it."""
    return " ".join((ROOT / "benchmarks" / "FAST_RECIPE.md").read_text().split())


def _robust_study_percent(rows: dict[str, dict]) -> tuple[dict[str, float], dict[str, float]]:
    """robust_study.csv's rows by model -> each model's clean test accuracy and CIFAR-10-C mean,
    in percent, as the robustness paragraphs quote them."""
    return ({n: 100 * float(r["test_accuracy"]) for n, r in rows.items()},
            {n: 100 * float(r["corruption_mean"]) for n, r in rows.items()})


def _fast_recipe_comments() -> str:
    """The comments of FAST_RECIPE.md's commands block, folded: where each run's reading was
    written before its results."""
    raw = (ROOT / "benchmarks" / "FAST_RECIPE.md").read_text().splitlines()
    return " ".join(ln.strip().lstrip("#").strip() for ln in raw if ln.startswith("#"))


def _write(path, rows):
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=FIELDS)
        w.writeheader()
        w.writerows([dict(zip(FIELDS, r)) for r in rows])


@pytest.fixture
def results_dir(tmp_path):
    _write(tmp_path / "time_to_accuracy.csv", [
        ("seed", 1, 600, 0.70, "recorded (validation accuracy, from the log)", ""),
        ("seed", 2, 1500, 0.79, "recorded (validation accuracy, from the log)", ""),
        ("fast", 1, 100, 0.80, "measured", ""),
        ("fast", "final", 500, 0.915, "measured", 1.2),
        ("big", 1, 400, 0.80, "measured", ""),
        ("big", "final", 3000, 0.945, "measured", 1.1),
    ])
    _write(tmp_path / "time_to_78.csv", [
        ("seed", 10, 1000, 0.781, "measured", ""),
        ("fast_2ep", 2, 90, 0.80, "measured", ""),
        ("fast_2ep", "final", 110, 0.82, "measured", 1.0),
    ])
    with open(tmp_path / "fast_ablation_summary.csv", "w") as fh:
        fh.write("variant,runs,mean,std,min,max,train_s,delta_points\n"
                 "fast recipe (baseline),1,0.85,,0.85,0.85,150.0,0.0\n"
                 "no lookahead,2,0.84,0.002,0.838,0.842,150.0,-1.0\n"
                 "float32 (not bfloat16),1,0.851,,0.851,0.851,180.0,0.1\n")
    return tmp_path


def test_runs_and_targets_tables(results_dir):
    rows = results.read_rows(results_dir / "time_to_accuracy.csv")
    table = results.runs_table(rows)
    assert "| `fast` | 91.50% | 8.3 | 1.7 | 8.3 | 8.3 | – | 1.2 |" in table
    assert "`seed` (recorded; validation accuracy per epoch) | – | – | 25.0 |" in table
    targets = results.targets_table(rows)
    assert "| ≥ 90% within 12 min | `fast` | 8.3 min | **yes** |" in targets
    assert "| ≥ 94% within 45 min | `big` | 50.0 min | no |" in targets


def test_race_table_gives_ratios_to_the_seed(results_dir):
    table = results.race_table(results.read_rows(results_dir / "time_to_78.csv"))
    assert "| `seed` | 1000 | – |" in table
    assert "| `fast_2ep` | 90 | **11.1x** |" in table


def test_ablation_table_handles_single_runs(results_dir):
    table = results.ablation_table(results_dir / "fast_ablation_summary.csv")
    assert "| fast recipe (baseline) | 1 | 0.8500 | – | +0.00 | 1.00x |" in table
    assert "| no lookahead | 2 | 0.8400 | 0.0020 | -1.00 | 1.00x |" in table
    assert "| float32 (not bfloat16) | 1 | 0.8510 | – | +0.10 | 1.20x |" in table


def test_update_rewrites_only_the_block(results_dir, tmp_path):
    doc = tmp_path / "doc.md"
    doc.write_text(f"intro\n{results.BEGIN}\nold numbers\n{results.END}\noutro\n")
    assert results.update(doc, results_dir) is True
    text = doc.read_text()
    assert text.startswith("intro\n") and text.endswith("outro\n") and "old numbers" not in text
    assert "**The seed's 78%" in text and "One ingredient removed" in text
    assert results.update(doc, results_dir) is False  # idempotent
    (tmp_path / "plain.md").write_text("no markers")
    with pytest.raises(ValueError, match="no <!-- results:begin -->"):
        cards.replace_block(tmp_path / "plain.md", results.BEGIN, results.END, "x")


def test_repeat_runs_and_throughput(results_dir):
    rows = results.read_rows(results_dir / "time_to_accuracy.csv")
    assert results.repeats_line(rows) == ""  # no repeats yet
    rows += [{"recipe": "fast_seed2", "epoch": "final", "elapsed_s": 900.0, "test_accuracy": 0.917,
              "source": "measured"}]
    assert results.repeats_line(rows) == \
        "Repeat runs (other seeds): `fast` over 2 runs: mean 91.60%, range 91.50%–91.70%."
    (results_dir / "tp.csv").write_text("config,batch,images_per_s,model,ratio_to_baseline\n"
                                        "base,1024,100.0,m,1.0\nbf16,1024,142.0,m,1.42\n"
                                        "pipeline,1024,29356.2,,\n")
    table = results.throughput_table(results_dir / "tp.csv")
    assert "| bf16 | m | 1024 | 142.0 | x1.42 |" in table
    assert "| pipeline | (input pipeline) | 1024 | 29,356.2 | – |" in table


def test_write_rows_keeps_the_given_columns_and_creates_the_folder(tmp_path):
    path = results.write_rows(tmp_path / "a" / "r.csv", [{"x": 1, "y": 2, "z": 3}, {"x": 4, "y": 5}], ["y", "x"])
    assert path.read_text().splitlines() == ["y,x", "2,1", "5,4"]
    path = results.write_rows(tmp_path / "d.csv", [{"x": 1}, {"y": 2}])
    assert path.read_text().splitlines() == ["x,y", "1,", ",2"]


def test_per_machine_runs_get_their_own_table_and_the_second_round_targets(results_dir):
    fields = FIELDS + ["cpu"]
    with open(results_dir / "time_to_accuracy_other.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields)
        w.writeheader()
        for label, t94 in (("fast94", 700), ("fast94_seed1", 760), ("fast94_seed2", 1300)):
            w.writerow(dict(zip(fields, (label, 9, 200, 0.905, "measured", "", ""))))
            w.writerow(dict(zip(fields, (label, "final", t94, 0.941, "measured", 1.0, "CPU X"))))
    block = results.render(results_dir)
    assert "**Every run on CPU X** (`time_to_accuracy_other.csv`" in block
    assert "`fast94` over 3 runs: mean 94.10%" in block
    # minutes to 94%: 700, 760, 1300 s -> 11.7, 12.7, 21.7 (mean 15.3)
    assert "Minutes to 94%, repeat runs: `fast94` over 3 runs: mean 15.3 min, range 11.7–21.7." \
        in block
    assert "| ≥ 90% within 5 min | `fast94` | 3.3 min | **yes** |" in block
    assert "| ≥ 94% within 20 min | `fast94` | 11.7 min | **yes** |" in block
    with open(results_dir / "time_to_78_other.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields)
        w.writeheader()
        w.writerow(dict(zip(fields, ("seed", 12, 900, 0.781, "measured", "", ""))))
        w.writerow(dict(zip(fields, ("fast_2ep", 2, 45, 0.79, "measured", "", ""))))
        w.writerow(dict(zip(fields, ("fast_2ep", "final", 60, 0.80, "measured", 1.0, "CPU X"))))
    block = results.render(results_dir)
    assert "**The same race on CPU X** (`time_to_78_other.csv`):" in block
    assert "| `fast_2ep` | 45 | **20.0x** |" in block


def test_hardware_table_reads_peaks_steps_and_fast_kernels(tmp_path):
    cpu = "Some CPU (vendor, family 6 model 1)"
    state = "TF_ENABLE_ONEDNN_OPTS=unset (oneDNN ops on)"
    rows = [
        ("cpu flag", "", "avx2", 1, "present", ""),
        ("cpu flag", "", "amx_bf16", 1, "present", ""),
        ("cpu flag", "", "avx512f", 0, "present", ""),
        ("peak conv_fwd 3x3 64->256 32x32 b256", "float32", state, 400.0, "GFLOP/s best", "avx"),
        ("train net b1024", "float32", f"baseline, {state}", 400.0, "img/s", ""),
        ("peak conv_fwd 3x3 64->256 32x32 b256", "bfloat16", state, 3000.0, "GFLOP/s best", "amx"),
        ("peak conv_fwd 3x3 64->256 32x32 b256", "bfloat16", "TF_ENABLE_ONEDNN_OPTS=0 (off)",
         20.0, "GFLOP/s best", "Eigen"),
        ("peak conv_bwd_input 3x3 64->256 32x32 b256", "bfloat16", state, 3000.0, "GFLOP/s best",
         "amx"),
        ("peak conv_bwd_filter 3x3 64->256 32x32 b128", "bfloat16", state, 1000.0, "GFLOP/s best",
         "amx"),
        ("train net b1024", "mixed_bfloat16", f"baseline, {state}", 900.0, "img/s", ""),
        ("train net b1024", "mixed_bfloat16", f"baseline, {state}", 600.0, "GFLOP/s", ""),
        ("train net b1024", "mixed_bfloat16", f"baseline, {state}", 0.2,
         "fraction of conv fwd peak", ""),
        ("fast kernels net b512", "bf16", "on", 950.0, "images/s", ""),
        ("fast kernels net b512", "bf16", "off", 640.0, "images/s", ""),
        ("fast kernels net b512", "bf16", "on / off", 1.484, "ratio", ""),
        ("xla gelu net b512", "bf16", "on", 950.0, "images/s", ""),
        ("xla gelu net b512", "bf16", "off", 760.0, "images/s", ""),
        ("xla gelu net b512", "bf16", "on / off", 1.25, "ratio", ""),
        ("xla gelu net b512", "fp32", "on", 410.0, "images/s", ""),
        ("xla gelu net b512", "fp32", "off", 400.0, "images/s", ""),
        ("xla gelu net b512", "fp32", "on / off", 1.025, "ratio", ""),
        ("variant net b128", "float32", "baseline", 50.0, "img/s", ""),
        ("variant net b128", "float32", "baseline", 0.98, "x baseline", ""),
        ("variant net b128", "float32", "TF_ENABLE_ONEDNN_OPTS=1", 80.0, "img/s", ""),
        ("variant net b128", "float32", "TF_ENABLE_ONEDNN_OPTS=1", 1.57, "x baseline", ""),
        ("variant net b128", "float32", "baseline (again, last)", 52.0, "img/s", ""),
        ("variant net b128", "float32", "baseline (again, last)", 1.02, "x baseline", ""),
    ]
    path = tmp_path / "throughput_peak_x.csv"
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["cpu", "what", "dtype", "setting", "value", "unit", "kernel"])
        w.writerows([(cpu, *r) for r in rows])
    table = results.hardware_table(path)
    assert (f"CPU: **{cpu}** (`throughput_peak_x.csv`; flags: avx2, amx_bf16; TensorFlow's "
            f"default there: {state})") in table
    assert "bf16 / fp32 on this CPU: the conv peak x7.5; `net`'s step x2.25" in table
    assert "| conv_fwd 3x3 64->256 32x32 b256 | bf16 | 3,000 | amx |" in table
    assert "Eigen" not in table  # only the default oneDNN state's peaks
    # the three passes at their own peaks: 3 / (1/3000 + 1/3000 + 1/1000) = 1,800 GFLOP/s;
    # float32 has no backward peaks here, so no such share
    assert results.hardware_summary(path)["pass_peak"] == pytest.approx({"bf16": 1800.0})
    assert "| `net` | bf16 | 900 | 600 | 20% | 33% of 1,800 |" in table
    fast, xla = table.split("GELU as XLA-compiled loops vs the fast kernels without")
    assert "| `net b512` | bf16 | 950 | 640 | **1.48x** |" in fast
    assert "| `net b512` | bf16 | 950 | 760 | **1.25x** |" in xla
    assert results.hardware_summary(path)["xla_gelu"] == [("net b512", "bf16", 950.0, 760.0, 1.25),
                                                          ("net b512", "fp32", 410.0, 400.0, 1.025)]
    assert "so a float32 row here times the same code twice, in two fresh processes" in table
    assert "| `net b128`, TF_ENABLE_ONEDNN_OPTS=1 | fp32 | 80.0 | 1.57x |" in table
    # stage 6's variants, each with its own ratio (not the first row whose setting starts alike)
    assert results.hardware_summary(path)["variants"] == [
        ("net b128", "fp32", "baseline", 50.0, 0.98),
        ("net b128", "fp32", "TF_ENABLE_ONEDNN_OPTS=1", 80.0, 1.57),
        ("net b128", "fp32", "baseline (again, last)", 52.0, 1.02)]


def test_cpu_kind_names_amd_generations_and_intel_amx():
    assert results.cpu_kind("AMD EPYC (AuthenticAMD, family 25 model 17)", []) == "AMD EPYC Zen 4"
    assert results.cpu_kind("AMD EPYC (AuthenticAMD, family 25 model 1)", []) == "AMD EPYC Zen 3"
    assert results.cpu_kind("AMD EPYC (AuthenticAMD, family 26 model 2)", []) == "AMD EPYC Zen 5"
    assert results.cpu_kind("AMD EPYC (AuthenticAMD, family 23 model 1)", []) == "AMD EPYC Zen 1"
    assert results.cpu_kind("AMD EPYC (AuthenticAMD, family 23 model 49)", []) == "AMD EPYC Zen 2"
    xeon = "Intel(R) Xeon(R) Processor (GenuineIntel, family 6 model 167)"
    assert results.cpu_kind(xeon, ["avx2", "amx_bf16"]) == "Intel Xeon with AMX"
    assert results.cpu_kind(xeon, ["avx2"]) == "Intel Xeon"


def test_cpu_of_and_cpu_named_name_the_zen_generation_where_the_label_carries_the_family():
    zen3 = "AMD EPYC (AuthenticAMD, family 25 model 1), 2 cores, AVX2: no bf16 hardware"
    old = "AMD EPYC (AuthenticAMD), 2 cores, AVX2: no bf16 hardware"  # before labels had numbers
    xeon = "Intel(R) Xeon(R) Processor (GenuineIntel), 2 cores, AMX: bf16 in hardware"
    assert results.cpu_of([{"cpu": ""}, {"cpu": zen3}]) == (
        "AMD EPYC Zen 3 (AuthenticAMD, family 25 model 1), 2 cores, AVX2: no bf16 hardware")
    assert [results.cpu_of([{"cpu": c}]) for c in (old, xeon)] == [old, xeon]
    assert results.cpu_of([{"cpu": ""}]) == "another machine"
    assert [results.cpu_label(c) for c in (zen3, old)] == ["AMD EPYC Zen 3 · AVX2", "AMD EPYC · AVX2"]
    # the benchmarks' own labels (throughput, step profile) name it the same way
    assert results.cpu_named("AMD EPYC (AuthenticAMD, family 23 model 1)") == (
        "AMD EPYC Zen 1 (AuthenticAMD, family 23 model 1)")
    intel = "Intel(R) Xeon(R) Processor (GenuineIntel, family 6 model 167)"
    assert results.cpu_named(intel) == intel


def test_hardware_across_gives_one_row_per_cpu_and_dtype_of_the_chosen_net(tmp_path):
    default, set_on = "TF_ENABLE_ONEDNN_OPTS=unset (oneDNN ops on)", "TF_ENABLE_ONEDNN_OPTS=1 (oneDNN ops on)"
    zen1 = "AMD EPYC (AuthenticAMD, family 23 model 1)"
    paths = []
    for name, cpu, peak32, got32, state in (
            ("a", "AMD EPYC (AuthenticAMD, family 26 model 2)", 400, 300, default),
            ("b", zen1, 16, 12, default.replace("on)", "off)")),
            ("c", zen1, 20, 18, set_on)):  # the same CPU, run in the state wic trains in
        rows = [("cpu flag", "", "avx2", 1, "present", ""),
                ("peak conv_fwd 3x3 64->256 32x32 b256", "float32", state, peak32,
                 "GFLOP/s best", ""),
                ("train net b1024", "float32", f"baseline, {state}", 100.0, "img/s", ""),
                ("train net b1024", "float32", f"baseline, {state}", got32, "GFLOP/s", ""),
                ("train other b1024", "float32", f"baseline, {state}", 50.0, "img/s", ""),
                ("train other b1024", "float32", f"baseline, {state}", 1.0, "GFLOP/s", "")]
        paths.append(tmp_path / f"throughput_peak_{name}.csv")
        with open(paths[-1], "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["cpu", "what", "dtype", "setting", "value", "unit", "kernel"])
            w.writerows([(cpu, *r) for r in rows])
    got = results.hardware_across(paths, model="net")
    assert [(r["cpu"], r["dtype"], r["share"]) for r in got] == [
        ("AMD EPYC Zen 5", "fp32", 0.75), ("AMD EPYC Zen 1", "fp32", 0.75),
        ("AMD EPYC Zen 1, oneDNN ops on", "fp32", 0.9)]
    assert got[0]["file"] == "throughput_peak_a.csv" and got[0]["peak"] == 400
    assert got[0]["pass_share"] is None  # no backward peaks in these files
    # the heading says whose state the tables are in: TensorFlow's default, or one set for the run
    heads = [results.hardware_table(p).splitlines()[0] for p in paths]
    assert heads[1].endswith("TensorFlow's default there: TF_ENABLE_ONEDNN_OPTS=unset (oneDNN ops off))")
    assert heads[2].endswith("set for this run: TF_ENABLE_ONEDNN_OPTS=1 (oneDNN ops on), the state wic "
                             "trains in on a CPU with AVX2 (`wic.backend`))")
    assert [results.hardware_summary(p)["onednn_set"] for p in paths] == [False, False, True]


def test_backends_table_gives_ratios_to_tensorflow_in_the_same_precision(tmp_path):
    path = tmp_path / "backends.csv"
    path.write_text(
        "cpu,backend,version,policy,model,batch,epochs,steps,images_per_s,train_s,test_accuracy,"
        "load_end,status\n"
        "C,tensorflow,2.21,mixed_bfloat16,net,1024,1,48,2400,25,0.70,1.0,ok\n"
        "C,jax,0.10,mixed_bfloat16,net,1024,1,48,300,170,0.69,1.0,ok\n"
        "C,torch,,float32,net,1024,1,,,,,,not installed (pip install -e '.[backends]')\n")
    table = results.backends_table(path)
    assert table.startswith("CPU: **C**; budget: 1 epoch(s) of `net` at batch 1024")
    assert "| tensorflow | 2.21 | bf16 | 2,400 | – | 25 | 70.00% |" in table
    assert "| jax | 0.10 | bf16 | 300 | x0.12 | 170 | 69.00% |" in table
    assert "| torch | – | fp32 | – | – | – | not installed" in table


def test_optimizer_study_table_groups_seeds_and_ranks_nothing_on_test(tmp_path):
    cols = ["cpu", "model", "recipe", "variant", "changes", "seed", "epochs", "validation_split",
            "val_accuracy", "val_accuracy_per_epoch", "test_accuracy", "train_seconds",
            "load_avg", "run_dir"]
    base = {"cpu": "Test CPU", "model": "m", "recipe": "fast", "epochs": 8,
            "validation_split": 0.1, "val_accuracy_per_epoch": "", "train_seconds": 1,
            "load_avg": 0, "run_dir": "r"}
    rows = [dict(base, variant="muon", changes="optimizer=muon", seed=s, val_accuracy=v,
                 test_accuracy=t) for s, v, t in ((0, 0.94, 0.941), (1, 0.92, 0.935))]
    rows.append(dict(base, variant="nesterov", changes="", seed=0, val_accuracy=0.93,
                     test_accuracy=0.93))
    # the chosen variant's final runs on all training images: test only, a row of their own
    rows += [dict(base, variant="muon", changes="optimizer=muon", seed=s, validation_split=0.0,
                  val_accuracy="", test_accuracy=t) for s, t in ((0, 0.95), (1, 0.94))]
    path = results.write_rows(tmp_path / "optimizer_study.csv", rows, cols)
    table = results.optimizer_study_table(path)
    assert ("| `m` | 8 | muon | optimizer=muon | 10% | 2 | 93.00% (92.00%–94.00%) "
            "| 93.80% (93.50%–94.10%) | 1 | Test CPU |") in table
    assert "| nesterov | (recipe as is) | 10% | 1 | 93.00% | 93.00% | 1 | Test CPU |" in table
    assert "| muon | optimizer=muon | none (final) | 2 | – | 94.50% (94.00%–95.00%) |" in table
    # the same variant on another CPU is a row of its own, named by its short label
    rows.append(dict(base, cpu="AMD EPYC (AuthenticAMD), 2 cores, AVX2: no bf16 hardware",
                     variant="nesterov", changes="", seed=1, val_accuracy=0.90,
                     test_accuracy=0.91, train_seconds=250))
    path = results.write_rows(tmp_path / "optimizer_study.csv", rows, cols)
    table = results.optimizer_study_table(path)
    assert "| nesterov | (recipe as is) | 10% | 1 | 93.00% | 93.00% | 1 | Test CPU |" in table
    assert "| nesterov | (recipe as is) | 10% | 1 | 90.00% | 91.00% | 250 | AMD EPYC · AVX2 |" in table
    assert results.cpu_label("Intel(R) Xeon(R) Processor (GenuineIntel), 2 cores, AMX: bf16 in "
                             "hardware") == "Intel Xeon · AMX"
    block = results.render(tmp_path)
    assert "each row on the CPU named in it" in block and "ranked on them" in block


def test_equal_time_compares_a_cheaper_variant_at_equal_epochs_and_at_equal_time():
    def run(variant, epochs, secs, acc):
        return {"variant": variant, "epochs": epochs, "validation_split": 0.1,
                "train_seconds": secs, "val_accuracy": acc}

    rows = [run("whole", 1, 120, 0.79), run("whole", 1, 124, 0.80),  # mean 122 s, 79.5%
            run("whole", 2, 240, 0.84), run("whole", 3, 360, 0.87),
            run("crops", 1, 95, 0.77), run("crops", 3, 300, 0.86),
            run("other", 3, 100, 0.99), dict(run("crops", 3, 10, 0.5), validation_split=0.0)]
    out = results.equal_time(rows, baseline="whole", variant="crops")
    assert out["points"][("whole", 1)] == (122, 0.795, 2)
    three = out["budgets"][1]
    assert three["same_epochs"] == (360, 0.87, 1)
    assert abs(three["at_same_time"] - 0.855) < 1e-12  # halfway between 240 s (84%) and 360 s (87%)
    assert out["lines"][1] == (
        "- **3 epochs**, crops: 86.00% on validation in 300 s of training (mean of 1); whole over "
        "the same epochs: 87.00% in 360 s (mean of 1): **-1.00 points**, x1.20 the speed; whole "
        "at the same seconds (between its budgets): 85.50%, so **+0.50 points** at equal time.")
    # 95 s is shorter than any whole-image run: no comparison at equal time
    assert out["budgets"][0]["at_same_time"] is None
    assert "; 95 s lies outside the whole budgets' 122–360 s: no comparison" in out["lines"][0]


def test_seed_difference_judges_a_difference_of_means_by_the_seed_spread():
    # both sides' standard deviation is 0.01, so the standard error is sqrt(2 * 0.01² / 3)
    d, se, verdict = results.seed_difference([0.94, 0.95, 0.96], [0.92, 0.93, 0.94])
    assert d == pytest.approx(0.02) and se == pytest.approx((2 * 0.01 ** 2 / 3) ** 0.5)
    assert verdict.startswith("a real gain")  # 0.02 >= 2 * 0.00816
    assert results.seed_difference([0.92, 0.93, 0.94], [0.94, 0.95, 0.96])[2] == "a real loss"
    d, se, verdict = results.seed_difference([0.945, 0.95, 0.955], [0.94, 0.95, 0.96])
    assert d == pytest.approx(0.0) and verdict == "not distinguishable from the seed noise"
    # one run on the compared side borrows the reference's spread; a one-run reference, fallback_sd
    assert results.seed_difference([0.97], [0.94, 0.95, 0.96])[1] == pytest.approx((0.01 ** 2 * (1 + 1 / 3)) ** 0.5)
    assert results.seed_difference([0.97], [0.95], fallback_sd=0.01)[1] == pytest.approx((2 * 0.01 ** 2) ** 0.5)
    with pytest.raises(ValueError, match="no fallback_sd"):
        results.seed_difference([0.94, 0.95], [0.95])


def test_epoch_study_summary_compares_with_the_baseline_seed_range_and_the_target():
    base = {"validation_split": 0.1}
    rows = [dict(base, variant="nesterov", val_accuracy=v, test_accuracy=0.93)
            for v in (0.931, 0.933, 0.935)]
    rows += [dict(base, variant="muon", val_accuracy=v, test_accuracy=0.936) for v in (0.937, 0.939)]
    rows += [dict(base, variant="ls", val_accuracy=0.934, test_accuracy=0.93)]
    for r in rows:
        r["changes"] = {"nesterov": "", "muon": "optimizer=muon"}.get(r["variant"], "")
    rows += [dict(base, variant="muon_ls", changes="optimizer=muon;label_smoothing=0.09",
                  val_accuracy=0.938, test_accuracy=0.94)]
    rows += [dict(variant="muon", validation_split=0.0, val_accuracy="", test_accuracy=t)
             for t in (0.939, 0.941, 0.943)]
    text = results.epoch_study_summary(rows)
    assert "The recipe as is (nesterov): 93.30% on validation, mean of 3 seeds (standard deviation 0.20" in text
    assert "- muon (2 seeds): +0.50 ± 0.15 points, a real gain" in text  # se = sqrt(.02/2 + .04/3)
    assert "- ls (1 seed): +0.10 ± 0.23 points, not distinguishable" in text
    # added to muon: measured against the baseline and against muon (muon's spread for one seed)
    assert ("- muon_ls (1 seed): +0.50 ± 0.23 points, a real gain (at least twice the standard "
            "error); against muon: +0.00 ± 0.17 points, not distinguishable") in text
    # several ingredients at once: against the largest of its parts measured with several
    # seeds (muon_ls has one seed, so muon), not the largest part of all
    both = [dict(base, variant="muon_ls_wb", changes="optimizer=muon;label_smoothing=0.09;wb=3",
                 val_accuracy=v, test_accuracy=0.94) for v in (0.938, 0.940)]
    line = next(x for x in results.epoch_study_summary(rows + both).splitlines()
                if x.startswith("- muon_ls_wb"))
    assert line.endswith("; against muon: +0.10 ± 0.14 points, not distinguishable from the seed "
                         "noise."), line
    both += [dict(base, variant="muon_ls", changes="optimizer=muon;label_smoothing=0.09",
                  val_accuracy=0.936, test_accuracy=0.94)]  # now muon_ls has two seeds
    line = next(x for x in results.epoch_study_summary(rows + both).splitlines()
                if x.startswith("- muon_ls_wb"))
    assert "; against muon_ls: +0.20 ± " in line, line
    assert "muon on all training images (the final runs): test 94.10%, mean of 3 (93.90%–94.30%); the 94% target is met." in text
    assert "From start" not in text  # no run timed from its process's start
    for r, s in zip(rows[-3:], (600, 660, 720)):
        r["process_seconds"] = s
    assert ("the 94% target is met. From start to the test score: 11.0 min, mean of 3 (10.0–12.0)."
            in results.epoch_study_summary(rows))
    rows[-1]["test_accuracy"] = 0.934
    assert "missed by 0.20 points" in results.epoch_study_summary(rows)
    assert results.epoch_study_summary(rows[3:5]).startswith("No held-out run of the baseline")
    assert "from one seed: no spread" in results.epoch_study_summary(rows[:1])
    # a study in progress, one seed a side: each variant's number so far, and no verdict
    one_each = [r for i, r in enumerate(rows) if r["validation_split"]
                and r["variant"] not in {q["variant"] for q in rows[:i]}]  # each one's first run
    assert len(one_each) > 2 and results.epoch_study_summary(one_each).splitlines()[1:] == [
        f"- {r['variant']} (1 seed): {r['val_accuracy']:.2%} on validation, "
        f"{(r['val_accuracy'] - one_each[0]['val_accuracy']) * 100:+.2f} points; no verdict yet."
        for r in one_each[1:]]


def test_an_epoch_study_is_one_cpu_and_rows_of_two_are_refused_by_name(tmp_path):
    """A bf16 run and a float32 run of one variant are not seeds of one thing."""
    zen4 = "AMD EPYC (AuthenticAMD, family 25 model 17), 2 cores, AVX-512 BF16: bf16 in hardware"
    zen3 = "AMD EPYC (AuthenticAMD, family 25 model 1), 2 cores, AVX2: no bf16 hardware"
    cols = ["cpu", "model", "variant", "changes", "seed", "epochs", "validation_split",
            "val_accuracy", "test_accuracy"]
    rows = [dict(cpu=c, model="net", variant="muon", changes="optimizer=muon", seed=s, epochs=8,
                 validation_split=0.1, val_accuracy=a, test_accuracy=a)
            for c, a in ((zen4, 0.94), (zen3, 0.93)) for s in (0, 1)]
    path = results.write_rows(tmp_path / "optimizer_study.csv", rows, cols)
    with pytest.raises(ValueError, match=r"from 2 CPUs \(AMD EPYC Zen 3 · AVX2; AMD EPYC Zen 4 · "
                                         r"AVX-512 BF16\); pass cpu="):
        results.epoch_study_rows(path, "net", 8)
    study = results.epoch_study_rows(path, "net", 8, cpu="AMD EPYC Zen 3 · AVX2")
    assert [(r["cpu"], r["val_accuracy"]) for r in study] == [(zen3, "0.93")] * 2
    with pytest.raises(ValueError, match="no 8-epoch row of net in optimizer_study.csv on Zen 5"):
        results.epoch_study_rows(path, "net", 8, cpu="Zen 5")
    with pytest.raises(ValueError, match="no 4-epoch row of net"):
        results.epoch_study_rows(path, "net", 4, cpu="AMD EPYC Zen 3 · AVX2")


def test_a_wider_net_is_a_row_of_its_own_measured_against_the_same_variant_on_the_base_net(tmp_path):
    cols = ["model", "variant", "changes", "seed", "epochs", "validation_split", "val_accuracy",
            "test_accuracy"]
    rows = [dict(model=m, variant=v, changes=c, seed=s, epochs=e, validation_split=0.1,
                 val_accuracy=a + 0.001 * s, test_accuracy=a)
            for m, v, c, a in (("net", "nesterov", "", 0.930), ("net", "muon", "optimizer=muon", 0.935),
                               ("net_wide", "muon", "optimizer=muon", 0.941),
                               ("other", "muon", "optimizer=muon", 0.99))
            for s in (0, 1, 2) for e in (8, 4)]
    path = results.write_rows(tmp_path / "optimizer_study.csv", rows, cols)
    study = results.epoch_study_rows(path, "net", 8, others=("net_wide",))
    assert {(r["model"], r["variant"]) for r in study} == {
        ("net", "nesterov"), ("net", "muon"), ("net_wide", "muon · net_wide")}
    assert all(int(r["epochs"]) == 8 for r in study) and len(study) == 9
    text = results.epoch_study_summary(study)
    # the same recipe change on a wider net: against the baseline, then against muon on "net"
    line = next(x for x in text.splitlines() if x.startswith("- muon · net_wide"))
    assert "+1.10 ± 0.08 points, a real gain" in line
    assert "against muon: +0.60 ± 0.08 points, a real gain" in line


def test_robust_study_table_shows_augmentations_clean_and_corrupted_accuracy(tmp_path):
    cols = ["model", "optimizer", "noise", "blur", "brightness", "contrast", "epochs",
            "train_seconds", "test_accuracy", "test_ece_calibrated", "corruption_mean",
            "corruption_images", "noise_family", "blur_family", "weather_family",
            "digital_family", "command"]
    rows = [{"model": "plain", "optimizer": "nesterov", "noise": 0.0, "blur": 0.0,
             "brightness": 0.0, "contrast": 0.0, "epochs": 15, "train_seconds": 1200,
             "test_accuracy": 0.9437, "test_ece_calibrated": 0.009, "corruption_mean": 0.6878,
             "corruption_images": 300, "noise_family": 0.2522, "blur_family": 0.7352,
             "weather_family": 0.8728, "digital_family": 0.782, "command": "wic train"}]
    # a row written before clean_epochs existed has no such column: read as none clean
    path = results.write_rows(tmp_path / "robust_study.csv", rows, cols)
    table = results.robust_study_table(path)
    assert ("| `plain` | – | nesterov | 0 / 0 / 0 / 0 | 15 | – | – | 20.0 min | 94.37% "
            "| **68.8%** (n=300) | 25.2% | 73.5% | 87.3% | 78.2% |") in table
    rows.append({**rows[0], "model": "robust", "noise": 0.08, "blur": 0.8, "clean_epochs": 3,
                 "epochs": 28})
    path = results.write_rows(tmp_path / "robust_study.csv", rows, [*cols, "clean_epochs"])
    table = results.robust_study_table(path)
    assert ("| `robust` | – | nesterov | 0.08 / 0.8 / 0 / 0 | 28 (3 clean) | – | – "
            "| 20.0 min |") in table
    assert "| `plain` | – | nesterov | 0 / 0 / 0 / 0 | 15 | – | – | 20.0 min |" in table
    rows[1].update(clean_noisy_epochs=1)
    path = results.write_rows(tmp_path / "robust_study.csv", rows,
                              [*cols, "clean_epochs", "clean_noisy_epochs"])
    assert "| 28 (3 clean, 1 of them noisy) | – | – |" in results.robust_study_table(path)
    # the share of training images held out: a percentage, 'none', or '–' for older rows
    rows[0]["validation_split"], rows[1]["validation_split"] = 0, 0.05
    path = results.write_rows(tmp_path / "robust_study.csv", rows,
                              [*cols, "clean_epochs", "clean_noisy_epochs", "validation_split"])
    table = results.robust_study_table(path)
    assert "| 28 (3 clean, 1 of them noisy) | 5% | – | 20.0 min |" in table
    assert "| `plain` | – | nesterov | 0 / 0 / 0 / 0 | 15 | none | – | 20.0 min |" in table
    assert "what training augmentations buy and cost" in results.render(tmp_path)
    # the seed each run trained with
    rows[0]["seed"], rows[1]["seed"] = 1337, 2
    path = results.write_rows(tmp_path / "robust_study.csv", rows, [
        *cols, "clean_epochs", "clean_noisy_epochs", "validation_split", "seed"])
    assert "| 28 (3 clean, 1 of them noisy) | 5% | 2 | 20.0 min |" in results.robust_study_table(path)
    # the net each model is (its registry name)
    rows[0]["net"], rows[1]["net"] = "airbench94_cpu", "airbench94_cpu_wide"
    path = results.write_rows(tmp_path / "robust_study.csv", rows, [
        "net", *cols, "clean_epochs", "clean_noisy_epochs", "validation_split", "seed"])
    table = results.robust_study_table(path)
    assert "| `robust` | `airbench94_cpu_wide` | nesterov | 0.08 / 0.8 / 0 / 0 |" in table
    assert "| `plain` | `airbench94_cpu` | nesterov | 0 / 0 / 0 / 0 |" in table


def test_robust_repeats_give_a_recipes_mean_range_and_runs_meeting_both_targets(tmp_path):
    cols = ["model", "optimizer", "noise", "blur", "brightness", "contrast", "clean_epochs",
            "clean_noisy_epochs", "validation_split", "epochs", "seed", "train_seconds",
            "test_accuracy", "corruption_mean", "corruption_images", "noise_family",
            "blur_family", "weather_family", "digital_family"]
    fams = dict(noise_family=0.8, blur_family=0.8, weather_family=0.9, digital_family=0.85)
    recipe = dict(optimizer="muon", noise=0.08, blur=0.8, brightness=0.2, contrast=0.3,
                  clean_epochs=2, clean_noisy_epochs=0, validation_split=0.05, epochs=28,
                  train_seconds=2300, corruption_images=300, **fams)
    rows = [{**recipe, "model": "r", "seed": 1337, "test_accuracy": 0.9402, "corruption_mean": 0.870},
            # one clean epoch more: another recipe, one seed, so no line of its own
            {**recipe, "model": "r3", "clean_epochs": 3, "seed": 1337, "test_accuracy": 0.9413,
             "corruption_mean": 0.849},
            {**recipe, "model": "r_s1", "seed": 1, "test_accuracy": 0.9380, "corruption_mean": 0.874},
            {**recipe, "model": "r_s2", "seed": 2, "test_accuracy": 0.9412,
             "corruption_mean": 0.845},
            # the same fields on another net: another recipe, so not one of r's seeds
            {**recipe, "model": "wide_r", "net": "airbench94_cpu_wide", "seed": 1,
             "test_accuracy": 0.9450, "corruption_mean": 0.880}]
    for r in rows[:4]:
        r["net"] = "airbench94_cpu"
    path = results.write_rows(tmp_path / "robust_study.csv", rows, ["net", *cols])
    # by hand: clean (94.02 + 93.80 + 94.12) / 3 = 93.98; corrupted (87.0 + 87.4 + 84.5) / 3 = 86.3;
    # r meets both, r_s1 misses 94% clean, r_s2 misses 85% corrupted
    assert results.robust_repeats_lines(path) == [
        "`r`'s recipe, 3 seeds (1337, 1, 2): clean test **93.98%** mean (93.80%–94.12%), "
        "CIFAR-10-C **86.3%** mean (84.5%–87.4%); 1 of 3 runs meet both targets (≥ 94% clean, "
        "≥ 85% corrupted)."]
    assert results.robust_repeats_lines(path, clean_target=0.93)[0].endswith(
        "2 of 3 runs meet both targets (≥ 93% clean, ≥ 85% corrupted).")
    assert "`r`'s recipe, 3 seeds" in results.render(tmp_path)
    # one seed per recipe: nothing to say about a spread
    path = results.write_rows(tmp_path / "robust_study.csv", rows[:2], ["net", *cols])
    assert results.robust_repeats_lines(path) == []


def test_run_names_spell_out_a_labelled_variant():
    rows = [{"recipe": r, "epoch": 1, "model": m} for r, m in (
        ("seed", "seed_v1_3"), ("fast_3ep", "airbench_cpu_s"), ("fast", "airbench_cpu_s"),
        ("muon_1ep_b512", "airbench_cpu_s"), ("fast94_seed2", "airbench94_cpu"),
        ("muon_1ep_b512_xs", "airbench_cpu_xs"), ("muon_xs_1ep", "my_net_xs"),
        ("muon_1ep_b512_xs_wb02", "airbench_cpu_xs"), ("muon_1ep_b512_xs_wb0", "airbench_cpu_xs"),
        ("muon_8ep_wb3", "airbench94_cpu"), ("muon_1ep_b512_xs_wb0_r24h", "airbench_cpu_xs"),
        ("muon_1ep_c24q3", "airbench_cpu_xs"), ("muon_8ep_r24q_seed1", "airbench94_cpu_wide"))]
    names = results.run_names(rows)
    # the net's suffix in a label is said once, by the net's name (an unknown net keeps it)
    assert names["muon_1ep_b512_xs"] == ("fast recipe + Muon, batch 512, 1-epoch schedule, "
                                         "narrow fast net")
    assert names["muon_xs_1ep"] == "fast recipe + Muon, xs, 1-epoch schedule, my_net_xs"
    assert names["seed"] == "seed recipe (Adam, batch 32)"
    assert names["fast_3ep"] == "fast recipe, 3-epoch schedule, small fast net"
    assert names["fast"] == "fast recipe, 10-epoch schedule, small fast net"
    assert names["muon_1ep_b512"] == ("fast recipe + Muon, batch 512, 1-epoch schedule, "
                                      "small fast net")
    assert names["fast94_seed2"] == "fast recipe, 15-epoch schedule, full-width fast net, seed 2"
    # wbN: the whitening bias held after N epochs, a leading 0 read as "0."
    assert names["muon_1ep_b512_xs_wb02"] == ("fast recipe + Muon, batch 512, whitening bias held "
                                              "after 0.2 epoch, 1-epoch schedule, narrow fast net")
    assert names["muon_1ep_b512_xs_wb0"] == ("fast recipe + Muon, batch 512, whitening bias held "
                                             "from the first step, 1-epoch schedule, narrow fast net")
    assert names["muon_8ep_wb3"] == ("fast recipe + Muon, whitening bias held after 3 epochs, "
                                     "8-epoch schedule, full-width fast net")
    # cN/rN with h, q or q3: smaller pictures (windows / shrunk) for the first half / quarter /
    # three quarters
    assert names["muon_1ep_b512_xs_wb0_r24h"] == (
        "fast recipe + Muon, batch 512, whitening bias held from the first step, pictures shrunk "
        "to 24x24 for the first half, 1-epoch schedule, narrow fast net")
    assert names["muon_1ep_c24q3"] == ("fast recipe + Muon, 24x24 windows for the first three "
                                       "quarters, 1-epoch schedule, narrow fast net")
    assert names["muon_8ep_r24q_seed1"] == ("fast recipe + Muon, pictures shrunk to 24x24 for the "
                                            "first quarter, 8-epoch schedule, wider fast net, seed 1")


def test_step_profile_table_puts_each_kind_against_each_setting(tmp_path):
    path = tmp_path / "step_profile_x.csv"
    head = ["cpu", "model", "policy", "batch", "setting", "kind", "ms_per_step", "share",
            "wall_ms_per_step"]
    rows = [("on", "convolution forward", 250.0, 0.25, 900.0),
            ("on", "XLA-compiled (GELU)", 60.0, 0.06, 900.0),
            ("off", "convolution forward", 255.0, 0.2, 1200.0),
            ("off", "element-wise TensorFlow ops", 400.0, 0.32, 1200.0)]
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(head)
        w.writerows([("CPU X", "net", "mixed_bfloat16", 512, *r) for r in rows])
    p = results.step_profile(path)
    assert p["settings"] == ["on", "off"] and p["wall_ms"] == {"on": 900.0, "off": 1200.0}
    assert [k for k, _ in p["kinds"]] == ["element-wise TensorFlow ops", "convolution forward",
                                          "XLA-compiled (GELU)"]  # by their largest time
    table = results.step_profile_table(path)
    assert "| kind of op | all fast kernels | Keras' ops |" in table
    assert "| convolution forward | 250 (25%) | 255 (20%) |" in table
    assert "| XLA-compiled (GELU) | 60 (6%) | – |" in table  # not run in that setting
    assert "| **wall time per step** | **900** | **1,200** |" in table
    assert "each op at its self time; one process per setting)" in table  # a file before medians
    several = tmp_path / "step_profile_y.csv"
    with open(several, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow([*head, "processes"])
        w.writerows([("CPU X", "net", "mixed_bfloat16", 512, *r, 3) for r in rows])
    assert "; the median of 3 fresh processes per setting)" in results.step_profile_table(several)
    (tmp_path / "empty.csv").write_text(",".join(head) + "\n")
    with pytest.raises(ValueError, match="empty.csv: no rows"):
        results.step_profile(tmp_path / "empty.csv")


def test_rescore_table_and_sentence_put_each_margin_in_standard_errors(tmp_path):
    rescore = load_benchmark("robust_rescore.py")
    rows = [dict(cpu="AMD EPYC", model="r", seed=1337, test_accuracy=0.9402, test_images=10000,
                 test_se=0.0024, card_mean=0.870, card_images=300, first_mean=0.869,
                 first_se=0.013, corruption_mean=0.866, corruption_images=2000,
                 corruption_se=0.005, seconds=600),
            dict(cpu="AMD EPYC", model="r_s1", seed=1, test_accuracy=0.9394, test_images=10000,
                 test_se=0.0024, card_mean=0.864, card_images=300, first_mean=0.864,
                 first_se=0.015, corruption_mean=0.858, corruption_images=2000,
                 corruption_se=0.005, seconds=600)]
    path = results.write_rows(tmp_path / "robust_rescore.csv", rows, rescore.COLUMNS)
    table = results.robust_rescore_table(path).splitlines()
    # by hand: r (94.02 - 94) / 0.24 = +0.08; (86.6 - 85) / 0.5 = +3.2;
    # r_s1 (93.94 - 94) / 0.24 = -0.25; (85.8 - 85) / 0.5 = +1.6
    assert table[2] == ("| `r` | 1337 | 94.02% ± 0.24% | +0.1 SE | 87.0% (n=300) | 86.9% ± 1.3% "
                        "(n=300) | **86.6%** ± 0.5% (n=2,000) | +3.2 SE |")
    assert table[3].endswith("| -0.2 SE | 86.4% (n=300) | 86.4% ± 1.5% (n=300) | **85.8%** ± 0.5% "
                             "(n=2,000) | +1.6 SE |")
    # moved: |86.6 - 87.0| = 0.4 and |85.8 - 86.4| = 0.6 points; SE 1.4% on average, then 0.5%
    assert results.robust_rescore_sentence(path) == (
        "On 2,000 test images instead of 300, the CIFAR-10-C means moved by at most 0.6 points "
        "and their standard error shrank from about 1.4% to 0.5%. 1 of 2 models lie more than two "
        "standard errors above the 85% target (+1.6 to +3.2). Their clean test accuracies lie "
        "-0.2 to +0.1 standard errors from 94%: closer than two standard errors, so on other test "
        "images of the same kind each could land on either side of it.")
    assert "**How far can 300 images be off?**" in results.render(tmp_path)
    assert results.robust_rescore_sentence(path, clean_target=0.93).endswith(
        "at least one of them is more than two standard errors away from it.")


def test_rescored_recipes_are_told_apart_only_by_more_than_their_seed_spread(tmp_path):
    """Rescored runs are grouped by the recipe robust_study.csv gives them; the higher recipe mean
    is called more robust only if it is above the other by more than the larger seed spread. The
    study's recipes with seeds are compared by the same rule on their cards' means."""
    rescore, study = load_benchmark("robust_rescore.py"), load_benchmark("robust_study.py")

    def run(model, net, seed, mean):
        return ({"model": model, "seed": seed, "test_accuracy": 0.94, "test_images": 10000,
                 "test_se": 0.0024, "card_mean": mean, "card_images": 300, "first_mean": mean,
                 "first_se": 0.013, "corruption_mean": mean, "corruption_images": 2000,
                 "corruption_se": 0.005},
                {**dict.fromkeys(study.COLUMNS, 0), "model": model, "net": net, "noise": 0.08,
                 "epochs": 28, "seed": seed, "test_accuracy": 0.94, "corruption_mean": mean,
                 "corruption_images": 300, "command": "wic train"})

    def sentence(means_a, means_b):
        rows = [run(f"a{i}", "usual", i, m) for i, m in enumerate(means_a)] + [
            run(f"b{i}", "wide", i, m) for i, m in enumerate(means_b)] + [
            run("once", "wide", 0, 0.99)]  # another recipe, run once: not a group
        rows.append(({**rows[0][0], "model": "only_rescored"}, None))  # not in the study
        results.write_rows(tmp_path / "robust_rescore.csv", [r for r, _ in rows], rescore.COLUMNS)
        results.write_rows(tmp_path / "robust_study.csv",
                           [{**s, "noise": 0.1 if s["model"] == "once" else s["noise"]}
                            for _, s in rows if s], study.COLUMNS)
        said = results.rescore_recipes_sentence(tmp_path / "robust_rescore.csv",
                                                tmp_path / "robust_study.csv")
        # the study's own CIFAR-10-C means (here the same numbers), compared on its 300 images
        assert results.robust_recipes_sentence(tmp_path / "robust_study.csv") == said.replace(
            "on 2,000 images", "on 300 images")
        return said

    # a: mean 86.50%, spread 0.60; b: mean 87.50%, spread 0.40; gap 1.00 > 0.60
    assert sentence([0.862, 0.868, 0.865], [0.873, 0.877]) == (
        "By recipe, on 2,000 images: `b0`'s recipe 87.50% mean over 2 seeds (spread 0.40 points); "
        "`a0`'s recipe 86.50% mean over 3 seeds (spread 0.60 points). `b0`'s is above `a0`'s by "
        "1.00 points, more than the larger spread (0.60): it is called more robust.")
    # b: mean 86.90%, spread 1.00; gap 0.40 < 1.00
    assert sentence([0.862, 0.868, 0.865], [0.864, 0.874]).endswith(
        "`b0`'s is above `a0`'s by 0.40 points, less than the larger spread (1.00): the two are "
        "not told apart.")
    assert "not told apart." in results.render(tmp_path)  # the results block gives it too
    assert sentence([0.862, 0.868], []) == ""  # one recipe: nothing to compare
    assert "By recipe" not in results.render(tmp_path)


def test_epochs_to_target_reads_only_the_final_runs_and_names_the_fewest_epochs(tmp_path):
    cols = ["cpu", "model", "variant", "changes", "seed", "epochs", "validation_split",
            "val_accuracy", "test_accuracy"]

    def run(model, epochs, split, test, seed=0):
        return dict(cpu="AMD EPYC", model=model, variant="muon", changes="optimizer=muon",
                    seed=seed, epochs=epochs, validation_split=split,
                    val_accuracy=0.95 if split else "", test_accuracy=test)

    rows = [run("wide", 8, 0.1, 0.99),  # held out: chooses, never answers "how many epochs"
            *(run("wide", 8, 0.0, t, s) for s, t in enumerate((0.9429, 0.9405, 0.9417))),
            *(run("wide", 7, 0.0, t, s) for s, t in enumerate((0.9395, 0.9410, 0.9402))),
            run("usual", 8, 0.0, 0.9378)]
    path = results.write_rows(tmp_path / "optimizer_study.csv", rows, cols)
    # by hand: 8 epochs (94.29 + 94.05 + 94.17) / 3 = 94.17; 7 epochs (93.95 + 94.10 + 94.02) / 3
    # = 94.02, so 7 is the fewest whose mean meets 94%
    assert results.epochs_to_target_lines(path) == [
        "- `usual` · muon, on all training images: 8 epochs: test 93.78% (mean of 1); no budget "
        "here meets 94% on average.",
        "- `wide` · muon, on all training images: 8 epochs: test 94.17% (mean of 3, "
        "94.05%–94.29%); 7 epochs: test 94.02% (mean of 3, 93.95%–94.10%); the fewest epochs "
        "tried whose mean meets 94%: **7**."]
    assert results.epochs_to_target_lines(path, target=0.9405)[1].endswith(
        "the fewest epochs tried whose mean meets 94%: **8**.")
    assert "**Epochs to 94%**" in results.render(tmp_path)


def test_fast_recipe_says_what_the_committed_epoch_budgets_measured():
    """FAST_RECIPE says the wider net's 7-epoch mean falls just short of 94% (by less than the
    test set's standard error) and that 8 is the fewest epochs tried reaching it: true of the
    committed optimizer_study.csv, or this fails."""
    import math
    from statistics import mean

    path = RESULTS / "optimizer_study.csv"
    final = [r for r in results.read_rows(path) if r["model"] == "airbench94_cpu_wide"
             and r["variant"] == "muon" and not float(r["validation_split"] or 0)]
    tests = {e: [float(r["test_accuracy"]) for r in final if int(r["epochs"]) == e] for e in (7, 8)}
    assert len(tests[7]) == len(tests[8]) == 3
    assert mean(tests[8]) >= 0.94 > mean(tests[7])
    assert 0.94 - mean(tests[7]) < math.sqrt(0.94 * 0.06 / 10_000)  # one standard error
    line = next(ln for ln in results.epochs_to_target_lines(path) if "`airbench94_cpu_wide`" in ln)
    assert line.endswith("the fewest epochs tried whose mean meets 94%: **8**.")
    text = _fast_recipe_text()
    assert ("their mean falls just short of 94%, so 8 is the fewest epochs tried that reaches it"
            in text)


def test_ablation_table_names_each_sweep_and_prefers_per_seed_times(tmp_path):
    summary, runs = tmp_path / "summary.csv", tmp_path / "runs.csv"
    summary.write_text("variant,runs,mean,std,min,max,train_s,time_ratio,time_ratio_min,"
                       "time_ratio_max,delta_points\n"
                       "fast recipe (baseline),2,0.85,0.001,0.849,0.851,200.0,1.0,1.0,1.0,0.0\n"
                       "no lookahead,2,0.84,0.002,0.838,0.842,330.0,1.1,1.05,1.15,-1.0\n")
    runs.write_text("variant,seed,load_avg_end,cpu\n"
                    "fast recipe (baseline),0,2.17,\nno lookahead,0,2.17,\n"
                    "fast recipe (baseline),1,0.5,CPU B\nno lookahead,1,0.5,CPU B\n")
    table = results.ablation_table(summary, runs)
    assert "| training time vs baseline: median over seeds (range) |" in table.splitlines()[0]
    assert "| fast recipe (baseline) | 2 | 0.8500 | 0.0010 | +0.00 | 1.00x |" in table
    assert "| no lookahead | 2 | 0.8400 | 0.0020 | -1.00 | 1.10x (1.05–1.15) |" in table  # not 330 / 200
    assert ("(the seeds ran in separate sweeps, training times compared within a seed; "
            "seed 0: CPU not recorded, load average 2.17 when it ended; "
            "seed 1: CPU B, load average 0.50 when it ended)") in table
    runs.write_text("variant,seed,load_avg_end,cpu\nfast recipe (baseline),0,1.5,CPU B\n"
                    "no lookahead,1,1.5,CPU B\n")
    assert "(CPU B; 1-minute load average when the sweep ended: 1.50)" in \
        results.ablation_table(summary, runs)
    runs.write_text("variant,seed,load_avg_end,cpu\nfast recipe (baseline),0,,CPU B\n")
    assert results.ablation_table(summary, runs).endswith("\n(CPU B)")  # no load recorded


def test_a_repeat_that_never_reached_the_threshold_is_counted_not_dropped():
    rows = [{"recipe": label, "epoch": "final", "elapsed_s": t, "test_accuracy": acc,
             "source": "measured"}
            for label, t, acc in (("wide", 600.0, 0.942), ("wide_seed1", 720.0, 0.939),
                                  ("wide_seed2", 660.0, 0.945))]
    # 600 and 660 s reached 94%; the seed-1 run ended at 93.9% and is said, not averaged
    assert results.repeat_times_line(rows, 0.94) == \
        "Minutes to 94%, repeat runs: `wide` 2 of 3 runs reached it: mean 10.5 min, range 10.0–11.0."
    blocks = results.machine_race(rows)
    assert blocks[0].startswith("| run | final test accuracy |") and "| `wide_seed1` | 93.90% |" in blocks[0]
    assert blocks[1] == "Repeat runs (other seeds): `wide` over 3 runs: mean 94.20%, range 93.90%–94.50%."
    assert blocks[-3].splitlines()[-1] == "| ≥ 94% within 20 min | `wide` | 10.0 min | **yes** |"
    # judged as the issue asks, on the mean of the three runs: 94.2% in 11.0 min on average
    assert blocks[-1].splitlines()[-1] == \
        "| `wide` | 3 | 94.20% (93.90%–94.50%) | 11.0 (10.0–12.0) | no | **yes** |"


def _run(label, epoch_train_s, final_acc, accs, final_s, seed="", changes=""):
    rows = [{"recipe": label, "epoch": str(i + 1), "train_s": t, "elapsed_s": t + 2.0,
             "test_accuracy": a, "source": "measured"}
            for i, (t, a) in enumerate(zip(epoch_train_s, accs))]
    return rows + [{"recipe": label, "epoch": "final", "train_s": epoch_train_s[-1],
                    "elapsed_s": final_s, "test_accuracy": final_acc, "source": "measured",
                    "named_recipe": "fast94", "seed": seed, "changes": changes}]


def test_run_record_reads_the_seed_and_changes_time_to_accuracy_wrote():
    rows = _run("s", [90, 140], 0.9, [0.6, 0.8], 150.0, seed="7",
                changes="optimizer=muon crop_size=24 crop_epochs=2")
    assert results.run_record(rows, "s") == {
        "named_recipe": "fast94", "seed": 7,
        "changes": {"optimizer": "muon", "crop_size": "24", "crop_epochs": "2"}}
    with pytest.raises(ValueError, match="run 'old': no seed and recipe recorded"):
        results.run_record(_run("old", [90], 0.9, [0.6], 100.0), "old")
    with pytest.raises(ValueError, match="run 'gone': no seed"):
        results.run_record(rows, "gone")


def test_cheaper_first_epochs_pairs_each_seed_and_times_the_cheaper_epochs_in_their_own_run():
    # whole runs: 100 s epochs after a 160 s first one; shrunk runs: epochs 1-2 cheaper (epoch 2:
    # 50 s), then whole epochs of 110 s and more (a slower session, slowing down). The twins are
    # found by their recorded seeds, listed in another order than the shrunk runs'
    shrink = "optimizer=muon crop_size=24 crop_epochs=2 crop_by=resize"
    whole = (_run("w_seed1", [160, 260, 360, 460], 0.944, [0.7, 0.8, 0.9, 0.93], 500.0, "1", "optimizer=muon")
             + _run("w", [160, 260, 360, 460], 0.940, [0.7, 0.8, 0.9, 0.93], 500.0, "1337", "optimizer=muon"))
    shrunk = (_run("s", [90, 140, 250, 370], 0.945, [0.6, 0.8, 0.9, 0.93], 420.0, "1337", shrink)
              + _run("s_seed1", [90, 150, 250, 370], 0.941, [0.6, 0.8, 0.9, 0.93], 440.0, "1", shrink))
    out = results.cheaper_first_epochs(whole + shrunk, "w", "s")
    first, second = out["pairs"]
    assert (first["label"], first["twin"], second["twin"]) == ("s", "w", "w_seed1")
    assert first["final"]["test_accuracy"] == 0.945 and first["twin_final"]["test_accuracy"] == 0.940
    assert first["cheaper"] == second["cheaper"] == 2
    # the shrunk epoch 2 against epoch 3, its whole neighbour, not the median of the whole ones
    assert (first["small_s"], first["next_s"], first["whole_s"], first["twin_whole_s"]) == (50, 110, 115, 100)
    assert first["share"] == pytest.approx(50 / 110) and first["saved_min"] == pytest.approx(2 * 60 / 60)
    assert (second["small_s"], second["next_s"]) == (60, 100)
    assert (first["sooner_min"], second["sooner_min"]) == pytest.approx((80 / 60, 60 / 60))
    assert out["share"] == pytest.approx((50 / 110 + 60 / 100) / 2)
    assert out["saved_min"] == pytest.approx((120 + 80) / 2 / 60)
    assert out["sooner_min"] == pytest.approx((80 + 60) / 2 / 60)
    assert out["pace"] == pytest.approx(1.125)  # the median whole epochs: 115 and 110 against 100
    assert out["accuracy"] == pytest.approx(0.943)
    diff, se, verdict = out["difference"]
    assert diff == pytest.approx(0.001) and verdict == "not distinguishable from the seed noise"
    one = _run("s", [90, 250], 0.9, [0.6, 0.8], 300.0, "1337", "crop_size=24 crop_epochs=1")
    with pytest.raises(ValueError, match="'s' trains 1 epoch on smaller pictures"):
        results.cheaper_first_epochs(whole + one, "w", "s")
    part = _run("s", [90, 250], 0.9, [0.6, 0.8], 300.0, "1337", "crop_size=24 crop_epochs=2.5")
    with pytest.raises(ValueError, match="accepted: 2 or more whole epochs"):
        results.cheaper_first_epochs(whole + part, "w", "s")
    with pytest.raises(ValueError, match="no finished run of 's'"):
        results.cheaper_first_epochs(whole, "w", "s")
    with pytest.raises(ValueError, match=r"'s_seed1' \(seed 1\) has no finished twin among the runs "
                                         r"of 'w' \(seeds: 1337\)"):
        results.cheaper_first_epochs(whole[5:] + shrunk, "w", "s")
    # one run a side (a single race): paired and timed, but no spread to judge accuracy by
    alone = results.cheaper_first_epochs(whole[5:] + shrunk[:5], "w", "s")
    assert [p["twin"] for p in alone["pairs"]] == ["w"] and alone["difference"] is None


def test_epoch_trade_weighs_fewer_epochs_against_their_cost():
    # fast94: 4 epochs of 100 s after a 160 s first one; muon_8ep: 3 epochs of 150 s (first 200)
    many = _run("fast94", [160, 260, 360, 460], 0.942, [0.8, 0.9, 0.93, 0.935], 540.0)
    few = _run("muon_8ep", [200, 350, 500], 0.943, [0.85, 0.92, 0.93], 570.0)
    assert results.epoch_seconds(many, "fast94") == 100 and results.epoch_seconds(few, "muon_8ep") == 150
    assert results.epoch_steps(few, "muon_8ep") == [150, 150] and results.epoch_steps(few[:1], "muon_8ep") == []
    assert results.epoch_trade_sentence(many + few) == (
        "`muon_8ep` trained 3 epochs where `fast94` trained 4; each of its epochs took x1.50 the "
        "time of one of `fast94`'s (150 s against 100 s), and it reached 94% at 9.5 min against "
        "9.0: x1.06 later.")
    slow = _run("fast94", [160, 260, 360, 460], 0.938, [0.8, 0.9, 0.93, 0.935], 540.0)
    assert results.epoch_trade_sentence(slow + few).endswith(
        "and only `muon_8ep` reached 94% (at 9.5 min).")
    assert results.epoch_trade_sentence(many) == ""  # the other run is missing
    one = _run("muon_8ep", [200], 0.941, [0.85], 260.0)  # one epoch: no cost per epoch to give
    assert results.epoch_trade_sentence(many + one) == (
        "`muon_8ep` trained 1 epoch where `fast94` trained 4, and it reached 94% at 4.3 min "
        "against 9.0: x2.08 sooner.")
    assert results.epoch_trade_sentence(many + few) in results.machine_race(many + few)


def _timed_run(label, epoch_train_s, eval_s, acc=0.9):
    rows = [{"recipe": label, "epoch": str(i + 1), "train_s": t, "elapsed_s": t, "eval_s": 1.0,
             "test_accuracy": acc, "source": "measured"} for i, t in enumerate(epoch_train_s)]
    return rows + [{"recipe": label, "epoch": "final", "train_s": epoch_train_s[-1], "eval_s": eval_s,
                    "elapsed_s": epoch_train_s[-1] + eval_s, "test_accuracy": acc, "source": "measured"}]


def test_a_schedule_planned_to_the_clock_is_the_most_epochs_that_finish_in_time():
    # fast: first epoch 40 s, then 30 s each, 20 s of final evaluation: k epochs take
    # 40 + 30 (k - 1) + 20 s, so 9 epochs finish at exactly 300 s and 10 at 330
    fast = _timed_run("fast", [40.0, 70.0, 100.0, 130.0], 20.0)
    assert results.predicted_finish(fast, "fast", 1) == 60.0
    assert results.predicted_finish(fast, "fast", 10) == 330.0
    assert results.epochs_that_fit(fast, "fast", 300) == (9, 300.0)
    assert results.epochs_that_fit(fast, "fast", 59) is None  # not even one epoch fits
    assert results.epochs_that_fit(fast, "other", 300) is None  # no such run
    assert results.epochs_that_fit(fast[:-1], "fast", 300) is None  # unfinished: no final evaluation
    # fast94: 100 s per epoch, 50 s evaluation: 11 epochs end at 1,150 s, 12 would at 1,250
    fast94 = _timed_run("fast94", [100.0, 200.0], 50.0)
    assert results.clock_plan_line(fast + fast94) == (
        "The targets' minutes in epochs, worked out from this machine's runs: 5 min hold "
        "**9 epochs** like `fast`'s (predicted 5.0 min: its first epoch 40 s, then 30 s each, and "
        "20 s of final evaluation); 20 min hold **11 epochs** like `fast94`'s (predicted 19.2 min: "
        "its first epoch 100 s, then 100 s each, and 50 s of final evaluation).")
    assert results.clock_plan_line(_timed_run("muon", [100.0, 200.0], 50.0)) == ""
    # the recipe run to the plan: how long its runs really took (80 and 86 s)
    planned = _timed_run("fast_8ep", [40.0, 70.0], 10.0) + _timed_run("fast_8ep_seed1", [40.0, 76.0], 10.0)
    assert results.clock_plan_line(fast + planned).endswith(
        "20 s of final evaluation); `fast_8ep` then took 1.4 min on average over 2 runs (1.3–1.4), "
        "its epochs 33 s each and 10 s of final evaluation.")  # the median of 30 and 36 s
    assert results.clock_plan_line(fast + planned[:3]).endswith(
        "`fast_8ep` then took 1.3 min, its epochs 30 s each and 10 s of final evaluation.")
    short = _timed_run("muon_11ep", [100.0, 200.0], 50.0, acc=0.939)  # 250 s, below 94%
    assert results.clock_runs_sentence(planned + short) == (
        "`fast_8ep` reached 90.00% in 1.4 min (mean of 2 runs): ≥ 90% within 5 min met in 2 runs "
        "(3 asked); `muon_11ep` reached 93.90% in 4.2 min (mean of 1 run): ≥ 94% within 20 min missed.")
    assert results.clock_runs_sentence(fast + fast94) == ""
    picked = results.runs_of(fast94 + planned[3:] + fast + planned[:3], ("fast_8ep", "fast94"))
    assert [(r["recipe"], r["epoch"]) for r in picked] == [  # recipe by recipe, repeats together
        ("fast_8ep_seed1", "1"), ("fast_8ep_seed1", "2"), ("fast_8ep_seed1", "final"),
        ("fast_8ep", "1"), ("fast_8ep", "2"), ("fast_8ep", "final"),
        ("fast94", "1"), ("fast94", "2"), ("fast94", "final")]
    assert results.clock_plan_line(fast94) in results.machine_race(fast94)


def test_targets_judged_on_the_mean_of_a_recipes_runs():
    def final(label, elapsed_s, acc):
        return {"recipe": label, "epoch": "final", "elapsed_s": elapsed_s, "test_accuracy": acc,
                "source": "measured"}
    rows = [final("a", 1100.0, 0.941), final("a_seed1", 1150.0, 0.939), final("a_seed2", 1180.0, 0.943),
            final("b", 250.0, 0.95), final("b_seed1", 260.0, 0.95),
            final("c", 200.0, 0.99),  # one run: no repeats to judge
            final("d", 250.0, 0.901), final("d_seed1", 250.0, 0.8985), final("d_seed2", 250.0, 0.9)]
    lines = results.repeat_targets_table(rows).splitlines()
    assert lines[0] == ("| recipe | runs | mean final test accuracy (range) | mean minutes to the final "
                        "score (range) | ≥ 90% within 5 min | ≥ 94% within 20 min |")
    # a: 94.1% on average, one run below 94%; 19.1 min on average (1,100 to 1,180 s)
    assert lines[2] == "| `a` | 3 | 94.10% (93.90%–94.30%) | 19.1 (18.3–19.7) | no | **yes** |"
    assert lines[3] == ("| `b` | 2 | 95.00% (95.00%–95.00%) | 4.2 (4.2–4.3) | yes in 2 runs (3 asked) "
                        "| yes in 2 runs (3 asked) |")
    assert lines[4] == "| `d` | 3 | 89.98% (89.85%–90.10%) | 4.2 (4.2–4.2) | no | no |"  # mean below 90%
    assert len(lines) == 5
    assert results.repeat_targets_table(rows[5:6]) == ""


def test_fast_recipe_says_what_the_zen4_race_and_the_ablation_seeds_measured():
    """FAST_RECIPE says the recipes as they stood missed both second-round targets on the Zen 4
    (the wider net's 8 epochs closest for 94%), and that the schedules planned to the clock from
    that race met both on the mean of three runs, and only one run each of `fast94` there;
    FAST_RECIPE and
    notebook 07 say three seeds each, each run trained the epochs the plan gives and scored its
    final model with selective TTA; the ablation has three seeds per variant, the third from
    another sweep: true of the committed CSVs, or this fails."""
    import json

    import pandas as pd

    rows = results.read_rows(RESULTS / "time_to_accuracy_zen4.csv")
    first = results.runs_of(rows, ("fast",) + results.EPOCH_TRADE)
    targets = results.targets_table(first, results.SECOND_ROUND_TARGETS).splitlines()[2:]
    assert len(targets) == 2 and all(line.endswith("| no |") for line in targets), targets
    assert "| ≥ 94% within 20 min | `muon_8ep` |" in targets[1]
    planned = results.runs_of(rows, [recipe for _, recipe in results.CLOCK_PLAN.values()])
    table = results.repeat_targets_table(planned).splitlines()[2:]
    assert [line.split(" | ")[:2] for line in table] == [["| `fast_8ep`", "3"], ["| `muon_11ep`", "3"]]
    assert table[0].endswith("| **yes** | no |") and table[1].endswith("| no | **yes** |"), table
    labels = list(dict.fromkeys(r["recipe"] for r in rows))
    for (_, limit), (reference, recipe) in results.CLOCK_PLAN.items():
        epochs, _ = results.epochs_that_fit(rows, reference, limit)
        runs = [label for label in labels if results.recipe_of(label) == recipe]
        assert len(runs) == 3, runs
        for label in runs:  # trained what the plan gives, scored with selective TTA
            assert sum(r["recipe"] == label and r["epoch"] != "final" for r in rows) == epochs
            final = next(r for r in rows if r["recipe"] == label and r["epoch"] == "final")
            assert final["tta"] == "selective (top probability < 0.5)"
    text = _fast_recipe_text()
    assert ("both targets are met on the Zen 4 (the results block's Zen 4 table by each recipe's runs "
            "together; notebook 07, section 6d), where the recipes as they stood missed both (the rows "
            "of `fast`, `fast94` and `muon_8ep` in its runs table; for 94% the wider net's 8 epochs "
            "came closest)") in text
    assert "Each recipe ran three seeds" in text
    assert "`fast_15ep` and the Zen 4 race's `fast94` ran once each" in text
    assert sum(results.recipe_of(label) == "fast94" for label in labels) == 1
    nb = json.loads((ROOT / "notebooks" / "07_fast_recipe.ipynb").read_text())
    prose = " ".join(" ".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown").split())
    assert "Two recipes were then run to that plan, three seeds each" in prose
    runs = pd.read_csv(RESULTS / "fast_ablation_runs.csv")
    assert (runs.groupby("variant")["seed"].nunique() == 3).all()
    assert runs.groupby("seed")["load_avg_end"].first().nunique() == 2  # two sweeps
    assert "The 3-epoch ablation has three seeds per variant; the third ran in a later session" in text


def test_every_variant_of_the_8_epoch_study_has_three_seeds_and_the_prose_says_which_lose():
    """FAST_RECIPE: batch 512 and no lookahead have three seeds each, like every other variant,
    and neither beats Muon alone on average: true of the committed optimizer_study.csv."""
    from statistics import mean

    rows = [r for r in results.read_rows(RESULTS / "optimizer_study.csv")
            if r["model"] == "airbench94_cpu" and r["epochs"] == "8" and r["val_accuracy"]]
    val = {}
    for r in rows:
        val.setdefault(r["variant"], {})[r["seed"]] = float(r["val_accuracy"])
    assert all(len(seeds) >= 3 for seeds in val.values()), {v: len(s) for v, s in val.items()}
    assert {"muon_b512", "muon_nolook"} <= set(val)
    muon = mean(val["muon"].values())
    assert all(mean(val[v].values()) < muon for v in ("muon_b512", "muon_nolook"))
    text = _fast_recipe_text()
    assert ("Batch 512 (`muon_b512`) and no lookahead (`muon_nolook`), first stopped after one seed "
            "each, have three seeds each since a later session, like every other variant: neither "
            "beats Muon alone on average") in text


def test_fast_recipe_says_what_the_avx2_cpu_measured():
    """FAST_RECIPE's "A CPU without AVX-512" paragraph against the Zen 1's committed files: the
    emulated bf16 step's ratio, oneDNN's gain on the float32 step and on the conv peak, a whole
    run's training time with oneDNN off (longer in every repeat), the step over the Eigen
    peak; and the decision wic.backend takes on that CPU follows from them."""

    from wic import backend

    d = RESULTS
    rows = results.read_rows(d / "throughput_peak_zen1.csv")
    h = results.hardware_summary(d / "throughput_peak_zen1.csv")
    assert results.cpu_kind(h["cpu"], h["flags"]) == "AMD EPYC Zen 1"
    assert "avx512f" not in h["flags"] and h["default"].endswith("(oneDNN ops off)")
    emulated = next(float(r["value"]) for r in rows if r["what"] == "train airbench94_cpu b64"
                    and r["setting"] == "bf16 / fp32" and r["unit"] == "ratio")
    onednn = next(ratio for what, dt, setting, _, ratio in h["variants"]
                  if what.startswith("airbench94_cpu ") and dt == "fp32"
                  and setting == "TF_ENABLE_ONEDNN_OPTS=1")
    peak_on = next(float(r["value"]) for r in rows if r["what"].startswith("peak conv_fwd")
                   and r["dtype"] == "float32" and r["unit"] == "GFLOP/s best"
                   and r["setting"].startswith("TF_ENABLE_ONEDNN_OPTS=1"))
    w = results.whole_run(d / "whole_run_zen1.csv")
    text = _fast_recipe_text()
    assert f"`airbench94_cpu`'s bf16 step ran at x{emulated:.2f} the float32 one" in text
    assert f"`airbench94_cpu` ran **x{onednn:.2f}** as fast as the run's baseline" in text
    assert (f"peak rose from {h['conv_peak']['fp32']:.0f} to {peak_on:.0f} GFLOP/s") in text
    assert f"with oneDNN's ops off, training took x{w['gain']['onednn-off']:.2f} the time" in text
    assert min(w["ratios"]["onednn-off"]) > 1  # longer in every repeat
    assert all(share > 1 for m, dt, _, _, share in h["steps"] if dt == "fp32"
               and m == "airbench94_cpu")  # "over 100%" of the Eigen peak
    # the measurements behind the decision: oneDNN faster in a step and in a whole run
    assert onednn > 1.2 and w["gain"]["onednn-off"] > 1
    assert backend.onednn_setting(h["flags"], {}) == "1"
    # the bf16 forward peak "through float32 matrix products", the backward passes "crawl"
    bf16 = {op.split()[0]: (gf, kernel) for op, dt, gf, kernel in h["peaks"] if dt == "bf16"}
    assert "sgemm" in bf16["conv_fwd"][1] and "[f32]" in bf16["conv_fwd"][1]
    for bwd in ("conv_bwd_input", "conv_bwd_filter"):
        assert "no oneDNN primitive" in bf16[bwd][1] and bf16[bwd][0] < bf16["conv_fwd"][0] / 10
    # "the Zen 4, Zen 5 and Xeon files show it on there"
    for name in ("zen4", "zen5", "xeon_amx"):
        other = results.hardware_summary(d / f"throughput_peak_{name}.csv")
        assert other["default"].endswith("(oneDNN ops on)"), name


def test_fast_recipe_quotes_what_the_held_whitening_bias_saves_per_step():
    """The per-step saving of the held bias that FAST_RECIPE quotes, and the projection it draws
    from it, are those of the two committed step profiles (``on`` against ``held``)."""

    d = RESULTS
    text = _fast_recipe_text()
    narrow, wide = (results.step_profile(d / f"step_profile_zen1{n}_held.csv") for n in ("", "_wide"))
    assert (narrow["model"], wide["model"]) == ("airbench94_cpu", "airbench94_cpu_wide")

    def step(p):
        on, held = p["wall_ms"]["on"], p["wall_ms"]["held"]
        return f"{held:,.0f} ms against {on:,.0f} ms (x{on / held:.2f})"

    def fell(p):
        ms = dict(p["kinds"])["convolution backward (input)"]
        return ms["on"][0] - ms["held"][0]

    speedup = wide["wall_ms"]["on"] / wide["wall_ms"]["held"]
    for words in (f"the usual net's step took {step(narrow)}, and the wider net's {step(wide)}",
                  f"backward-input time fell by {fell(narrow):.0f} and {fell(wide):.0f} ms",
                  f"would train about x{8 / (3 + 5 / speedup):.2f} faster (8 / (3 + 5 / "
                  f"{speedup:.2f}))"):
        assert words in text, words
    assert narrow["processes"] == wide["processes"] == 3 and "the median of 3 fresh" in text
    study = [r for r in results.read_rows(d / "optimizer_study.csv") if r["model"] == "airbench94_cpu"
             and str(r["epochs"]) == "8" and r["val_accuracy"]]
    val = {v: [float(r["val_accuracy"]) for r in study if r["variant"] == v] for v in ("muon_wb3", "muon")}
    assert [len(v) for v in val.values()] == [3, 3] and sum(val["muon_wb3"]) >= sum(val["muon"])
    assert (f"(`muon_wb3` {sum(val['muon_wb3']) / 3:.2%} against `muon` {sum(val['muon']) / 3:.2%}, "
            f"three seeds each, the variants table)") in text
    assert speedup > 1 and fell(narrow) > 0 and fell(wide) > 0


def _race_to_78(name: str) -> tuple[list[dict], dict]:
    """A committed race CSV's rows, and each run's seconds to 78% (None: not reached)."""
    from pathlib import Path

    rows = results.read_rows(Path(__file__).resolve().parents[1] / "benchmarks" / "results" / name)
    return rows, {label: results.time_to_threshold(rows, label, 0.78)
                  for label in dict.fromkeys(r["recipe"] for r in rows)}


def test_fast_recipe_says_which_machine_kinds_race_to_78_percent_20x_sooner():
    """FAST_RECIPE's account of the 78% races — 20x sooner on the Zen 5 (the first race), by no
    run in the Zen 1's first race and by every narrow-net run in its second and third — and the
    figures it quotes of the held whitening bias and of the three Zen 1 races: true of the
    committed CSVs, or this fails."""

    d = RESULTS

    def best_ratio(times):
        return max(times["seed"] / t for label, t in times.items() if label != "seed" and t)

    def first_epoch(rows, label):
        return next(float(r["test_accuracy"]) for r in rows
                    if r["recipe"] == label and str(r["epoch"]) == "1")

    _, first = _race_to_78("time_to_78.csv")
    _, earlier = _race_to_78("time_to_78_zen1_first.csv")
    rows, zen1 = _race_to_78("time_to_78_zen1_second.csv")
    third_rows, third = _race_to_78("time_to_78_zen1_third.csv")
    assert best_ratio(first) >= 20 > best_ratio(earlier)
    for times, runs in ((zen1, 3), (third, 2)):
        narrow = [label for label in times if label.startswith("muon_1ep_b512_xs")]
        assert len(narrow) == runs and all(times["seed"] / times[label] >= 20 for label in narrow)
        assert best_ratio(times) == times["seed"] / times["muon_1ep_b512_xs_wb0"]
    xs, held = zen1["muon_1ep_b512_xs"], zen1["muon_1ep_b512_xs_wb0"]
    xs3, held3 = third["muon_1ep_b512_xs"], third["muon_1ep_b512_xs_wb0"]
    same = [first_epoch(rows, label) == first_epoch(third_rows, label)
            for label in ("muon_1ep_b512_xs", "muon_1ep_b512_xs_wb0")]
    assert same == [True, True]  # what the text says: the same accuracies, another clock
    text = _fast_recipe_text()
    assert ("On the AMD EPYC Zen 1 it has run three times (the results block's Zen 1 race tables): "
            "in the first no run was 20x sooner than the seed's recipe, in the second and the third "
            "every run of the narrow net was, the one with the whitening bias held from the first "
            "step the most") in text
    quoted = (
        f"reached 78% in {held:.0f} s against {xs:.0f} s (x{xs / held:.2f}), at "
        f"{first_epoch(rows, 'muon_1ep_b512_xs_wb0'):.2%} test accuracy after its epoch against "
        f"{first_epoch(rows, 'muon_1ep_b512_xs'):.2%}",
        f"took {zen1['seed']:,.0f} s to 78% in the second against {earlier['seed']:,.0f} s in the "
        f"first, while the unchanged narrow run took {xs:.0f} s against "
        f"{earlier['muon_1ep_b512_xs']:.0f} s",
        f"went from {earlier['seed'] / earlier['muon_1ep_b512_xs']:.1f}x to "
        f"{zen1['seed'] / xs:.1f}x with nothing changed",
        f"the held bias's {zen1['seed'] / held:.1f}x is the margin",
        f"the seed's recipe took {third['seed']:,.0f} s to 78%, the narrow run {xs3:.0f} s "
        f"({third['seed'] / xs3:.1f}x) and the held one {held3:.0f} s ({third['seed'] / held3:.1f}x; "
        f"x{xs3 / held3:.2f} over the narrow run in the same invocation)",
        f"repeated the second race's exactly ({first_epoch(third_rows, 'muon_1ep_b512_xs'):.2%} and "
        f"{first_epoch(third_rows, 'muon_1ep_b512_xs_wb0'):.2%})",
        f"the unchanged narrow run was {earlier['seed'] / earlier['muon_1ep_b512_xs']:.1f}x, "
        f"{zen1['seed'] / xs:.1f}x and {third['seed'] / xs3:.1f}x sooner than the seed's recipe, "
        f"and the held one {zen1['seed'] / held:.1f}x and {third['seed'] / held3:.1f}x in the two",
        f"reached 78% x{xs / held:.2f} and x{xs3 / held3:.2f} sooner with it in its two races")
    study = [r for r in results.read_rows(d / "optimizer_study.csv")
             if r["model"] == "airbench_cpu_xs" and str(r["epochs"]) == "1"]
    val = {v: {r["seed"]: float(r["val_accuracy"]) for r in study if r["variant"] == v}
           for v in ("muon_b512", "muon_b512_wb0")}
    seeds = sorted(val["muon_b512"])
    assert len(seeds) == 3 and sorted(val["muon_b512_wb0"]) == seeds
    points = 100 * (sum(val["muon_b512"].values()) - sum(val["muon_b512_wb0"].values())) / 3
    lower = sum(val["muon_b512_wb0"][s] < val["muon_b512"][s] for s in seeds)
    quoted += (f"held-out tenth shows the same trade, chosen there and not on the test set (the "
               f"variants table's one-epoch `airbench_cpu_xs` rows, three seeds each): holding "
               f"the bias from the first step lowered the mean validation accuracy by "
               f"{points:.2f} points, lower in {['no', 'one', 'two', 'all three'][lower]} seeds of "
               f"three",)
    for words in quoted:
        assert words in text, words


def test_fast_recipe_and_notebook_07_quote_what_smaller_crops_first_buy():
    """FAST_RECIPE's "Smaller crops first" and notebook 07's reading of it: every figure is the
    committed study's, the crops lose at equal epochs in both budgets (beyond twice the
    standard error), gain less than the seeds' spread at equal time, and miss 78% in one epoch."""
    from statistics import stdev

    import nbformat

    text = _fast_recipe_text()
    study = RESULTS / "optimizer_study.csv"
    rows = [r for e in (1, 2, 3) for r in results.epoch_study_rows(study, "airbench_cpu_xs", e)]
    out = results.equal_time(rows, baseline="muon_b512", variant="muon_b512_c24h")
    one, three = out["budgets"]
    assert (one["epochs"], three["epochs"], one["runs"], three["runs"]) == (1, 3, 3, 3)
    s0, a0, n0 = three["same_epochs"]
    secs, acc, at = three["seconds"], three["accuracy"], three["at_same_time"]
    sd = stdev(float(r["val_accuracy"]) for r in rows
               if r["variant"] == "muon_b512" and int(r["epochs"]) == 3)
    q3 = results.equal_time(rows, baseline="muon_b512", variant="muon_b512_c24q3")["budgets"][0]
    for words in (f"reached {acc:.2%} in {secs:,.0f} s of training against {a0:.2%} in {s0:,.0f} s",
                  f"x{s0 / secs:.2f} sooner, {(a0 - acc) * 100:.2f} points lower",
                  f"(the seeds' spread is {sd * 100:.2f} points)",
                  f"put whole images at {at:.2%} at those {secs:,.0f} s",
                  f"{(acc - at) * 100:.2f} points below the crops, inside the seeds' spread",
                  f"({one['accuracy']:.2%} with the first half cropped, against "
                  f"{one['same_epochs'][1]:.2%} whole; {q3['accuracy']:.2%} with three quarters)",
                  f"x{s0 / secs:.2f} sooner over three epochs of the narrow net"):
        assert words in text, words
    assert 0 < acc - at < sd and acc - at < 0.005  # "within a few tenths of a point"
    assert one["accuracy"] < 0.78 and one["at_same_time"] is None
    sd1 = stdev(float(r["val_accuracy"]) for r in rows
                if r["variant"] == "muon_b512" and int(r["epochs"]) == 1)
    assert a0 - acc > sd and one["same_epochs"][1] - one["accuracy"] > sd1  # beyond the spread
    for e in (1, 3):
        summary = results.epoch_study_summary([r for r in rows if int(r["epochs"]) == e],
                                              baseline="muon_b512")
        assert any(line.startswith("- muon_b512_c24h (3 seeds): -") and "a real loss" in line
                   for line in summary.splitlines()), summary
    nb = nbformat.read(ROOT / "notebooks" / "07_fast_recipe.ipynb", as_version=4)
    said = " ".join(" ".join(c.source.split()) for c in nb.cells if c.cell_type == "markdown")
    assert ("At equal epochs the crops lose accuracy in both budgets, by more than the seeds' "
            "spread") in said
    assert "Between two and three epochs they would, within a few tenths of a point." in said


def test_fast_recipe_and_notebook_07_quote_what_shrunk_pictures_first_buy():
    """FAST_RECIPE's "Shrunk pictures first" and notebook 07's reading of it: every figure is the
    committed study's, and every claim in the prose holds on it — within the spread of whole
    images at equal epochs, a real gain over windows in one epoch, one variant above and one below
    the equal-time line, and that line below the curve (the gain per second falls)."""
    from statistics import stdev

    import nbformat

    text = _fast_recipe_text()
    rows = [r for e in (1, 2, 3, 4) for r in results.epoch_study_rows(
        RESULTS / "optimizer_study.csv", "airbench_cpu_xs", e)]
    half = results.equal_time(rows, baseline="muon_b512", variant="muon_b512_r24h")
    one, three = half["budgets"]
    [most] = results.equal_time(rows, baseline="muon_b512", variant="muon_b512_r24_3of4")["budgets"]
    [held] = results.equal_time(rows, baseline="muon_b512", variant="muon_b512_wb0_r24h")["budgets"]
    assert (one["epochs"], three["epochs"], most["epochs"]) == (1, 3, 4)
    assert {b["runs"] for b in (one, three, most, held)} == {3}

    def spread(variant, epochs):
        return stdev(float(r["val_accuracy"]) for r in rows
                     if r["variant"] == variant and int(r["epochs"]) == epochs)

    s1, a1, _ = one["same_epochs"]
    s3, a3, _ = three["same_epochs"]
    windows = next(b for b in results.equal_time(rows, baseline="muon_b512",
                                                 variant="muon_b512_c24h")["budgets"] if b["epochs"] == 1)
    summary = results.epoch_study_summary([r for r in rows if int(r["epochs"]) == 1], baseline="muon_b512")
    [line] = [x for x in summary.splitlines() if x.startswith("- muon_b512_r24h (3 seeds)")]
    gain = line.split("against muon_b512_c24h: ")[1].split(" points")[0]
    for words in (f"reached {one['accuracy']:.2%} in {one['seconds']:,.0f} s of training against "
                  f"{a1:.2%} whole in {s1:,.0f} s: {(a1 - one['accuracy']) * 100:.2f} points lower",
                  f"at x{s1 / one['seconds']:.2f} the speed, and well above the windows ({gain} points, "
                  "a real gain)",
                  f"Over three epochs it reached {three['accuracy']:.2%} in {three['seconds']:,.0f} s, "
                  f"{(a3 - three['accuracy']) * 100:.2f} points under whole images",
                  f"half of three epochs shrunk lies {(three['accuracy'] - three['at_same_time']) * 100:.2f} "
                  "points above the line",
                  f"(`muon_b512_r24_3of4`, {most['accuracy']:.2%} in {most['seconds']:,.0f} s) lies "
                  f"{(most['at_same_time'] - most['accuracy']) * 100:.2f} points below it",
                  f"it reached {held['accuracy']:.2%} in {held['seconds']:,.0f} s",
                  f"in one epoch within the seeds' spread of whole images at x{s1 / one['seconds']:.2f} the speed"):
        assert words in text, words
    # the claims: inside the spread at equal epochs, a real gain over windows, mixed at equal time
    assert 0 < a1 - one["accuracy"] < spread("muon_b512", 1) and "a real gain" in line
    assert windows["accuracy"] < one["accuracy"]
    summary3 = results.epoch_study_summary([r for r in rows if int(r["epochs"]) == 3], baseline="muon_b512")
    [line3] = [x for x in summary3.splitlines() if x.startswith("- muon_b512_r24h (3 seeds)")]
    se3 = line3.split(" ± ")[1].split(" points")[0]
    assert f"too little to tell from the seeds' noise (under twice the difference's standard error, ±{se3})" \
        in text and line3.startswith("- muon_b512_r24h (3 seeds): -") and "not distinguishable" in line3
    assert three["accuracy"] > three["at_same_time"] and most["accuracy"] < most["at_same_time"]
    [held_line] = [x for x in summary.splitlines() if x.startswith("- muon_b512_wb0_r24h (3 seeds): -")]
    assert "not distinguishable" in held_line and held["accuracy"] > 0.78  # a race candidate
    assert "on held-out images they lost too little accuracy to tell from the seeds' noise" in text
    assert one["at_same_time"] is None and held["at_same_time"] is None  # shorter than any whole run
    # "the whole images gained less per second from two to three epochs than from one to two"
    (t1, c1), (t2, c2), (t3, c3) = (half["points"][("muon_b512", e)][:2] for e in (1, 2, 3))
    assert (c3 - c2) / (t3 - t2) < (c2 - c1) / (t2 - t1)
    nb = nbformat.read(ROOT / "notebooks" / "07_fast_recipe.ipynb", as_version=4)
    said = " ".join(" ".join(c.source.split()) for c in nb.cells if c.cell_type == "markdown")
    race = results.read_rows(RESULTS / "shrunk_race_zen1.csv")
    third = results.read_rows(RESULTS / "time_to_78_zen1_third.csv")
    t = {label: results.time_to_threshold(race, label, 0.78) for label in
         ("muon_1ep_b512_xs_wb0", "muon_1ep_b512_xs_r24h", "muon_1ep_b512_xs_wb0_r24h")}
    assert "seed" not in {r["recipe"] for r in race}  # "did not run in this invocation"
    best = t["muon_1ep_b512_xs_wb0_r24h"]
    assert best < t["muon_1ep_b512_xs_r24h"] < t["muon_1ep_b512_xs_wb0"]  # the notebook's order
    after = next(float(r["test_accuracy"]) for r in race
                 if r["recipe"] == "muon_1ep_b512_xs_wb0_r24h" and str(r["epoch"]) == "1")
    seed_then = results.time_to_threshold(third, "seed", 0.78)
    held_then = results.time_to_threshold(third, "muon_1ep_b512_xs_wb0", 0.78)
    for words in (f"The held bias alone reached 78% in {t['muon_1ep_b512_xs_wb0']:.0f} s "
                  f"({held_then:.0f} s in the third Zen 1 race",
                  f"shrinking the first half in {t['muon_1ep_b512_xs_r24h']:.0f} s, and both together "
                  f"in {best:.0f} s: x{t['muon_1ep_b512_xs_wb0'] / best:.2f} sooner than the held bias "
                  f"alone, at {after:.2%} after its epoch",
                  f"Against its {seed_then:,.0f} s in the third race, {best:.0f} s would be about "
                  f"{seed_then / best:.0f}x sooner: a projection across sessions, not a race"):
        assert words in text, words
    assert abs(t["muon_1ep_b512_xs_wb0"] / held_then - 1) < 0.05  # "the two sessions ran at one speed"
    assert (f"The held-bias run of the race below reached 78% in {t['muon_1ep_b512_xs_wb0']:.0f} s, "
            f"against {held_then:.0f} s in its own earlier session: this session was not the faster "
            "one") in text and t["muon_1ep_b512_xs_wb0"] >= held_then
    for words in ("Shrinking loses much less than cutting.",
                  "half of three epochs shrunk lies above the line between the whole images' budgets, "
                  "three of four epochs shrunk lies below it",
                  "So shrinking does not lift the curve either, and the recipes keep whole images.",
                  "the two together reached 78% first, shrinking alone second, the held bias alone last"):
        assert words in said, words


def test_fast_recipe_quotes_the_zen3_race_and_its_runs_repeat_the_zen1_races_accuracies():
    """FAST_RECIPE's "The race on a Zen 3": its times and ratios are the committed race's, every
    fast run is 20x sooner than the seed's recipe there, the held-and-shrunk one the most, and
    each run's test accuracy after every epoch equals the Zen 1 races' (what the text claims)."""

    text = _fast_recipe_text()

    def race(name):  # the seconds to 78%, and each run's test accuracy after each epoch
        rows, times = _race_to_78(name)
        return rows, times, {(r["recipe"], str(r["epoch"])): float(r["test_accuracy"]) for r in rows
                             if str(r["epoch"]) != "final"}

    rows3, zen3, acc3 = race("time_to_78_zen3.csv")
    _, third, acc1 = race("time_to_78_zen1_third.csv")
    _, shrunk, acc_shrunk = race("shrunk_race_zen1.csv")
    assert results.cpu_of(rows3).startswith("AMD EPYC Zen 3 (")
    seed, xs, held, both = (zen3[k] for k in ("seed", "muon_1ep_b512_xs", "muon_1ep_b512_xs_wb0",
                                              "muon_1ep_b512_xs_wb0_r24h"))
    assert min(seed / t for t in (xs, held, both)) >= 20 and both < held < xs
    # the same steps on both CPUs: every epoch the two races share, and the shrunk race's run
    shared = set(acc3) & set(acc1)
    assert len(shared) == 16 and all(acc3[k] == acc1[k] for k in shared)
    key = ("muon_1ep_b512_xs_wb0_r24h", "1")
    assert acc3[key] == acc_shrunk[key] and set(acc3) - shared == {key}
    last = max(int(e) for r, e in acc3 if r == "seed")
    for words in (
            f"The seed's recipe took {seed:,.0f} s to 78%, the narrow run {xs:.0f} s ({seed / xs:.1f}x), "
            f"the held one {held:.0f} s ({seed / held:.1f}x), and the held and shrunk one {both:.0f} s "
            f"(**{seed / both:.1f}x**; x{held / both:.2f} sooner than the held bias alone)",
            f"the seed's recipe at {acc3[('seed', '1')]:.2%} after its first epoch and "
            f"{acc3[('seed', str(last))]:.2%} after its fourteenth, the three fast runs at "
            f"{acc3[('muon_1ep_b512_xs', '1')]:.2%}, {acc3[('muon_1ep_b512_xs_wb0', '1')]:.2%} and "
            f"{acc3[key]:.2%}",
            f"the seed's recipe ran {third['seed'] / seed:.1f}x faster than in the third Zen 1 race, the "
            f"narrow run {third['muon_1ep_b512_xs'] / xs:.1f}x",
            f"(x{xs / held:.2f} over the narrow run, against "
            f"x{third['muon_1ep_b512_xs'] / third['muon_1ep_b512_xs_wb0']:.2f} in the third Zen 1 race), "
            f"the shrunk pictures more (x{held / both:.2f}, against "
            f"x{shrunk['muon_1ep_b512_xs_wb0'] / shrunk['muon_1ep_b512_xs_wb0_r24h']:.2f} in the Zen 1's "
            "shrunk race)",
            f"On the Zen 3 it ran once, and every fast run was 20x sooner, the held one with pictures "
            f"shrunk first {seed / both:.1f}x"):
        assert words in text, words
    assert last == 14
    assert xs / held < third["muon_1ep_b512_xs"] / third["muon_1ep_b512_xs_wb0"]  # "bought less"
    assert 0 < xs - held < 2 and f"x{xs / held:.2f} is under two seconds, so read it as a direction" in text
    assert held / both > shrunk["muon_1ep_b512_xs_wb0"] / shrunk["muon_1ep_b512_xs_wb0_r24h"]
    import nbformat

    nb = nbformat.read(ROOT / "notebooks" / "07_fast_recipe.ipynb", as_version=4)
    said = " ".join(" ".join(c.source.split()) for c in nb.cells if c.cell_type == "markdown")
    for words in ("Every fast run cleared 20x; held bias and shrunk pictures together cleared it by "
                  "the widest margin.",
                  "every epoch ended at the same test accuracy as on the Zen 1",
                  "And not by one factor for every recipe"):
        assert words in said, words
    assert abs(third["seed"] / seed - third["muon_1ep_b512_xs"] / xs) > 0.1  # "not by one factor"


def test_fast_recipe_quotes_the_zen3_hardware_tables_and_the_held_step_there():
    """FAST_RECIPE's "A second CPU without AVX-512" and the held step of "The race on a Zen 3":
    the committed Zen 3 files' figures, and the claims — half the peak, fast kernels inside the
    repeat noise, the held step cheaper per step than the race's run saved."""
    d, text = RESULTS, _fast_recipe_text()
    h = results.hardware_summary(d / "throughput_peak_zen3.csv")
    assert results.cpu_kind(h["cpu"], h["flags"]) == "AMD EPYC Zen 3"
    step = {m: (gf, frac) for m, dt, _ips, gf, frac in h["steps"] if dt == "fp32"}
    usual, wide = step["airbench94_cpu"], step["airbench94_cpu_wide"]
    assert min(usual[1], wide[1]) >= 0.5  # "half the peak"
    passes = h["pass_peak"]["fp32"] / h["conv_peak"]["fp32"]
    assert abs(passes - 1) < 0.01  # "within 1% of it"
    onednn = next(r for w, dt, setting, _ips, r in h["variants"]
                  if dt == "fp32" and setting == "TF_ENABLE_ONEDNN_OPTS=1")
    fast = [r for *_, r in h["fast_kernels"]]
    same = [r for _w, dt, *_, r in h["xla_gelu"] if dt == "fp32"]
    assert len(fast) == len(same) == 3
    noise, gain = max(abs(r - 1) for r in same), max(abs(r - 1) for r in fast)
    assert 0.75 * gain <= noise < gain  # "differ by nearly as much"
    profile = results.step_profile(d / "step_profile_zen3.csv")["wall_ms"]
    held = results.step_profile(d / "step_profile_zen3_xs_held.csv")
    race = results.read_rows(d / "time_to_78_zen3.csv")
    trained = {r["recipe"]: r["train_s"] for r in race if r["epoch"] == "final"}
    sooner = trained["muon_1ep_b512_xs"] - trained["muon_1ep_b512_xs_wb0"]
    steps = 50_000 // 512
    per_epoch = (held["wall_ms"]["on"] - held["wall_ms"]["held"]) * steps / 1000
    assert per_epoch > sooner > 0 and held["processes"] == 3
    assert abs(profile["on"] / profile["off"] - 1) < 0.01  # "found no gain"
    whole, whole1 = (results.whole_run(d / f"whole_run_{k}.csv") for k in ("zen3", "zen1"))
    off = whole["ratios"]["onednn-off"]
    assert whole["gain"]["onednn-off"] > whole1["gain"]["onednn-off"] > 1  # "more ..., not less"
    assert whole["repeats"] == 2 and whole["command"] == whole1["command"]
    assert all(whole["per"][s]["accuracy"] == whole1["per"][s]["accuracy"] for s in whole["settings"])
    for words in (
            f"The usual net's step at batch 1024 ran at {usual[0]:.0f} GFLOP/s, {usual[1]:.0%} of the "
            f"forward convolution's peak ({h['conv_peak']['fp32']:.0f} GFLOP/s), the wider net's at "
            f"{wide[1]:.0%}",
            f"the step ran x{onednn:.2f} the run's mean baseline",
            "x" + ", x".join(f"{r:.2f}" for r in fast[:2]) + f" and x{fast[2]:.2f} for the three nets",
            f"(x{min(same):.2f} to x{max(same):.2f})",
            f"the usual net's step took {profile['on']:,.0f} ms with them and {profile['off']:,.0f} ms "
            "without",
            f"the narrow net's step took {held['wall_ms']['held']:.0f} ms held against "
            f"{held['wall_ms']['on']:.0f} ms (x{held['wall_ms']['on'] / held['wall_ms']['held']:.2f}), "
            f"about {per_epoch:.1f} s over the epoch's {steps} steps, yet the race's held run trained "
            f"only {sooner:.1f} s sooner",
            f"training took **x{whole['gain']['onednn-off']:.2f}** the time (x{min(off):.2f} and "
            f"x{max(off):.2f}), against x{whole1['gain']['onednn-off']:.2f} on the Zen 1",
            f"({whole['per']['on']['accuracy'][0]:.2%} on, {whole['per']['onednn-off']['accuracy'][0]:.2%} off)"):
        assert words in text, words


def test_fast_recipe_quotes_the_zen3_in_the_state_wic_trains_in_and_the_held_whole_runs():
    """FAST_RECIPE's "In the state wic trains in" (the Zen 3's second throughput run, oneDNN on)
    and the held whole runs after "The race on a Zen 3": the files' figures, and the claims — the
    step rose more than the peak, half the peak held by a wider margin, the three passes' peak
    beaten by the wider net, the held runs shorter in every repeat by at least the profiled
    steps' saving."""
    d, text = RESULTS, _fast_recipe_text()
    off, on = (results.hardware_summary(d / f"throughput_peak_{k}.csv") for k in ("zen3", "zen3_onednn"))
    assert not off["onednn_set"] and on["onednn_set"] and on["default"].startswith("TF_ENABLE_ONEDNN_OPTS=1 ")
    assert results.cpu_kind(on["cpu"], on["flags"]) == "AMD EPYC Zen 3"
    step_off, step_on = ({m: (ips, gf, frac) for m, dt, ips, gf, frac in h["steps"] if dt == "fp32"}
                         for h in (off, on))
    usual, wide = step_on["airbench94_cpu"], step_on["airbench94_cpu_wide"]
    speedup = usual[0] / step_off["airbench94_cpu"][0]
    peak_rise = on["conv_peak"]["fp32"] / off["conv_peak"]["fp32"]
    assert speedup > peak_rise > 1  # "The step rose more"
    assert usual[2] > step_off["airbench94_cpu"][2] >= 0.5 and wide[2] > step_off["airbench94_cpu_wide"][2]
    assert wide[1] > on["pass_peak"]["fp32"]  # "the wider net's step beats it"
    kernels = {op.split()[0]: (gf, kernel) for op, dt, gf, kernel in on["peaks"] if dt == "fp32"}
    whole = results.whole_run(d / "whole_run_zen3.csv")
    held = results.whole_run(d / "whole_run_zen3_held.csv")
    profile = results.step_profile(d / "step_profile_zen3_xs_held.csv")["wall_ms"]
    saved_by_steps = (profile["on"] - profile["held"]) * (50_000 // 512) / 1000
    per = {s: held["per"][s] for s in held["settings"]}
    # each setting's times are in repeat order, so zipping pairs the runs of one repeat
    by_repeat = list(zip(*(per[s]["train_s"] for s in ("on", "held"))))
    assert held["repeats"] == 3 and max(held["ratios"]["held"]) < 1  # "shorter in every repeat"
    assert min(on_s - held_s for on_s, held_s in by_repeat) > saved_by_steps  # "at least ..., here more"
    assert "--seed 0 --set optimizer=muon --set batch_size=512`" in held["command"]  # "seed 0"
    for words in (
            f"the forward convolution's peak rose to {on['conv_peak']['fp32']:.0f} GFLOP/s",
            "(`brg_conv_fwd:avx2`)",
            f"ran at {usual[0]:.0f} images/s against {step_off['airbench94_cpu'][0]:.0f} (x{speedup:.2f}, "
            f"about the x{whole['gain']['onednn-off']:.2f} the whole runs lost with the ops off), "
            f"{usual[1]:.0f} GFLOP/s, **{usual[2]:.0%}** of that peak; the wider net's at **{wide[2]:.0%}**",
            f"(`jit:avx2`) peaked at only {kernels['conv_bwd_filter'][0]:.0f} GFLOP/s",
            f"combined peak ({on['pass_peak']['fp32']:.0f})",
            f"training took {held['median']['held']['train_s']:.1f} s against "
            f"{held['median']['on']['train_s']:.1f} s (the medians)",
            f"(x{min(held['ratios']['held']):.2f} to x{max(held['ratios']['held']):.2f} of the time)",
            f"ranged from {min(per['on']['train_s']):.1f} to {max(per['on']['train_s']):.1f} s",
            f"profiled steps' {saved_by_steps:.1f} s",
            f"was {per['held']['accuracy'][0]:.2%} held against {per['on']['accuracy'][0]:.2%}"):
        assert words in text, words
    assert "brg_conv_fwd:avx2" in kernels["conv_fwd"][1] and "jit:avx2 backward_weights" in kernels["conv_bwd_filter"][1]


def test_fast_recipe_quotes_the_wider_nets_8_epochs_in_float32_on_the_zen3():
    """FAST_RECIPE's "The 8 epochs in float32": the Zen 3's float32 runs and the Zen 4's bfloat16
    runs of the same recipe with the same seeds, and the claims — another path from the first
    epoch, each side's finals and mean, their difference against the seeds' spread, the verdict
    on 94%, no minute compared across machines."""
    from statistics import mean

    from wic.evaluation.metrics import time_to_threshold

    text = _fast_recipe_text()
    zen3, zen4 = (results.read_rows(RESULTS / f"time_to_accuracy_{k}.csv") for k in ("zen3", "zen4"))
    assert "family 25 model 1" in results.cpu_of(zen3) and "AVX2: no bf16 hardware" in results.cpu_of(zen3)

    def acc(rows, label, epoch):
        return next(r["test_accuracy"] for r in rows if r["recipe"] == label and r["epoch"] == epoch)

    f32, bf16 = ({f["recipe"]: f["test_accuracy"] for f in results.group_finals(rows, "muon_8ep")}
                 for rows in (zen3, zen4))
    assert list(f32) == list(bf16) == ["muon_8ep", "muon_8ep_seed1", "muon_8ep_seed2"]  # the same seeds
    diff, se, verdict = results.seed_difference(list(f32.values()), list(bf16.values()))
    assert acc(zen3, "muon_8ep", "1") != acc(zen4, "muon_8ep", "1")  # "another path"
    assert mean(f32.values()) >= 0.94 and not verdict.startswith("a real")  # "reaches 94%"; "none larger"
    first, others = f32["muon_8ep"], sorted(a for k, a in f32.items() if k != "muon_8ep")
    assert others[0] < first < 0.94 < others[1]  # "just short ... one lower, the third above"
    minutes = [f["elapsed_s"] / 60 for f in results.group_finals(zen3, "muon_8ep")]
    to90 = [time_to_threshold(zen3, label, 0.90) / 60 for label in f32]

    def listed(values):
        return ", ".join(f"{a:.2%}" for a in values[:-1]) + f" and {values[-1]:.2%}"

    for words in (
            f"({acc(zen3, 'muon_8ep', '1'):.2%} against {acc(zen4, 'muon_8ep', '1'):.2%} on the Zen 4)",
            f"the three float32 runs ended at {listed(list(f32.values()))}, mean **{mean(f32.values()):.2%}**",
            f"The Zen 4's bfloat16 runs with the same seeds ended at {listed(list(bf16.values()))}, mean "
            f"{mean(bf16.values()):.2%}",
            f"{100 * diff:+.2f} ± {100 * se:.2f} points, {verdict}",
            f"The first float32 run's {first:.2%}, just short of 94%, was one seed's draw: another seed "
            f"ended lower ({others[0]:.2%}), the third well above ({others[1]:.2%})",
            f"(mean {mean(minutes):.1f} to the final score, {min(minutes):.1f}–{max(minutes):.1f}; "
            f"90% after {mean(to90):.1f})"):
        assert words in text, words


def test_fast_recipe_quotes_the_8_epochs_with_their_first_quarter_shrunk():
    """FAST_RECIPE's "Shrunk pictures first, on the 8 epochs": the Zen 3's runs with the first
    quarter on shrunk pictures against the whole-image runs with the same seeds — each shrunk
    epoch's cost against its whole neighbour, the minutes that saves, the sessions' paces, the
    finals and the verdict."""
    paragraph = _fast_recipe_text().split("**Shrunk pictures first, on the 8 epochs.**")[1].split("\n\n")[0]
    text = " ".join(paragraph.split())
    rows = results.read_rows(RESULTS / "time_to_accuracy_zen3.csv")
    trade = results.cheaper_first_epochs(rows, "muon_8ep", "muon_8ep_r24q")
    pairs = trade["pairs"]
    # "with the seeds of the three whole-image runs (1337, 1 and 2)": the twins, by recorded seed
    assert [(p["twin"], int(p["twin_final"]["seed"])) for p in pairs] == \
        [("muon_8ep", 1337), ("muon_8ep_seed1", 1), ("muon_8ep_seed2", 2)]
    accs = [p["final"]["test_accuracy"] for p in pairs]
    diff, se, verdict = trade["difference"]
    when = [f"{abs(p['sooner_min']):.1f} min {'sooner' if p['sooner_min'] > 0 else 'later'}" for p in pairs]
    slowing = results.epoch_steps(rows, pairs[1]["label"])[1:]  # the second run's whole epochs
    first = pairs[0]
    for words in (
            f"A shrunk epoch took {trade['share']:.0%} of the whole one after it ({first['small_s']:.0f} s "
            f"against {first['next_s']:.0f} s in the first run; 24x24 is {(24 / 32) ** 2:.0%} of the pixels)",
            f"saved about {trade['saved_min']:.1f} min of each run at its own pace",
            f"each shrunk run gave its final score {when[0]}, {when[1]} and {when[2]}",
            f"The CPU slowed during the second run (its whole epochs went from {slowing[0]:.0f} s to "
            f"{max(slowing):.0f} s, with nothing else running), and the third run's took "
            f"x{pairs[2]['whole_s'] / pairs[2]['twin_whole_s']:.2f} its twin's",
            f"the shrunk runs' whole epochs took x{trade['pace']:.2f} the time of their twins'",
            f"ended at {accs[0]:.2%}, {accs[1]:.2%} and {accs[2]:.2%}, mean **{trade['accuracy']:.2%}**",
            f"{100 * diff:+.2f} ± {100 * se:.2f} points against the three whole-image runs, {verdict}"):
        assert words in text, words
    assert ("reaches 94%" in text) == (trade["accuracy"] >= 0.94)


def test_fast_recipe_quotes_what_shrinking_saves_where_bfloat16_runs_the_step():
    """FAST_RECIPE's "What shrinking saves where bfloat16 runs the step": the Zen 4's race of
    whole pictures and shrunk first in one invocation, each shrunk epoch against its whole
    neighbour, judged against the run's own drift, the minutes, the finals, and the whole-picture
    run against the Zen 4's earlier run with the same seed."""
    from statistics import median

    paragraph = _fast_recipe_text().split(
        "**What shrinking saves where bfloat16 runs the step.**")[1].split("```")[0]
    text = " ".join(paragraph.split())
    race = results.read_rows(RESULTS / "shrunk_race_zen4.csv")
    assert "Zen 4" in results.cpu_of(race) and "bf16 in hardware" in results.cpu_of(race)
    (pair,) = results.cheaper_first_epochs(race, "muon_8ep", "muon_8ep_r24q")["pairs"]
    assert int(pair["final"]["seed"]) == int(pair["twin_final"]["seed"]) == 1337
    float32 = results.cheaper_first_epochs(results.read_rows(RESULTS / "time_to_accuracy_zen3.csv"),
                                           "muon_8ep", "muon_8ep_r24q")
    whole = results.epoch_steps(race, pair["label"])[pair["cheaper"] - 1:]
    drift = (max(whole) - min(whole)) / pair["whole_s"]
    # "wider than the gap between the two shares: ... about the same share"
    assert abs(pair["share"] - float32["share"]) < drift
    earlier = results.read_rows(RESULTS / "time_to_accuracy_zen4.csv")
    by_epoch = [[r["test_accuracy"] for r in rows if r["recipe"] == "muon_8ep"]
                for rows in (race, earlier)]
    assert by_epoch[0] == by_epoch[1] and len(by_epoch[0]) == 9  # "epoch for epoch" (8 + final)
    pace = (median(results.epoch_steps(race, "muon_8ep"))
            / median(results.epoch_steps(earlier, "muon_8ep")))
    for words in (
            f"with the recipe's seed ({pair['final']['seed']}) each",
            f"A shrunk epoch took {pair['share']:.0%} of the whole one after it "
            f"({pair['small_s']:.0f} s against {pair['next_s']:.0f} s; {float32['share']:.0%} on "
            "the Zen 3 in float32)",
            f"That run's whole epochs took {min(whole):.0f} to {max(whole):.0f} s, a spread of "
            f"{drift:.0%} of their median",
            f"The {'two' if pair['cheaper'] == 2 else pair['cheaper']} shrunk epochs saved about "
            f"{pair['saved_min']:.1f} min of a "
            f"{pair['twin_final']['elapsed_s'] / 60:.1f}-minute run",
            f"Shrunk first gave its final score {pair['sooner_min']:.1f} min sooner, not "
            f"{pair['saved_min']:.1f}: its whole epochs took "
            f"x{pair['whole_s'] / pair['twin_whole_s']:.2f}",
            f"the runs ended at {pair['final']['test_accuracy']:.2%} (shrunk first) and "
            f"{pair['twin_final']['test_accuracy']:.2%} (whole pictures)",
            f"its epochs at x{pace:.2f} that run's seconds"):
        assert words in text, words
    assert pair["sooner_min"] > 0


def test_fast_recipe_gives_the_held_out_verdict_on_shrunk_first_and_keeps_its_rule():
    """FAST_RECIPE's "The same question on held-out images": it must name each side's seeds and
    means as the CSV holds them (a new row left unquoted fails here), and judge shrunk first
    against whole pictures as notebook 07 does. The rule fixed before the study: the recipe
    takes shrunk first only on a win on held-out images, so the paragraph's decision must follow
    the verdict."""
    from statistics import mean

    text = _fast_recipe_text().split("**The same question on held-out images.**")[1]
    held = results.epoch_study_rows(RESULTS / "optimizer_study.csv", "airbench94_cpu_wide", 8,
                                    cpu="AMD EPYC Zen 3 · AVX2")
    sides = {"muon": "whole pictures", "muon_r24q": "shrunk first"}
    assert {r["variant"] for r in held} == set(sides)  # one question: these two recipes
    val = {}  # each side's held-out accuracies, one per seed
    for variant, name in sides.items():
        runs = [r for r in held if r["variant"] == variant]
        assert len(runs) >= 3  # the study's three seeds a side (rows only grow)
        assert all(float(r["validation_split"]) == 0.1 for r in runs)  # chosen on held-out images
        val[variant] = [float(r["val_accuracy"]) for r in runs]
        test = mean(float(r["test_accuracy"]) for r in runs)
        seeds = ", ".join(r["seed"] for r in runs)  # "seeds 0, 1, 2: mean 93.93% on validation"
        assert (f"{name} (`{variant}`), seeds {seeds}: mean {mean(val[variant]):.2%} on "
                f"validation ({test:.2%} on the test set, not used to choose)") in text, variant
    assert "--variant muon_r24q=optimizer=muon,crop_size=24,crop_epochs=2,crop_by=resize" in text
    whole, shrunk = val["muon"], val["muon_r24q"]
    d, se, verdict = results.seed_difference(shrunk, whole)  # as notebook 07 judges it
    assert f"{d * 100:+.2f} ± {se * 100:.2f} points from whole pictures' mean: {verdict}" in text
    assert not verdict.startswith("a real gain")  # so by the rule the recipe is unchanged:
    assert "**The recipe keeps whole pictures.**" in text.split("```")[0]


def test_fast_recipe_quotes_the_robust_recipe_on_the_wider_net():
    """"The same recipe on the wider net": every number is robust_study.csv's, the comparisons
    with v9's seed spread follow from them, and it ships beside v9 because it meets both targets
    (the rule written before its run), yet the page keeps the most accurate model."""
    from wic.evaluation.metrics import (
        CLEAN_TARGET,
        CORRUPTED_TARGET,
        ROBUST_RECIPE_FIELDS,
        accuracy_standard_error,
    )
    from wic.serving import classifier

    text = _fast_recipe_text()
    rows = {r["model"]: r for r in results.read_rows(RESULTS / "robust_study.csv")}
    wide, narrow = rows["airbench94_cpu_wide_robust_v1"], rows["airbench94_cpu_robust_v4"]
    plain = rows["airbench94_cpu_wide_v3"]
    # the wider net is the one change
    assert [k for k in ROBUST_RECIPE_FIELDS if wide[k] != narrow[k]] == ["net"]
    assert wide["net"] == plain["net"] == "airbench94_cpu_wide"
    clean, rob = _robust_study_percent(rows)
    w, v = "airbench94_cpu_wide_robust_v1", "airbench94_cpu_robust_v4"
    assert (f"It scores {clean[w]:.2f}% clean and {rob[w]:.1f}% on CIFAR-10-C, against v4's "
            f"{clean[v]:.2f}% and {rob[v]:.1f}%") in text
    seeds = [n for n in rows if n.startswith("airbench94_cpu_robust_v9")]
    assert len(seeds) == 3
    spread_clean = max(clean[n] for n in seeds) - min(clean[n] for n in seeds)
    spread_rob = max(rob[n] for n in seeds) - min(rob[n] for n in seeds)
    gain_clean, gain_rob = clean[w] - clean[v], rob[w] - rob[v]
    assert (f"The clean gain ({gain_clean:+.2f} points) is no larger than the spread of v9's three "
            f"seeds ({spread_clean:.2f} points); the corrupted gain ({gain_rob:+.1f} points) is "
            f"larger than theirs ({spread_rob:.1f} points)") in text
    assert round(gain_clean, 2) <= round(spread_clean, 2) and gain_rob > spread_rob
    # it meets both targets, so it ships, and it is the most robust shipped model
    assert clean[w] >= 100 * CLEAN_TARGET and rob[w] >= 100 * CORRUPTED_TARGET
    assert "it ships beside v9, as the most robust shipped model" in text
    shipped = cards.catalogue(ROOT / "models")
    images = next(r["card"]["test_examples"] for r in shipped if r["name"] == w)
    se = 100 * accuracy_standard_error(float(wide["test_accuracy"]), images)
    margin = clean[w] - 100 * CLEAN_TARGET
    assert (f"it meets the clean one by a fraction of a standard error over test images "
            f"({margin:+.2f} points, against {se:.2f})") in text and margin < se
    assert max(shipped, key=lambda r: classifier.robustness_mean(r["card"]))["name"] == w
    # below the same net trained without augmentations by more than the rule's half point
    gap = clean["airbench94_cpu_wide_v3"] - clean[w]
    assert f"it is {gap:.2f} points below `airbench94_cpu_wide_v3`" in text
    assert gap > 100 * classifier.ACCURACY_TOLERANCE
    assert classifier.default_model(shipped)["name"] == "airbench94_cpu_wide_v3"
    assert "so the page keeps `airbench94_cpu_wide_v3`" in text
    minutes = float(wide["train_seconds"]) / 60
    assert f"its 28 epochs took about {minutes:.0f} minutes" in text and wide["epochs"] == "28"


def test_fast_recipe_reads_the_wider_nets_third_seed_by_the_rule_written_before_it():
    """"A third seed": its numbers are robust_study.csv's, the three-seed means, gap and larger
    spread too, and the verdict is the one the reading in the commands block gives (the same rule
    as results.robust_recipes_sentence)."""
    from wic.evaluation.metrics import CLEAN_TARGET, CORRUPTED_TARGET, ROBUST_RECIPE_FIELDS

    text = _fast_recipe_text()
    rows = {r["model"]: r for r in results.read_rows(RESULTS / "robust_study.csv")}
    wide = [n for n in rows if n.startswith("airbench94_cpu_wide_robust_v1")]
    v9 = [n for n in rows if n.startswith("airbench94_cpu_robust_v9")]
    s = "airbench94_cpu_wide_robust_v1_s2"
    assert len(wide) == len(v9) == 3 and s in wide and rows[s]["seed"] == "2"
    assert all(rows[n][k] == rows[wide[0]][k] for n in wide for k in ROBUST_RECIPE_FIELDS)
    clean, rob = _robust_study_percent(rows)
    assert (f"It scores {clean[s]:.2f}% clean and {rob[s]:.1f}% on CIFAR-10-C: it meets both "
            "targets, and is the most accurate of the three on clean pictures") in text
    assert clean[s] >= 100 * CLEAN_TARGET and rob[s] >= 100 * CORRUPTED_TARGET
    assert max(wide, key=clean.get) == s
    mean_wide, mean_v9 = (statistics.mean(rob[n] for n in g) for g in (wide, v9))
    spread_wide, spread_v9 = (max(rob[n] for n in g) - min(rob[n] for n in g) for g in (wide, v9))
    gap = mean_wide - mean_v9
    assert (f"Over three seeds the recipe averages {mean_wide:.2f}% on CIFAR-10-C, v9's "
            f"{mean_v9:.2f}%: a gap of {gap:.2f} points, less than the larger of the two recipes' "
            f"seed spreads ({spread_wide:.2f} points, the wider net's)") in text
    assert 0 < gap < spread_wide and spread_wide > spread_v9
    assert "So the two nets are not told apart on robustness." in text
    assert "the two are not told apart" in results.robust_recipes_sentence(
        RESULTS / "robust_study.csv")
    assert ("the wider net is called more robust than the usual one only if its recipe's mean "
            "CIFAR-10-C over its three seeds (the cards' 300 images) is above v9's three seeds' "
            "mean by more than the larger of the two recipes' seed spreads"
            ) in _fast_recipe_comments()
    both = sum(clean[n] >= 100 * CLEAN_TARGET and rob[n] >= 100 * CORRUPTED_TARGET for n in wide)
    mean_clean = {g[0]: statistics.mean(clean[n] for n in g) for g in (wide, v9)}
    assert both == 2 and "meets both targets in two runs of three" in text
    assert (f"its mean clean accuracy ({mean_clean[wide[0]]:.2f}%) lies above the clean target, "
            f"where v9's ({mean_clean[v9[0]]:.2f}%) lies below it") in text
    assert mean_clean[wide[0]] >= 100 * CLEAN_TARGET > mean_clean[v9[0]]


def test_the_two_nets_on_2000_images_are_read_by_the_rule_written_before_the_rescore():
    """"The two nets on 2,000 images" and the README's sentence: each recipe's mean over its
    rescored runs, the gap and the larger seed spread are robust_rescore.csv's, and the verdict is
    the one the reading in the commands block gives (results.rescore_recipes_sentence)."""
    rescore, study = RESULTS / "robust_rescore.csv", RESULTS / "robust_study.csv"
    groups = {g[0]["model"]: g for g in results.rescore_by_recipe(rescore, study)}
    rob = {m: [100 * float(r["corruption_mean"]) for r in g] for m, g in groups.items()}
    wide, v9 = rob["airbench94_cpu_wide_robust_v1"], rob["airbench94_cpu_robust_v9"]
    gap = statistics.mean(wide) - statistics.mean(v9)
    spread = max(max(v) - min(v) for v in (wide, v9))
    count = {2: "two", 3: "three"}
    text = _fast_recipe_text()
    assert (f"The wider net's {count[len(wide)]} runs average {statistics.mean(wide):.2f}% on "
            f"CIFAR-10-C, v9's {count[len(v9)]} {statistics.mean(v9):.2f}%: a gap of {gap:.2f} "
            f"points, less than the spread of v9's seeds ({spread:.2f} points)") in text
    assert 0 < gap < spread == max(v9) - min(v9)
    assert "So the two nets are still not told apart." in text
    assert "the two are not told apart" in results.rescore_recipes_sentence(rescore, study)
    assert ("the wider net's recipe is called more robust than v9's only if its runs' mean on "
            "2,000 images is above v9's runs' mean by more than the larger of the two recipes' "
            "seed spreads there") in _fast_recipe_comments()
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert ("The wider net's recipe is not told apart from v9's: its lead is smaller than v9's "
            "seeds spread") in readme
    # the run whose mean moved most between its card's images and the larger sample
    rows = results.read_rows(rescore)
    moved = max(rows, key=lambda r: abs(float(r["corruption_mean"]) - float(r["card_mean"])))
    assert moved["model"] == "airbench94_cpu_wide_robust_v1"
    assert (f"The first wide run's mean moved most: from {100 * float(moved['card_mean']):.1f}% "
            f"on its card's {moved['card_images']} images to "
            f"{100 * float(moved['corruption_mean']):.1f}% on "
            f"{int(moved['corruption_images']):,}.") in text


def test_fast_recipe_reads_the_wider_nets_second_seed_by_the_rule_written_before_it():
    """"A second seed": its numbers are robust_study.csv's, the verdict follows the reading the
    commands block wrote before the run (more robust only if this seed, too, beats v4 on
    CIFAR-10-C by more than v9's seed spread), and the means and clean target match the rows."""
    from wic.evaluation.metrics import CLEAN_TARGET, CORRUPTED_TARGET, ROBUST_RECIPE_FIELDS

    text = _fast_recipe_text()
    rows = {r["model"]: r for r in results.read_rows(RESULTS / "robust_study.csv")}
    first, second = rows["airbench94_cpu_wide_robust_v1"], rows["airbench94_cpu_wide_robust_v1_s1"]
    assert all(first[k] == second[k] for k in ROBUST_RECIPE_FIELDS) and second["seed"] == "1"
    clean, rob = _robust_study_percent(rows)
    s, v = "airbench94_cpu_wide_robust_v1_s1", "airbench94_cpu_robust_v4"
    v9 = [n for n in rows if n.startswith("airbench94_cpu_robust_v9")]
    spread = max(rob[n] for n in v9) - min(rob[n] for n in v9)
    gain = rob[s] - rob[v]
    assert (f"It scores {clean[s]:.2f}% clean and {rob[s]:.1f}% on CIFAR-10-C: {gain:+.1f} points "
            f"over v4, less than that spread ({spread:.1f} points)") in text and gain < spread
    # the reading, written in the commands block's comments before the run, gives the verdict
    assert ("the wider net is called more robust than the usual one if this run's CIFAR-10-C "
            "mean (the card's 300 images), like the first seed's, is above "
            "airbench94_cpu_robust_v4's by more than the spread of v9's three seeds"
            ) in _fast_recipe_comments()
    assert ("So one seed's luck is not ruled out, and the wider net is not called more "
            "robust") in text
    wide = [first["model"], s]
    mean_wide, mean_v9 = (statistics.mean(rob[n] for n in runs) for runs in (wide, v9))
    spread_wide = max(rob[n] for n in wide) - min(rob[n] for n in wide)
    assert (f"The two seeds' mean ({mean_wide:.1f}%) lies above the mean of v9's three "
            f"({mean_v9:.1f}%) by less than the spread of either recipe's seeds") in text
    assert 0 < mean_wide - mean_v9 < min(spread, spread_wide)
    assert "this one meets the corrupted target and misses the clean one" in text
    assert rob[s] >= 100 * CORRUPTED_TARGET and clean[s] < 100 * CLEAN_TARGET
    assert all(clean[n] < 100 * CLEAN_TARGET for n in v9 if n != "airbench94_cpu_robust_v9")
