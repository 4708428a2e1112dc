"""TensorFlow and Keras, imported once, quietly: ``from wic.backend import keras, tf``.

Every module of the package that needs TensorFlow or Keras imports them from here, so the
logging environment is set in one place before TensorFlow is first loaded. TensorFlow >= 2.20
logs through absl before ``absl::InitializeLog``, which ``TF_CPP_MIN_LOG_LEVEL`` no longer
silences: on a CPU-only machine a student saw a red block ("Could not find cuda drivers",
"failed call to cuInit", oneDNN notices) above every notebook's first output. The import runs
with file descriptor 2 redirected; afterwards every line that is not one of those known start-up
notices is written back, so real errors still reach the person.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's own INFO/WARNING lines

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

__all__ = ["keras", "tf", "quiet_native_stderr"]
