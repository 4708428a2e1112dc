"""wic.backend: TensorFlow's oneDNN ops turned on where TensorFlow leaves them off."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from wic import backend


@pytest.mark.parametrize("flags, env, wanted", [
    (["avx2", "fma"], {}, "1"),                          # AVX2 only: TensorFlow's default is off
    (["avx2", "fma", "avx512f", "avx512_vnni"], {}, "1"),  # already on there: asking changes nothing
    (["avx2"], {"TF_ENABLE_ONEDNN_OPTS": "0"}, None),    # the user's choice is kept ...
    (["avx2"], {"TF_ENABLE_ONEDNN_OPTS": "1"}, None),    # ... either way
    ([], {}, None),                                      # no AVX2 (or not x86): not measured
])
def test_onednn_is_asked_for_on_an_x86_cpu_with_avx2_unless_the_user_chose(flags, env, wanted):
    assert backend.onednn_setting(flags, env) == wanted


def _import_backend_on(flags: list[str], onednn: str | None) -> dict:
    """A fresh process that sees a CPU with ``flags``, imports wic.backend and reports the
    variable and whether TensorFlow runs its oneDNN ops."""
    env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    if onednn is not None:
        env["TF_ENABLE_ONEDNN_OPTS"] = onednn
    code = textwrap.dedent(f"""
        import json, os
        from wic import config
        config.cpu_info = lambda: {{"flags": {flags!r}}}
        from wic import backend
        print(json.dumps({{"var": os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
                          "on": backend.onednn_enabled()}}))
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_importing_the_backend_turns_onednn_on_for_tensorflow_on_an_avx2_cpu():
    assert _import_backend_on(["avx2", "fma"], None) == {"var": "1", "on": True}


def test_a_user_who_turned_onednn_off_keeps_it_off():
    assert _import_backend_on(["avx2", "fma"], "0") == {"var": "0", "on": False}
