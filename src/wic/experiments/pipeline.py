"""Run the ordered notebooks with papermill into a fresh output folder (``wic pipeline``).

Each notebook is executed in its own folder's working directory with the ``python3`` kernel
of this environment; the executed copy and a log land in ``runs/pipeline/<stamp>-<profile>/``.
The ``smoke`` profile (``WIC_PROFILE=smoke``, what CI runs) makes every notebook finish in
seconds and keeps its figures and models inside the output folder, so the committed ones are
untouched; the ``full`` profile runs the default parameters and rewrites ``figures/`` —
that is how the committed figures are reproduced.
"""

from __future__ import annotations

import csv
import os
import re
import time
from pathlib import Path

from wic import config

PIPELINE = (
    "01_data_exploration.ipynb",
    "02_model_construction.ipynb",
    "03_training.ipynb",
    "04_tuning_ablations.ipynb",
    "05_evaluation.ipynb",
    "06_interactive_classifier.ipynb",
    "07_fast_recipe.ipynb",
)


def notebooks_dir() -> Path:
    return config.project_root() / "notebooks"


def run_pipeline(profile: str = "smoke", out: Path | None = None, only: list[str] | None = None,
                 parameters: dict[str, dict] | None = None, timeout: int | None = None,
                 publish: bool = False) -> Path:
    """Execute the notebooks in order; stop at the first failure (raising it).

    ``publish=True`` (full profile only) copies each executed notebook back over its source
    in ``notebooks/``, with the outputs of ``dataset-images`` cells stripped — that is how
    the committed notebooks get the outputs of a real full run.
    """
    if publish and profile != "full":
        raise ValueError("publish=True needs the full profile (smoke outputs are not for readers)")
    import papermill as pm
    from tqdm.auto import tqdm

    if profile not in config.PROFILES:
        raise ValueError(f"profile {profile!r} is not one of {', '.join(config.PROFILES)}")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = Path(out) if out else config.runs_dir() / "pipeline" / f"{stamp}-{profile}"
    out.mkdir(parents=True, exist_ok=True)
    nb_dir = notebooks_dir()
    selected = [n for n in PIPELINE if (nb_dir / n).is_file()]
    if only:
        wanted = {o.split("_")[0].removesuffix(".ipynb") for o in only}
        unknown = wanted - {n.split("_")[0] for n in selected}
        if unknown:
            raise ValueError(f"unknown notebooks {sorted(unknown)}; accepted: "
                             + ", ".join(n.split("_")[0] for n in selected))
        selected = [n for n in selected if n.split("_")[0] in wanted]

    env_before = dict(os.environ)
    config.absolutize_env()
    os.environ["WIC_PROFILE"] = profile
    if profile == "smoke":  # keep the committed figures, models and runs untouched
        os.environ["WIC_FIGURES_DIR"] = str(out / "figures")
        os.environ["WIC_RUNS_DIR"] = str(out / "runs")
    try:
        bar = tqdm(selected, desc=f"pipeline ({profile})", unit="notebook")
        for name in bar:
            bar.set_postfix_str(name)
            t0 = time.perf_counter()
            log = out / f"{Path(name).stem}.log"
            os.environ["WIC_COMMAND"] = (f"wic pipeline --profile {profile} --only "
                                         f"{name.split('_')[0]} (runs notebooks/{name})")
            with open(log, "w") as fh:
                try:
                    pm.execute_notebook(
                        str(nb_dir / name), str(out / name),
                        parameters=(parameters or {}).get(name, {}),
                        kernel_name="python3", cwd=str(nb_dir), log_output=True,
                        stdout_file=fh, stderr_file=fh, progress_bar=False,
                        execution_timeout=timeout,
                    )
                finally:
                    fh.write(f"\n[wic] {name}: {time.perf_counter() - t0:.1f} s\n")
            tqdm.write(f"  {name}: {time.perf_counter() - t0:.1f} s -> {out / name}")
            if publish:
                from wic.experiments import nbtools

                nbtools.strip_for_commit(out / name, nb_dir / name)
    finally:
        os.environ.clear()
        os.environ.update(env_before)
    if publish and not only:  # a whole course published: its times go in the README
        record_times(out)
    return out


TIMES_CSV = Path("benchmarks/results/pipeline_times.csv")
TIMES_BEGIN, TIMES_END = "<!-- pipeline-times:begin -->", "<!-- pipeline-times:end -->"
_LOGGED = re.compile(r"^\[wic\] (\S+\.ipynb): ([\d.]+) s$", re.M)


def notebook_times(run_dir: Path) -> dict[str, float]:
    """Seconds per notebook of a pipeline run, read from the line each log ends with."""
    times = {}
    for log in sorted(Path(run_dir).glob("*.log")):
        for name, secs in _LOGGED.findall(log.read_text(errors="replace")):
            times[name] = float(secs)
    return times


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


def record_times(run_dir: Path, root: Path | None = None) -> str:
    """Append a full run's per-notebook times to ``benchmarks/results/pipeline_times.csv`` and
    rewrite the README's pipeline-times line from them; returns that line.

    Refused unless every notebook of :data:`PIPELINE` has a time: a partial run is not a
    course's time."""
    root = root or config.project_root()
    times = notebook_times(run_dir)
    missing = [n for n in PIPELINE if n not in times]
    if missing:
        raise ValueError(f"{run_dir} has no time for {', '.join(missing)}: not a whole run")
    csv_path = root / TIMES_CSV
    new = not csv_path.is_file()
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    cpu, stamp = config.describe_cpu(), Path(run_dir).name
    with open(csv_path, "a", newline="") as fh:
        w = csv.writer(fh)
        if new:
            w.writerow(["run", "cpu", "notebook", "seconds"])
        for name in PIPELINE:
            w.writerow([stamp, cpu, name, times[name]])
    total = sum(times[n] for n in PIPELINE)
    parts = " · ".join(f"{n[:2]} {_duration(times[n])}" for n in PIPELINE)
    line = (f"The last published full run (`{stamp}`) took **{total / 60:.1f} min** for the {len(PIPELINE)} "
            f"notebooks ({parts}) on {cpu}; setting up `.venv` on a fresh machine comes on top. "
            f"Every run: `{TIMES_CSV.as_posix()}`.")
    from wic import cards

    cards.replace_block(root / "README.md", TIMES_BEGIN, TIMES_END, line)
    return line
