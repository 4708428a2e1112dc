"""TensorFlow and Keras, imported once, quietly: ``from wic.backend import keras, tf``.

Every module of the package that needs TensorFlow or Keras imports them from here, so the
logging environment is set in one place before TensorFlow is first loaded. TensorFlow >= 2.20
logs through absl before ``absl::InitializeLog``, which ``TF_CPP_MIN_LOG_LEVEL`` no longer
silences: on a CPU-only machine a student saw a red block ("Could not find cuda drivers",
"failed call to cuInit", oneDNN notices) above every notebook's first output. The import runs
with file descriptor 2 redirected; afterwards every line that is not one of those known start-up
notices is written back, so real errors still reach the person.

It is also where wic turns on TensorFlow's oneDNN ops on a CPU where TensorFlow leaves them off
(:func:`onednn_setting`): that has to happen before TensorFlow loads.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import sys
import tempfile

from wic import config

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's own INFO/WARNING lines

def onednn_setting(flags, env) -> str | None:
    """The value wic gives ``TF_ENABLE_ONEDNN_OPTS`` before TensorFlow loads, or None to leave
    it as it is.

    TensorFlow's x86 build turns its oneDNN ops on by default only on CPUs with features such as
    AVX512_VNNI, AVX512_BF16 or AMX; elsewhere its convolutions and matmuls run on Eigen. On an
    AVX2-only CPU (an AMD EPYC Zen 1, then a Zen 3) the fast recipe's float32 training step, and a
    whole ``wic train`` run, were faster with them on (``benchmarks/FAST_RECIPE.md``, "A CPU
    without AVX-512" and "A second CPU without AVX-512": ``results/throughput_peak_zen1.csv``,
    ``results/whole_run_zen1.csv``, ``results/whole_run_zen3.csv`` and
    ``results/throughput_peak_zen3_onednn.csv``). So on any
    x86 CPU with AVX2 wic asks for them ("1"), which changes nothing where TensorFlow already
    turns them on. A value the user set (``0`` to compare, ``1``) is kept; CPUs without AVX2
    (no measurement here) keep TensorFlow's default."""
    if config.ONEDNN_VAR in env:
        return None
    return "1" if "avx2" in flags else None


def onednn_enabled() -> bool:
    """Whether this process's TensorFlow runs its oneDNN ops (TensorFlow's private check; where
    it is missing, the environment decides as TensorFlow would on a CPU with AVX-512)."""
    try:
        from tensorflow.python.util import _pywrap_util_port

        return bool(_pywrap_util_port.IsMklEnabled())
    except (ImportError, AttributeError):
        return os.environ.get(config.ONEDNN_VAR, "1") != "0"


if "tensorflow" not in sys.modules:  # once TensorFlow is loaded, the variable is read already
    _value = onednn_setting(config.cpu_info()["flags"], os.environ)
    if _value is not None:
        os.environ[config.ONEDNN_VAR] = _value

# the start-up notices of a CPU-only TensorFlow (absl's pre-init banner, CUDA probing,
# CPU-feature notices and their continuation line)
NATIVE_NOISE = re.compile(
    r"WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|[IW]\d{4} [\d:.]+\s+\d+ \S+\] "
    r"|E\d{4} [\d:.]+\s+\d+ \S+\] failed call to cuInit"
    r"|To enable the following instructions: .* rebuild TensorFlow")


@contextlib.contextmanager
def quiet_native_stderr():
    """Hide TensorFlow's C++ start-up notices on fd 2; anything else written is replayed.

    A no-op where stderr has no real descriptor."""
    try:
        fd = sys.stderr.fileno()
        sys.stderr.flush()
        saved = os.dup(fd)
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        yield
        return
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), fd)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, fd)
            os.close(saved)
            tmp.seek(0)
            for line in tmp.read().decode(errors="replace").splitlines(keepends=True):
                if not NATIVE_NOISE.match(line):
                    sys.stderr.write(line)
            sys.stderr.flush()


with quiet_native_stderr():
    import keras
    import tensorflow as tf

    tf.constant(0)  # the CUDA probe runs on first use, not at import

__all__ = ["keras", "tf", "quiet_native_stderr", "onednn_enabled", "onednn_setting"]
