"""The ship rule (wic.experiments.shipping) on hand-made rows, and on the committed check."""

import json
from math import comb
from pathlib import Path

import pytest

from wic.experiments import results, shipping


def _rows(c_acc=0.9480, i_acc=0.9446, gained=60, lost=43, sha=("abc", "abc"), n=(5000, 5000)):
    common = dict(optimizer="muon", epochs=15, test_ece_after=0.01, held_out_ece_after=0.01,
                  parameters=1000, train_wall_time_s=600.0, latency_ms_p50="")
    return [dict(common, model="new", against="old", net="wide", held_out_images=n[0], held_out_sha256=sha[0],
                 held_out_accuracy=c_acc, gained=gained, lost=lost, test_accuracy=0.9470),
            dict(common, model="old", against="new", net="usual", held_out_images=n[1], held_out_sha256=sha[1],
                 held_out_accuracy=i_acc, gained=lost, lost=gained, test_accuracy=0.9437,
                 latency_ms_p50=11.7)]


def test_sign_test_is_the_two_sided_binomial_tail():
    assert shipping.sign_test(0, 0) == 1.0
    assert shipping.sign_test(5, 5) == 1.0  # an even split is no evidence at all
    assert shipping.sign_test(10, 0) == pytest.approx(2 / 2 ** 10)
    assert shipping.sign_test(60, 43) == pytest.approx(
        2 * sum(comb(103, i) for i in range(44)) / 2 ** 103)
    assert shipping.sign_test(43, 60) == shipping.sign_test(60, 43)  # symmetric


def test_the_candidate_ships_only_when_more_accurate_on_the_same_held_out_images():
    d = shipping.decision(_rows(), "new", "old")
    assert d["same_images"] and d["ships"] and d["images"] == 5000
    assert d["gain"] == pytest.approx(0.0034) and (d["gained"], d["lost"]) == (60, 43)
    assert 0.05 < d["p_value"] < 0.2  # 17 more images of 5,000: could be luck
    tie = _rows(c_acc=0.9446, gained=50, lost=50)
    assert not shipping.decision(tie, "new", "old")["ships"]  # a tie keeps the old
    assert not shipping.decision(_rows(c_acc=0.94, gained=40, lost=70), "new", "old")["ships"]
    # decided on the counts, not on rounded accuracies: one image more is more accurate
    one_more = shipping.decision(_rows(c_acc=0.9446, gained=51, lost=50), "new", "old")
    assert one_more["ships"] and one_more["p_value"] == 1.0
    other = shipping.decision(_rows(sha=("abc", "xyz")), "new", "old")  # other images: no verdict
    assert not other["same_images"] and not other["ships"]
    assert not shipping.decision(_rows(n=(5000, 2500)), "new", "old")["same_images"]
    with pytest.raises(ValueError, match="no row for model 'gone' compared with 'old'"):
        shipping.decision(_rows(), "gone", "old")
    # a pair's rows are its own: the candidate's row against a third model does not count
    other_pair = [dict(r, against="third") if r["model"] == "new" else r for r in _rows()]
    with pytest.raises(ValueError, match="no row for model 'new' compared with 'old'"):
        shipping.decision(other_pair, "new", "old")
    with pytest.raises(ValueError, match=r"no row for model 'gone'; rows: new \(against old\)"):
        shipping.per_class(_rows(), "gone")


def test_the_sentence_gives_the_verdict_the_counts_and_the_test_set_only_after():
    text = shipping.sentence(_rows(), "new", "old")
    assert text.startswith("`new` ships: it is more accurate on the images both held out")
    assert "(94.80% against 94.46% on 5,000 images; it alone gets 60 of them right, `old` alone 43" in text
    assert "The test set, read only after, reports 94.70% against 94.37% (+0.33 points)." in text
    assert "does not ship" in shipping.sentence(_rows(c_acc=0.94, gained=40, lost=70), "new", "old")
    assert "did not hold out the same images" in shipping.sentence(_rows(sha=("a", "b")), "new", "old")


def test_the_table_has_one_row_per_model_with_its_measured_figures():
    lines = shipping.table(_rows()).splitlines()
    assert len(lines) == 4
    # a model in two trials (the incumbent, judged twice) is listed once
    again = [dict(r, model="newer", against="old") if r["model"] == "new" else dict(r, against="newer")
             for r in _rows()]
    assert [ln.split("|")[1].strip() for ln in shipping.table(_rows() + again).splitlines()[2:]] == [
        "`new`", "`old`", "`newer`"]
    assert lines[2] == "| `new` | `wide` | muon | 15 | 94.80% | 94.70% | 0.010 | 1,000 |"
    assert lines[3].startswith("| `old` | `usual` | muon | 15 | 94.46% | 94.37% |")


def test_trials_are_judged_in_launch_order_and_only_when_both_rows_exist(monkeypatch):
    monkeypatch.setattr(shipping, "TRIALS", (
        shipping.Trial("new", "old", "a wider net"), shipping.Trial("newer", "old", "a longer schedule"),
        shipping.Trial("newest", "old", "still training")))
    monkeypatch.setattr(shipping, "REPEATS", ())
    rows = _rows()
    newer = [dict(rows[0], model="newer", against="old", held_out_accuracy=0.9440, gained=40, lost=43),
             dict(rows[1], against="newer", gained=43, lost=40)]
    assert [t.candidate for t in shipping.judged(newer + rows)] == ["new", "newer"]  # launch order
    assert [t.candidate for t in shipping.judged(rows + newer[:1])] == ["new"]  # one row is not a trial
    text = shipping.verdicts(rows + newer).split("\n\n")
    assert text[0].startswith("*A wider net.* `new` ships:")
    assert text[1].startswith("*A longer schedule.* `newer` does not ship:")
    assert len(text) == 2 and "newest" not in shipping.verdicts(rows + newer)



def test_a_repeat_is_judged_against_its_trial_s_incumbent_and_never_ships(monkeypatch):
    monkeypatch.setattr(shipping, "TRIALS", (shipping.Trial("new", "old", "a wider net"),))
    monkeypatch.setattr(shipping, "REPEATS", (shipping.Repeat("new_s1", "new", 1),
                                              shipping.Repeat("new_s2", "new", 2)))
    rows = _rows()
    again = [dict(rows[0], model="new_s1", held_out_accuracy=0.9452, gained=55, lost=52),
             dict(rows[1], against="new_s1", gained=52, lost=55)]
    # measured only when both rows exist; a repeat not yet measured is left out
    assert shipping.repeated(rows + again[:1]) == []
    (rep, trial), = shipping.repeated(rows + again)
    assert (rep.model, trial.candidate, trial.incumbent) == ("new_s1", "new", "old")
    text = shipping.verdicts(rows + again).split("\n\n")
    assert len(text) == 2 and text[0].startswith("*A wider net.* `new` ships:")
    assert text[1].startswith("*A wider net, again with seed 1.* `new_s1` repeats `new`'s gain: it "
                              "too is more accurate than `old` on the images both held out (94.52% "
                              "against 94.46% on 5,000 images; it alone gets 55 of them right")
    assert text[1].endswith("`new` scored 94.80% there. A repeat never ships: `new` stays.")
    worse = [dict(again[0], held_out_accuracy=0.9440, gained=40, lost=43),
             dict(again[1], gained=43, lost=40)]
    assert ("`new_s1` does not repeat `new`'s gain: it is not more accurate than `old`"
            in shipping.verdicts(rows + worse))

# ------------------------------------------------------------- the committed check and its prose

ROOT = Path(__file__).resolve().parents[1]
CHECK = ROOT / "benchmarks" / "results" / "ship_check.csv"


def _committed():
    return results.read_rows(CHECK)


def _notebook_text(name: str) -> str:
    nb = json.loads((ROOT / "notebooks" / name).read_text())
    return "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")


def test_the_committed_check_compares_each_trial_s_models_on_the_same_images():
    rows = _committed()
    trials = shipping.judged(rows)
    # every pair of rows is a trial written in TRIALS or a repeat in REPEATS, in launch order,
    # none left out
    assert trials == list(shipping.TRIALS[:len(trials)]) and trials
    repeats = [r for r, _ in shipping.repeated(rows)]
    assert repeats == list(shipping.REPEATS[:len(repeats)])
    # each repeat trains again a candidate that shipped
    assert all(shipping.decision(rows, r.repeats, t.incumbent)["ships"]
               for r, t in shipping.repeated(rows))
    assert len(rows) == 2 * (len(trials) + len(repeats))
    assert "5,000 images" in shipping.RULE
    for t in trials:
        cand = next(r for r in rows if (r["model"], r["against"]) == (t.candidate, t.incumbent))
        inc = next(r for r in rows if (r["model"], r["against"]) == (t.incumbent, t.candidate))
        assert (cand["net"], cand["optimizer"]) == ("airbench94_cpu_wide", "muon")  # 6b's best recipe
        assert f"{cand['epochs']} epochs" in t.change  # the schedule the trial says it tried
        assert cand["held_out_sha256"] == inc["held_out_sha256"] and cand["held_out_images"] == "5000"
        # the counts agree with the accuracies: the difference is what only one model gets right
        d = shipping.decision(rows, t.candidate, t.incumbent)
        assert round(d["gain"] * d["images"]) == d["gained"] - d["lost"]
        assert (int(inc["gained"]), int(inc["lost"])) == (d["lost"], d["gained"])
        # the incumbent's row is its shipped card's
        card = json.loads((ROOT / "models" / f"{t.incumbent}.json").read_text())
        assert float(inc["test_accuracy"]) == card["test_accuracy"]
        assert shipping.per_class(rows, t.incumbent)["per_class_accuracy"] == card["per_class_accuracy"]
        assert card["held_out_examples"] == int(inc["held_out_images"])
    # the first trial: the incumbent's own schedule
    card = json.loads((ROOT / "models" / f"{shipping.TRIALS[0].incumbent}.json").read_text())
    assert f"the incumbent's schedule: {card['epochs_run']} epochs" in shipping.TRIALS[0].change


def _flat(text: str) -> str:
    return " ".join(text.split())  # line breaks are spaces


def test_the_prose_about_the_first_trial_says_what_the_rows_say():
    rows = _committed()
    first = shipping.TRIALS[0]
    d = shipping.decision(rows, first.candidate, first.incumbent)
    cand, inc = (shipping.per_class(rows, n) for n in (first.candidate, first.incumbent))
    test_gain = cand["test_accuracy"] - inc["test_accuracy"]
    # "a tie on the held-out images and on the test set, so airbench94_cpu_v2 stayed"
    assert not d["ships"] and d["p_value"] > 0.5 and abs(test_gain) < 0.001
    assert not (ROOT / "models" / f"{first.candidate}.keras").exists()
    nb = _flat(_notebook_text("07_fast_recipe.ipynb"))
    recipe_doc = _flat((ROOT / "benchmarks" / "FAST_RECIPE.md").read_text())
    assert "The first candidate, given the incumbent's 15 epochs, tied" in nb
    assert "the wider net with Muon tied it on the images both held out at 15 epochs" in _flat(
        (ROOT / "README.md").read_text())
    assert "a tie on the held-out images and on the test set, so `airbench94_cpu_v2` stayed." in recipe_doc
    # the numbers the prose gives: the held-out tenth, the images, the epochs
    assert f"the {int(rows[0]['held_out_images']):,} images both held out" in nb
    assert int(rows[0]["held_out_images"]) * 10 == 50_000  # "the last tenth"
    card = json.loads((ROOT / "models" / f"{first.incumbent}.json").read_text())
    assert card["epochs_run"] == 15 and int(rows[0]["epochs"]) == 15


def test_the_prose_about_the_second_trial_says_what_the_rows_and_cards_say():
    from wic import cards
    from wic.serving import classifier

    rows = _committed()
    second = shipping.TRIALS[1]
    d = shipping.decision(rows, second.candidate, second.incumbent)
    cand, inc = (shipping.per_class(rows, n) for n in (second.candidate, second.incumbent))
    # "it ships ... and the test set, read last, agrees"
    assert d["ships"] and cand["test_accuracy"] > inc["test_accuracy"]
    # "a fair coin splits those images this unevenly more than one time in five"
    assert 0.2 < d["p_value"] < 0.5
    nb = _flat(_notebook_text("07_fast_recipe.ipynb"))
    recipe_doc = _flat((ROOT / "benchmarks" / "FAST_RECIPE.md").read_text())
    for text in (nb, recipe_doc):
        assert "24 epochs instead of 15" in text and "more than one time in five" in text
    assert "24 epochs instead of 15" in second.change
    shipped = json.loads((ROOT / "models" / f"{second.candidate}.json").read_text())
    assert shipped["epochs_run"] == 24 and shipped["test_accuracy"] == cand["test_accuracy"]
    assert shipped["held_out_examples"] == d["images"]
    # "better on most classes, and most of all on the hardest one, cats"
    diffs = {c: cand["per_class_accuracy"][c] - a for c, a in inc["per_class_accuracy"].items()}
    assert sum(x > 0 for x in diffs.values()) > len(diffs) / 2
    assert max(diffs, key=diffs.get) == min(inc["per_class_accuracy"], key=inc["per_class_accuracy"].get) == "cat"
    assert "most of all on the hardest one, cats" in nb
    assert "With 1,000 test images per class" in nb  # CIFAR-10's test set is balanced
    assert shipped["test_examples"] / len(shipped["per_class_accuracy"]) == 1000
    # "now the most accurate shipped model and, by the README's rule, what the page serves"
    catalogue = cards.catalogue(ROOT / "models")
    assert max(catalogue, key=lambda r: r["card"]["test_accuracy"])["name"] == second.candidate
    assert classifier.default_model(catalogue)["name"] == second.candidate
    assert f"`{second.candidate}` is now the most accurate shipped model" in nb
    # "keeps about what airbench94_cpu_v2 keeps on CIFAR-10-C, far below airbench94_cpu_robust_v9"
    robust = {r["name"]: classifier.robustness_mean(r["card"]) for r in catalogue}
    assert abs(robust[second.candidate] - robust[second.incumbent]) < 0.01
    assert robust["airbench94_cpu_robust_v9"] - robust[second.candidate] > 0.1
    assert (f"`{second.candidate}` keeps about what `{second.incumbent}` keeps on CIFAR-10-C "
            "(regenerated), far below `airbench94_cpu_robust_v9`") in recipe_doc



def test_the_prose_about_the_repeat_follows_its_verdict():
    """The second trial's repeat (its recipe again with seed 1): FAST_RECIPE's "What is left"
    says what the rule made of it, and the notebook says what a repeat is for."""
    rows = _committed()
    (rep, trial), = shipping.repeated(rows)
    assert (rep.repeats, trial) == (shipping.TRIALS[1].candidate, shipping.TRIALS[1])
    d = shipping.decision(rows, rep.model, trial.incumbent)
    assert d["same_images"] and d["images"] == 5000
    recipe_doc = _flat((ROOT / "benchmarks" / "FAST_RECIPE.md").read_text())
    assert ("two seeds of two, so the gain looks like the schedule's" in recipe_doc) == d["ships"]
    assert ("the first seed's gain may be its luck" in recipe_doc) == (not d["ships"])
    assert not (ROOT / "models" / f"{rep.model}.keras").exists()  # a repeat never ships
    nb = _flat(_notebook_text("07_fast_recipe.ipynb"))
    assert "a *repeat*, judged by the same rule against the same incumbent" in nb

# ------------------------------------------------------------------ benchmarks/ship_check.py


@pytest.mark.integration
def test_ship_check_scores_both_models_on_the_same_held_out_images(cifar_dir, tmp_path, capsys):
    """fast_cpu_v2 and airbench94_cpu_v2 both held out the last tenth; seed_v1_3 the last fifth,
    whose first images are others; a model that held out nothing is refused by name."""
    import shutil

    from benchtools import load_benchmark

    sc = load_benchmark("ship_check.py")
    out = tmp_path / "check.csv"
    assert sc.main(["fast_cpu_v2", "airbench94_cpu_v2", "--csv", str(out), "--limit", "200"]) == 0
    rows = results.read_rows(out)
    d = shipping.decision(rows, "fast_cpu_v2", "airbench94_cpu_v2")
    assert d["same_images"] and d["images"] == 200
    assert 0.8 < d["candidate_accuracy"] < d["incumbent_accuracy"] <= 1.0  # the small net is less sure
    assert round(d["gain"] * 200) == d["gained"] - d["lost"] and not d["ships"]
    assert set(shipping.per_class(rows, "fast_cpu_v2")["per_class_accuracy"]) == {
        "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"}
    assert "`fast_cpu_v2` does not ship" in capsys.readouterr().out

    assert sc.main(["fast_cpu_v2", "seed_v1_3", "--csv", str(out), "--limit", "50"]) == 0
    rows = results.read_rows(out)
    assert not shipping.decision(rows, "fast_cpu_v2", "seed_v1_3")["same_images"]
    assert "did not hold out the same images" in capsys.readouterr().out
    # a second pair is added beside the first; measuring a pair again replaces only its own rows
    assert [(r["model"], r["against"]) for r in rows] == [
        ("fast_cpu_v2", "airbench94_cpu_v2"), ("airbench94_cpu_v2", "fast_cpu_v2"),
        ("fast_cpu_v2", "seed_v1_3"), ("seed_v1_3", "fast_cpu_v2")]
    assert sc.main(["airbench94_cpu_v2", "fast_cpu_v2", "--csv", str(out), "--limit", "100"]) == 0
    rows = results.read_rows(out)
    assert [(r["model"], r["held_out_images"]) for r in rows] == [
        ("fast_cpu_v2", "50"), ("seed_v1_3", "50"), ("airbench94_cpu_v2", "100"), ("fast_cpu_v2", "100")]
    capsys.readouterr()

    models = ROOT / "models"
    shutil.copy(models / "fast_cpu_v2.keras", tmp_path / "all_in.keras")
    card = json.loads((models / "fast_cpu_v2.json").read_text())
    card.update(model_file="all_in.keras", held_out_examples=0)
    card["recipe"]["validation_split"] = 0.0
    (tmp_path / "all_in.json").write_text(json.dumps(card))
    with pytest.raises(SystemExit):
        sc.main([str(tmp_path / "all_in.keras"), "fast_cpu_v2", "--csv", str(out)])
    assert "held out no training images" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        sc.main(["fast_cpu_v2", "airbench94_cpu_v2", "--limit", "0"])
    assert "--limit must be a positive number of images, got 0" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        sc.main(["fast_cpu_v2", "fast_cpu_v2", "--csv", str(out)])
    assert "the candidate and the incumbent are both 'fast_cpu_v2'; name two models" in capsys.readouterr().err
