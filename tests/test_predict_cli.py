"""``wic predict FILE…``: top-3 per file, one stderr line per bad file, exit code 2, no traceback."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest
from hostile.generate import encode, noise

from wic import cards, cli

pytestmark = pytest.mark.timeout(180)
LINE = re.compile(r"^  [A-Z][a-z]+: (\d{1,2}\.\d|>99\.9|<0\.1)%$")


@pytest.fixture
def files(tmp_path, tiny_model_path, models_dir):
    shutil.copy(tiny_model_path, models_dir / "seed_v1_3.keras")
    # a measured latency: only such a model can be the default
    cards.write_card(models_dir / "seed_v1_3.keras", {"test_accuracy": 0.1, "latency_ms_p50": 5.0})
    out = {"good.png": encode(noise(), "PNG"), "photo.jpg": encode(noise(640, 480), "JPEG"),
           "bad.pdf": b"%PDF-1.4\n", "bomb.png": None}
    from hostile.generate import bomb_png
    out["bomb.png"] = bomb_png()
    for name, data in out.items():
        (tmp_path / name).write_bytes(data)
    return tmp_path


def run(*args, cwd):
    return subprocess.run([sys.executable, "-m", "wic.cli", "predict", *args], cwd=cwd,
                          capture_output=True, text=True, env=os.environ.copy(), timeout=150)


def test_good_and_bad_files_together(files):
    r = run("good.png", "bad.pdf", "missing.jpg", "bomb.png", "photo.jpg", cwd=files)
    assert r.returncode == 2, r.stderr
    out = r.stdout.splitlines()
    assert out[0] == "good.png:" and out[4] == "photo.jpg:" and len(out) == 8
    assert all(LINE.match(line) for line in out[1:4] + out[5:8]), out
    err = r.stderr.splitlines()
    assert len(err) == 3 and "Traceback" not in r.stderr, r.stderr
    assert err[0].startswith("bad.pdf: error: not an image we can read (looks like a PDF")
    assert err[1].startswith("missing.jpg: error: file not found")
    assert err[2].startswith("bomb.png: error: ") and "limit is 50 megapixels" in err[2]


def test_all_good_files_exit_zero_with_top_3(files):
    r = run("good.png", "--top", "3", cwd=files)
    assert r.returncode == 0 and r.stderr == "", r.stderr  # TF start-up chatter is hidden too
    lines = r.stdout.splitlines()
    assert lines[0] == "good.png:" and len(lines) == 4 and all(LINE.match(x) for x in lines[1:])


def test_bad_model_and_bad_top_are_one_line_usage_errors(files, capsys, monkeypatch):
    monkeypatch.chdir(files)
    assert cli.main(["predict", "--model", "nope", "good.png"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("wic predict: error: model 'nope' not found")
    with pytest.raises(SystemExit) as info:
        cli.main(["predict", "--top", "0", "good.png"])
    assert info.value.code == 2
    assert "--top must be at least 1" in capsys.readouterr().err


def test_no_default_without_a_measured_latency_and_no_onnx_export(files, models_dir, capsys,
                                                                 monkeypatch):
    monkeypatch.chdir(files)
    cards.write_card(models_dir / "seed_v1_3.keras", {"test_accuracy": 0.1})  # never measured
    assert cli.main(["predict", "good.png"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("wic predict: error: no model in ")
    assert "measured latency" in err[0] and "--model NAME" in err[0]
    assert cli.main(["predict", "--model", "seed_v1_3", "--backend", "onnx", "good.png"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "wic export seed_v1_3 --format onnx" in err[0]
    with pytest.raises(SystemExit) as info:
        cli.main(["predict", "--backend", "torch", "good.png"])
    assert info.value.code == 2 and "invalid choice: 'torch'" in capsys.readouterr().err
