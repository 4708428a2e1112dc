"""Paths, run profiles and seeds — the only place that knows where things live.

Everything is reached through configuration, never a hard-coded path:

- ``WIC_DATA_DIR``   folder that holds ``cifar-10-batches-py/`` (or that folder itself)
- ``WIC_HOME``       project root (defaults to the checkout this package lives in, else cwd)
- ``WIC_MODELS_DIR`` where trained models and their cards live (default ``<home>/models``)
- ``WIC_FIGURES_DIR`` where figures are written (default ``<home>/figures``)
- ``WIC_PROFILE``    ``full`` (default) or ``smoke``: the CI profile every notebook honours
"""

from __future__ import annotations

import os
import platform
import random
from pathlib import Path

CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
               "truck")

PROFILES = ("full", "smoke")
DEFAULT_SEED = 1337


def project_root() -> Path:
    """The project checkout: ``WIC_HOME``, else the source tree we were installed from, else cwd."""
    env = os.environ.get("WIC_HOME")
    if env:
        return Path(env).expanduser().resolve()
    here = Path(__file__).resolve()
    # src/wic/config.py -> project root is two levels above the package
    candidate = here.parents[2]
    if (candidate / "pyproject.toml").is_file() and (candidate / "src" / "wic").is_dir():
        return candidate
    return Path.cwd().resolve()


PATH_VARS = ("WIC_DATA_DIR", "WIC_HOME", "WIC_MODELS_DIR", "WIC_FIGURES_DIR", "WIC_RUNS_DIR",
             )


def absolutize_env() -> None:
    """Turn relative WIC_* folder variables into absolute ones, relative to *this* process's
    working directory — before starting kernels or workers that run in another folder
    (papermill runs notebooks in ``notebooks/``, where a relative path means something else)."""
    for var in PATH_VARS:
        value = os.environ.get(var)
        if value and not os.path.isabs(os.path.expanduser(value)):
            os.environ[var] = str(Path(value).expanduser().resolve())


def _dir_from_env(var: str, default: str) -> Path:
    env = os.environ.get(var)
    return Path(env).expanduser().resolve() if env else project_root() / default


def models_dir() -> Path:
    return _dir_from_env("WIC_MODELS_DIR", "models")


def figures_dir() -> Path:
    return _dir_from_env("WIC_FIGURES_DIR", "figures")


def runs_dir() -> Path:
    return _dir_from_env("WIC_RUNS_DIR", "runs")


def data_dir() -> Path | None:
    """The configured CIFAR-10 folder (``WIC_DATA_DIR``), or None when unset."""
    env = os.environ.get("WIC_DATA_DIR")
    if not env:
        return None
    path = Path(env).expanduser()
    if not path.is_absolute() and not path.exists():
        # A relative value set for the project folder, read by a kernel running in notebooks/
        # (JupyterLab, papermill): resolve it against the project root instead.
        from_root = project_root() / path
        if from_root.exists():
            return from_root.resolve()
    return path.resolve()


def profile() -> str:
    """The run profile: ``full`` unless ``WIC_PROFILE=smoke`` (what CI and nbval use)."""
    value = os.environ.get("WIC_PROFILE", "full").strip().lower() or "full"
    if value not in PROFILES:
        raise ValueError(f"WIC_PROFILE={value!r} is not a profile; accepted: {', '.join(PROFILES)}")
    return value


def is_smoke() -> bool:
    return profile() == "smoke"


def set_seed(seed: int = DEFAULT_SEED) -> int:
    """Seed Python, NumPy and the Keras backend so that a run is repeatable."""
    import numpy as np

    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % (2**32))
    try:
        import keras

        keras.utils.set_random_seed(seed)
    except ImportError:  # pragma: no cover - keras is a hard dependency
        pass
    return seed


def configure_threads(intra: int | None = None, inter: int | None = None) -> None:
    """Set TensorFlow's thread pools (must run before TF executes anything).

    Values come from the arguments, else ``WIC_TF_THREADS`` (intra-op), else TF's default
    (all cores). Sweeps with several workers give each worker ``cores // workers`` threads
    so they do not oversubscribe the machine.
    """
    intra = intra if intra is not None else _int_env("WIC_TF_THREADS")
    if intra is None and inter is None:
        return
    import tensorflow as tf

    try:
        if intra is not None:
            tf.config.threading.set_intra_op_parallelism_threads(int(intra))
        tf.config.threading.set_inter_op_parallelism_threads(int(inter if inter is not None else 1 if intra else 0))
    except RuntimeError:
        # TF is already initialised in this process; the setting can no longer change.
        pass


def _int_env(var: str) -> int | None:
    value = os.environ.get(var)
    if not value:
        return None
    try:
        return int(value)
    except ValueError as exc:
        raise ValueError(f"{var}={value!r} must be an integer") from exc


#: the CPU flags of bfloat16 in hardware: only with one of them does precision "auto" pick bf16
BF16_FLAGS = ("avx512_bf16", "amx_bf16")

#: TensorFlow's switch for its oneDNN ops (``wic.backend`` sets it where TensorFlow leaves them
#: off; benchmarks flip it in their child processes)
ONEDNN_VAR = "TF_ENABLE_ONEDNN_OPTS"


def cpu_info(cpuinfo: Path = Path("/proc/cpuinfo")) -> dict:
    """What this CPU is and which of its features decide our speed (read from /proc/cpuinfo).

    ``bf16`` is True when the CPU multiplies bfloat16 in hardware (AVX512_BF16 or AMX-BF16): only
    then does mixed bfloat16 training pay; without it oneDNN emulates bf16 and it is many times
    slower than float32 (measured on an AVX2-only EPYC). ``family`` and ``model_number`` are the
    CPU family and model numbers (``model`` is the name), where /proc/cpuinfo gives them."""
    info = {"model": platform.processor() or platform.machine(), "vendor": "", "flags": []}
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        text = ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if key == "model name" and info["model"] in ("", platform.machine()):
            info["model"] = value
        elif key == "vendor_id" and not info["vendor"]:
            info["vendor"] = value
        elif key in ("cpu family", "model") and value.isdigit():  # "model" is a number here
            info.setdefault("family" if key == "cpu family" else "model_number", int(value))
        elif key == "flags" and not info["flags"]:
            wanted = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16",
                      "amx_tile", "amx_int8")
            present = set(value.split())
            info["flags"] = [f for f in wanted if f in present]
    flags = set(info["flags"])
    info["bf16"] = bool(flags & set(BF16_FLAGS))
    info["kind"] = ("AMX" if "amx_bf16" in flags else "AVX-512 BF16" if "avx512_bf16" in flags
                    else "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags
                    else "baseline")
    info["cores"] = os.cpu_count()
    return info


def describe_cpu() -> str:
    """``AMD EPYC (AuthenticAMD, family 25 model 1), 2 cores, AVX2: no bf16 hardware`` — printed
    by benchmarks and kept in their CSVs. The family and model tell apart CPUs that share a
    name: an "AMD EPYC" is a Zen 1 or a Zen 3 or a Zen 4 (``experiments.results.cpu_kind``)."""
    c = cpu_info()
    bf16 = "bf16 in hardware" if c["bf16"] else "no bf16 hardware"
    where = c["vendor"] or "?"
    if "family" in c and "model_number" in c:
        where += f", family {c['family']} model {c['model_number']}"
    return f"{c['model']} ({where}), {c['cores']} cores, {c['kind']}: {bf16}"
