"""wic.values — the one parser for typed-in values — and the frozen, type-checked Recipe built
on it, down to ``wic train --set``/``--dry-run``."""

from __future__ import annotations

import dataclasses
from typing import Literal

import pytest

from wic import cli, training, values
from wic.training import Recipe
from wic.values import ParameterError

BOOL_ACCEPTED = "true/false, yes/no or 1/0"


def refused(exc_info) -> str:
    msg = str(exc_info.value)
    assert "\n" not in msg, msg
    return msg


# ----------------------------------------------------------------------------- the parser


@pytest.mark.parametrize("text, value", [
    ("true", True), ("True", True), ("TRUE", True), ("yes", True), ("Yes", True), ("1", True),
    (" YES ", True), ("false", False), ("False", False), ("FALSE", False), ("no", False),
    ("NO", False), ("0", False),
])
def test_boolean_words_in_any_case(text, value):
    assert values.parse(text, bool, "flag") is value
    assert values.boolean("flag", text) is value
    assert values.check("flag", text, bool) is value


@pytest.mark.parametrize("text", ["maybe", "on", "off", "y", "2", "", "truee"])
def test_other_boolean_words_are_refused_with_one_line(text):
    with pytest.raises(ParameterError) as info:
        values.parse(text, bool, "lookahead")
    assert refused(info) == f"lookahead={text!r} is invalid; accepted: {BOOL_ACCEPTED}"


@pytest.mark.parametrize("value", [1, 0, 0.0, None, [True]])
def test_boolean_refuses_what_is_neither_a_bool_nor_text(value):
    assert values.boolean("augment", True) is True and values.boolean("augment", False) is False
    with pytest.raises(ParameterError) as info:
        values.boolean("augment", value)
    assert refused(info) == f"augment={value!r} is invalid; accepted: {BOOL_ACCEPTED}"


def test_integers_are_not_numbers_and_numbers_are_finite():
    assert values.parse("5", int) == 5 and type(values.parse("5", int)) is int
    assert values.parse("-3", int, "n") == -3
    for text in ("5.0", "1e3", "five", "", "none"):
        with pytest.raises(ParameterError) as info:
            values.parse(text, int, "epochs")
        assert refused(info) == f"epochs={text!r} is invalid; accepted: an integer"
    assert values.parse("1e-3", float) == 0.001 and values.parse(".5", float) == 0.5
    assert values.parse("3", float) == 3.0 and type(values.parse("3", float)) is float
    for text in ("inf", "nan", "-inf", "fast"):
        with pytest.raises(ParameterError, match=f"lr='{text}' is invalid; accepted: a number$"):
            values.parse(text, float, "lr")
    # typed values: an int is a number, a bool is neither an int nor a number
    assert values.check("lr", 1, float) == 1.0 and type(values.check("lr", 1, float)) is float
    for value, kind in ((True, int), (2.0, int), (False, float), (float("nan"), float)):
        with pytest.raises(ParameterError):
            values.check("x", value, kind)


def test_none_only_where_nothing_is_allowed():
    for text in ("none", "None", "NULL", "null", "~", ""):
        assert values.parse(text, int | None, "train_subset") is None
    assert values.parse("500", int | None) == 500
    assert values.check("train_subset", None, int | None) is None
    with pytest.raises(ParameterError) as info:
        values.parse("all", int | None, "train_subset")
    assert refused(info) == "train_subset='all' is invalid; accepted: an integer or none"
    with pytest.raises(ParameterError, match="epochs=None is invalid; accepted: an integer$"):
        values.check("epochs", None, int)
    assert values.describe(float | None) == "a number or none"


def test_tuples_are_written_with_commas_or_brackets():
    kind = tuple[int, ...]
    for text in ("32,64,64", "(32, 64, 64)", "[32, 64, 64]", " 32 , 64 , 64 "):
        assert values.parse(text, kind, "widths") == (32, 64, 64)
    assert values.parse("0.25,0.5", tuple[float, ...]) == (0.25, 0.5)
    assert values.parse("1,2,3", tuple[int, int, int]) == (1, 2, 3)
    with pytest.raises(ParameterError) as info:
        values.parse("1,2", tuple[int, int, int], "widths")
    assert refused(info) == "widths='1,2' is invalid; accepted: a list of integers, e.g. 32,64,64"
    with pytest.raises(ParameterError, match="widths='x' is invalid; accepted: an integer"):
        values.parse("8,x,16", kind, "widths")  # the element that is wrong is named
    assert values.check("widths", [8, 16, 16], kind) == (8, 16, 16)
    assert values.describe(kind) == "a list of integers, e.g. 32,64,64"


def test_literal_choices():
    kind = Literal["adam", "adamw", "sgd", "nesterov"]
    assert values.parse("sgd", kind) == "sgd" and values.parse("ADAM", kind) == "adam"
    assert values.check("optimizer", "nesterov", kind) == "nesterov"
    with pytest.raises(ParameterError) as info:
        values.parse("rmsprop", kind, "optimizer")
    assert refused(info) == ("optimizer='rmsprop' is invalid; accepted: one of adam, adamw, sgd, "
                             "nesterov")
    with pytest.raises(ParameterError, match="accepted: one of adam"):
        values.check("optimizer", 3, kind)


def test_without_a_kind_the_value_is_guessed():
    guessed = {"yes": True, "False": False, "none": None, "5": 5, "-2": -2, "1e-3": 0.001,
               "'007'": "007", "[1, 2]": [1, 2], "adam": "adam", "2024-01-01": "2024-01-01"}
    for text, value in guessed.items():
        got = values.parse(text)
        assert got == value and type(got) is type(value), (text, got)
    assert values.parse(3, int) == 3 and values.parse(0.5) == 0.5  # not text: checked / kept


def test_assignments_stay_text_until_typed():
    assert values.assignments(["lr=0.1", "flip=random", "note=a=b"]) == \
        {"lr": "0.1", "flip": "random", "note": "a=b"}
    assert values.assignments(None) == {}
    for items, message in ((["lookahead"], "--set 'lookahead': accepted: NAME=VALUE"),
                           (["1x=2"], "--set '1x=2': accepted: NAME=VALUE"),
                           (["a=1", "a=2"], "--set a is given twice")):
        with pytest.raises(ParameterError) as info:
            values.assignments(items)
        assert refused(info).startswith(message)
    with pytest.raises(ParameterError, match="--model-arg 'w': accepted: NAME=VALUE, e.g. --model-arg"):
        values.assignments(["w"], "--model-arg")


def test_notebook_checks(tmp_path):
    assert values.integer("epochs", "5", minimum=1) == 5
    assert values.integer("subset", None, allow_none=True) is None
    with pytest.raises(ParameterError, match=r"^epochs=0 is invalid; accepted: an integer >= 1$"):
        values.integer("epochs", 0, minimum=1)
    assert values.number("lr", "1e-3", 0, 1) == 0.001
    for bad in (2, "x"):
        with pytest.raises(ParameterError, match=r"accepted: a number in \[0, 1\]$"):
            values.number("lr", bad, 0, 1)
    assert values.choice("opt", "a", ["a", "b"]) == "a"
    assert values.choice("opt", None, ["a", "b"], allow_none=True) is None
    with pytest.raises(ParameterError, match="^opt='x' is invalid; accepted: a, b$"):
        values.choice("opt", "x", ["a", "b"])
    assert values.identifier("out", "run-1.b_2") == "run-1.b_2"
    for bad in ("a b", "../x", "", 3):
        with pytest.raises(ParameterError, match="accepted: a short name"):
            values.identifier("out", bad)
    f = tmp_path / "m.keras"
    f.write_bytes(b"x")
    assert values.existing_file("model", str(f), ".keras") == f
    with pytest.raises(ParameterError, match="accepted: an existing .keras file"):
        values.existing_file("model", str(tmp_path / "m.h5"), ".keras")
    # papermill injects -p augment false as the *text* "false": checked means parsed
    ns = {"augment": "false", "epochs": "3", "lr": 0.01}
    checked = values.parameters(ns, {"augment": values.boolean, "epochs": values.integer,
                                     "lr": values.number})
    assert ns == checked == {"augment": False, "epochs": 3, "lr": 0.01}
    with pytest.raises(ParameterError, match="augment='maybe'"):
        values.parameters({"augment": "maybe"}, {"augment": values.boolean})


# ----------------------------------------------------------------------------- the recipe


def test_recipe_is_frozen():
    r = Recipe()
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.epochs = 3
    with pytest.raises(dataclasses.FrozenInstanceError):
        training.FAST.lookahead = False
    assert training.FAST.lookahead is True and hash(Recipe()) == hash(training.SEED)


@pytest.mark.parametrize("field, value, accepted", [
    ("epochs", True, "an integer"),
    ("epochs", 2.0, "an integer"),
    ("lookahead", "maybe", BOOL_ACCEPTED),
    ("lookahead", 1, BOOL_ACCEPTED),
    ("jit_compile", "auto", BOOL_ACCEPTED),  # bool only since 0.3
    ("precision", "bf16", "one of auto, float32, mixed_bfloat16"),
    ("flip", "sideways", "one of random, alternate, none"),
    ("monitor", 3, "text"),
    ("train_subset", "all", "an integer or none"),
])
def test_recipe_fields_are_type_checked(field, value, accepted):
    with pytest.raises(ParameterError) as info:
        Recipe(**{field: value})
    assert refused(info) == f"{field}={value!r} is invalid; accepted: {accepted}"
    assert issubclass(ParameterError, ValueError)


def test_recipe_text_is_parsed_and_numbers_widened():
    assert Recipe(lookahead="false").lookahead is False
    assert Recipe(learning_rate=1).learning_rate == 1.0 and type(Recipe(learning_rate=1).learning_rate) is float
    assert Recipe(train_subset="none").train_subset is None
    assert Recipe.from_dict({"jit_compile": "auto"}).jit_compile is False  # cards before 0.3


def test_with_and_with_text():
    fast = training.FAST
    assert fast.with_(lookahead=False, epochs=3).changes(fast) == {"lookahead": False, "epochs": 3}
    assert fast.with_text({"lookahead": "false"}).lookahead is False
    assert fast.with_text({"lookahead": "YES", "translate": "0", "train_subset": "none",
                           "time_budget_s": "60"}).changes(fast) == {"translate": 0,
                                                                     "time_budget_s": 60.0}
    for bad, message in (({"lookahead": "maybe"}, f"lookahead='maybe' is invalid; accepted: {BOOL_ACCEPTED}"),
                         ({"flip": "sideways"}, "flip='sideways' is invalid; accepted: one of random, alternate, none"),
                         ({"epochs": "2.5"}, "epochs='2.5' is invalid; accepted: an integer")):
        with pytest.raises(ParameterError) as info:
            fast.with_text(bad)
        assert refused(info) == message
    for call in (lambda: fast.with_text({"lookahed": "false"}), lambda: fast.with_(lookahed=False)):
        with pytest.raises(ParameterError, match=r"^unknown recipe field\(s\) lookahed; accepted: "
                                                 r"optimizer, .*lookahead"):
            call()
    with pytest.raises(ParameterError, match="reduce_lr=True is invalid; accepted: false when a schedule"):
        Recipe(schedule="onecycle")  # the fields are also checked against each other
    assert fast.lookahead is True  # nothing above changed the named recipe


def test_dicts_changes_and_fields():
    fast = training.FAST
    assert Recipe.from_dict(fast.to_dict()) == fast
    assert list(fast.to_dict()) == training.field_names()
    assert training.field_names()[:3] == ["optimizer", "learning_rate", "momentum"]
    assert {"lookahead", "flip", "precision", "jit_compile"} <= set(training.field_names())
    types = training.field_types()
    assert types["lookahead"] is bool and types["epochs"] is int
    assert types["train_subset"] == int | None and types["flip"] == Literal["random", "alternate", "none"]
    assert training.SEED.changes() == {}
    assert fast.changes()["lookahead"] is True and fast.changes()["optimizer"] == "nesterov"
    with pytest.raises(ParameterError, match=r"unknown recipe field\(s\) epoch;"):
        Recipe.from_dict({"epoch": 3})


def test_resolved_precision(monkeypatch):
    from wic import config

    assert Recipe(precision="float32").resolved_precision() == "float32"
    assert Recipe(precision="mixed_bfloat16").resolved_precision() == "mixed_bfloat16"
    monkeypatch.setattr(config, "cpu_info", lambda: {"bf16": True})
    assert training.FAST.resolved_precision() == "mixed_bfloat16"
    monkeypatch.setattr(config, "cpu_info", lambda: {"bf16": False})
    assert training.FAST.resolved_precision() == "float32"


def test_recipes_are_complete_on_import():
    assert set(training.RECIPES) == {"seed", "fast", "fast94"}
    assert training.recipe_named("seed") is training.SEED


# ----------------------------------------------------------------------------- wic train


def run(argv, capsys) -> tuple[int, str, str]:
    try:
        code = cli.main(argv)
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def no_data(tmp_path, monkeypatch):
    """An empty WIC_DATA_DIR and loaders that fail the test if anything calls them."""
    from wic import data
    from wic.data import cifar10

    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("WIC_DATA_DIR", str(empty))
    monkeypatch.setenv("WIC_RUNS_DIR", str(tmp_path / "runs"))

    def boom(*a, **k):
        raise AssertionError("data was loaded")

    for mod in (data, cifar10):
        monkeypatch.setattr(mod, "load_cifar10", boom)
        monkeypatch.setattr(mod, "find_dataset", boom)
    return tmp_path


def _field(out: str, name: str) -> str:
    line = next(line for line in out.splitlines() if line.split()[:1] == [name])
    return line.split(None, 1)[1]


def test_dry_run_shows_the_parsed_recipe_and_loads_no_data(no_data, capsys):
    code, out, err = run(["train", "--recipe", "fast", "--set", "lookahead=false", "--set",
                          "flip=random", "--epochs", "2", "--dry-run"], capsys)
    assert code == 0 and err == "", err
    assert _field(out, "lookahead") == "False" and _field(out, "flip") == "'random'"
    assert _field(out, "epochs") == "2" and _field(out, "optimizer") == "'nesterov'"
    assert out.splitlines()[0].startswith("model seed_v1_3 (") and "187,402 parameters" in out
    assert "recipe fast:" in out and "nothing was trained (--dry-run)" in out
    assert f"would write {no_data / 'runs' / 'seed_v1_3' / 'seed_v1_3.keras'}" in out
    assert not (no_data / "runs").exists()  # nothing written either


def test_dry_run_types_builder_arguments(no_data, capsys):
    code, out, err = run(["train", "--model", "airbench_cpu_s", "--recipe", "fast", "--out", "w8",
                          "--model-arg", "widths=8,16,16", "--model-arg", "whiten=no",
                          "--dry-run"], capsys)
    assert code == 0 and err == "", err
    assert "arguments {'widths': (8, 16, 16), 'whiten': False}" in out.splitlines()[0]
    assert str(no_data / "runs" / "w8" / "w8.keras") in out


@pytest.mark.parametrize("argv, message", [
    (["--set", "lookahead=maybe"], f"lookahead='maybe' is invalid; accepted: {BOOL_ACCEPTED}"),
    (["--set", "flip=sideways"], "flip='sideways' is invalid; accepted: one of random, alternate, none"),
    (["--set", "epochs=2.5"], "epochs='2.5' is invalid; accepted: an integer"),
    (["--set", "lookahed=false"], "unknown recipe field(s) lookahed; accepted: optimizer, "),
    (["--set", "epochs=3", "--epochs", "2"], "--set epochs: also given as its own option; use one"),
])
def test_bad_settings_exit_2_with_one_line(no_data, capsys, argv, message):
    code, out, err = run(["train", "--recipe", "fast", *argv, "--dry-run"], capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith(f"wic train: error: {message}"), err


def test_describe_cpu_names_the_family_and_model_that_tell_cpus_of_one_name_apart(tmp_path,
                                                                                    monkeypatch):
    """Two CPUs both called "AMD EPYC" (a Zen 1 and a Zen 3 ran this project's benchmarks) differ
    only in their family and model numbers, so every CSV's ``cpu`` text carries them; where
    /proc/cpuinfo has no such numbers the label goes without them."""
    from wic import config

    read = config.cpu_info
    amd, other = tmp_path / "amd", tmp_path / "other"
    amd.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: 1\n"
                   "model name\t: AMD EPYC 7B13\nflags\t\t: fpu avx2 fma\n\n"
                   "processor\t: 1\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: 1\n")
    other.write_text("model name\t: Some CPU\nvendor_id\t: GenuineIntel\nflags\t\t: avx2 amx_bf16\n")
    info = read(amd)
    assert (info["model"], info["family"], info["model_number"]) == ("AMD EPYC 7B13", 25, 1)
    assert info["flags"] == ["avx2", "fma"] and info["kind"] == "AVX2" and not info["bf16"]
    labels = []
    for path in (amd, other):
        monkeypatch.setattr(config, "cpu_info", lambda path=path: dict(read(path), cores=2))
        labels.append(config.describe_cpu())
    assert labels == ["AMD EPYC 7B13 (AuthenticAMD, family 25 model 1), 2 cores, AVX2: no bf16 hardware",
                      "Some CPU (GenuineIntel), 2 cores, AMX: bf16 in hardware"]
