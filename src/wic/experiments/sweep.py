"""Run a notebook over a grid of parameters with papermill; gather one table of results.

    from wic.experiments import sweep
    result = sweep.run_sweep("notebooks/03_training.ipynb",
                             {"learning_rate": [1e-3, 3e-3], "augment": [True, False]},
                             seeds=[0, 1, 2], out="sweeps/lr")
    result.table            # a DataFrame: run_id, status, parameters, metrics, wall time, errors

The same from the shell: ``wic sweep NOTEBOOK -p learning_rate 1e-3 3e-3 --seeds 0 1 2``.

**The plan.** Runs are the product of the grid (``-p name v1 v2 …`` and/or a YAML/JSON file
with a ``grid`` mapping, an explicit ``runs`` list, ``fixed`` values and ``seeds``), repeated
over the seeds (injected as the parameter ``seed``). Command-line values are typed by the
project's one parser (:mod:`wic.values`) against the type of the parameter's default in the
notebook: ``-p augment no`` is ``False``, ``-p epochs 2.5`` is refused; quote to force a string. Before anything runs, the plan is refused with :class:`SweepError` when it is empty, a
value does not parse, or a name is not assigned in the notebook's cell tagged ``parameters``.

**A run** executes ``OUT/runs/<run_id>/<notebook>.ipynb`` with ``kernel_name="python3"`` in the
notebook's own folder. Its kernel gets ``WIC_METRICS_FILE`` (where :func:`wic.record.record`
appends), ``WIC_SWEEP_RUN_ID``, a thread budget (``WIC_TF_THREADS``,
``TF_NUM_INTRAOP_THREADS``, ``OMP_NUM_THREADS``, … = cores // workers) so parallel runs do not
oversubscribe the machine, and ``WIC_MODELS_DIR``/``WIC_FIGURES_DIR``/``WIC_RUNS_DIR`` inside the
run folder, so runs neither overwrite each other's models and checkpoints nor the project's.
The kernel's own log (not the cells' output) goes to ``kernel.log`` there.
When it ends, ``result.json`` (parameters, metrics, status, wall time, failing cell and error)
is written atomically beside it, and the table ``OUT/runs.csv`` + ``OUT/runs.parquet`` is
rewritten. ``run_id`` is a hash of the notebook and the parameters: running the same sweep
again skips runs that finished ``ok`` and retries the others, so an interrupted sweep (Ctrl-C,
kill) loses no finished run. A failing run does not stop the sweep.

**Where runs execute.** A local pool of worker processes (default ``min(cores, runs)``), or
Dask: ``dask="local"`` starts a ``LocalCluster`` (one single-threaded worker process per slot);
``dask="tcp://host:8786"`` submits to an existing scheduler. Remote workers need the project
and the data at the same paths; results (executed notebook, metrics) travel back to the client,
so ``OUT`` need not be shared. Kernel starts are serialised per machine and retried when a
kernel fails to come up (papermill kernels started together can race for ZMQ ports).
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import itertools
import json
import math
import os
import re
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from wic import config, values
from wic.experiments import record as _record
from wic.files import atomic_replace, atomic_write_text

KERNEL_NAME = "python3"
RESULT_FILE = "result.json"
PLAN_FILE = "sweep.json"
TABLE_CSV = "runs.csv"
TABLE_PARQUET = "runs.parquet"
STATUS_OK, STATUS_FAILED, STATUS_PENDING = "ok", "failed", "pending"
RESERVED_COLUMNS = (
    "run_id", "status", "wall_time_s", "cells_time_s", "overhead_s", "error_cell",
    "error_name", "error_message", "error_source", "attempts", "notebook", "host", "threads",
    "started_at", "finished_at",
)
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class SweepError(ValueError):
    """A sweep that cannot run as asked (bad grid, unknown parameter, busy output folder)."""


# ----------------------------------------------------------------------------- values


class _Yaml12Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 core-schema scalars.

    PyYAML follows YAML 1.1: ``1e-3`` is a *string* there, ``no``/``off`` are booleans and
    ``2024-01-01`` a date. Here: true/false (any case form) are bools, ``null``/``~`` None,
    decimal integers without leading zeros ints, ``1e-3``/``.5``/``.inf`` floats; everything
    else stays a string.
    """


_DROPPED_TAGS = {f"tag:yaml.org,2002:{t}" for t in ("bool", "int", "float", "null", "timestamp")}
_Yaml12Loader.yaml_implicit_resolvers = {
    key: [(tag, rx) for tag, rx in resolvers if tag not in _DROPPED_TAGS]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:null", re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""])
_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"^[-+]?(?:0|[1-9][0-9]*)$"), list("-+0123456789"))
_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^(?:[-+]?(?:(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|[0-9]+[eE][-+]?[0-9]+)"
               r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"),
    list("-+0123456789."))


def _yaml_load(text: str):
    return yaml.load(text, Loader=_Yaml12Loader)  # noqa: S506 - a SafeLoader subclass


def parse_value(text: str, kind=None, name: str = "value"):
    """One command-line value: typed by ``kind`` (the notebook parameter's default type) with
    the project's one parser, :func:`wic.values.parse` (``true/false/yes/no/1/0`` for a boolean
    parameter, ``'quoted'`` for text); without a kind it is guessed the same way."""
    if not isinstance(text, str):
        return text
    try:
        return values.parse(text, kind, name)
    except values.ParameterError as exc:
        raise SweepError(str(exc)) from None


def _kind(default):
    """The type a parameter's default value implies (None: guess from the text)."""
    return type(default) if isinstance(default, (bool, int, float, str)) else None


def parse_cli_params(pairs: Iterable[Iterable[str]], defaults: Mapping | None = None
                     ) -> dict[str, list]:
    """``[["lr", "1e-3", "3e-3"], ["augment", "false"]]`` → ``{"lr": [0.001, 0.003], ...}``;
    ``defaults`` (name → the notebook's default) types each value."""
    grid: dict[str, list] = {}
    defaults = defaults or {}
    for pair in pairs or ():
        pair = list(pair)
        if not pair:
            continue
        name, texts = pair[0], pair[1:]
        if not texts:
            raise SweepError(f"-p {name}: no values given (empty grid); write -p {name} V1 [V2 ...]")
        if name in grid:
            raise SweepError(f"-p {name} is given twice; list all its values after one -p")
        grid[name] = [parse_value(t, _kind(defaults.get(name)), name) for t in texts]
    return grid


# ----------------------------------------------------------------------------- the plan


def expand_grid(grid: Mapping[str, Iterable]) -> list[dict]:
    """The product of a grid mapping, last name varying fastest; ``{}`` gives ``[{}]``."""
    names, lists = [], []
    for name, choices in grid.items():
        if isinstance(choices, (str, bytes, Mapping)) or not isinstance(choices, Iterable):
            choices = [choices]  # a single (fixed) value
        choices = list(choices)
        if not choices:
            raise SweepError(f"parameter {name!r} has an empty list of choices (empty grid)")
        names.append(name)
        lists.append(choices)
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*lists)]


def load_grid_file(path: str | os.PathLike) -> tuple[list[dict], list[int] | None]:
    """Runs and seeds from a YAML or JSON file.

    The file is a mapping with any of ``grid`` (name → list of values, or one fixed value),
    ``runs`` (a list of parameter mappings, each one run), ``fixed`` (values added to every
    run) and ``seeds`` (a list of ints). A file that is a plain mapping without those keys is
    a grid; a file that is a list is the runs. Runs = product(grid) + runs, each with fixed.
    """
    path = Path(path)
    if not path.is_file():
        raise SweepError(f"grid file {path} not found")
    text = path.read_text(encoding="utf-8")
    try:
        spec = json.loads(text) if path.suffix.lower() == ".json" else _yaml_load(text)
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        raise SweepError(f"grid file {path} does not parse: {str(exc).splitlines()[0]}") from None
    keys = {"grid", "runs", "fixed", "seeds"}
    if isinstance(spec, list):
        spec = {"runs": spec}
    elif isinstance(spec, dict) and not (set(spec) & keys):
        spec = {"grid": spec}
    if not isinstance(spec, dict):
        raise SweepError(f"grid file {path}: expected a mapping (grid/runs/fixed/seeds) or a "
                         f"list of runs, got {type(spec).__name__}")
    unknown = set(spec) - keys
    if unknown:
        raise SweepError(f"grid file {path}: unknown keys {sorted(unknown)}; accepted: "
                         "grid, runs, fixed, seeds")
    grid, runs, fixed = spec.get("grid") or {}, spec.get("runs"), spec.get("fixed") or {}
    if not isinstance(grid, dict) or not isinstance(fixed, dict):
        raise SweepError(f"grid file {path}: 'grid' and 'fixed' must be mappings name → values")
    if runs is not None and not (isinstance(runs, list) and all(isinstance(r, dict) for r in runs)):
        raise SweepError(f"grid file {path}: 'runs' must be a list of mappings name → value")
    seeds = spec.get("seeds")
    if seeds is not None and not (isinstance(seeds, list) and seeds
                                  and all(isinstance(s, int) and not isinstance(s, bool) for s in seeds)):
        raise SweepError(f"grid file {path}: 'seeds' must be a non-empty list of integers")
    planned = expand_grid(grid) if grid else []
    planned += list(runs or [])
    if not planned and runs is None and (fixed or seeds):
        planned = [{}]  # only fixed values and/or seeds: one run (per seed)
    if not planned:
        raise SweepError(f"grid file {path} defines no runs (empty grid)")
    return [{**fixed, **r} for r in planned], seeds


def plan_runs(params: Mapping[str, Iterable] | None = None, grid_file: str | os.PathLike | None = None,
              seeds: Iterable[int] | None = None) -> list[dict]:
    """Every run's parameters: file runs × command-line grid (which wins on a shared name) × seeds."""
    base, file_seeds = load_grid_file(grid_file) if grid_file else ([{}], None)
    cli = expand_grid(dict(params)) if params else [{}]
    seeds = list(seeds) if seeds is not None else file_seeds
    if not grid_file and not params and not seeds:
        raise SweepError("nothing to sweep (empty grid): give -p NAME VALUE..., --grid FILE or --seeds")
    runs = [{**b, **c} for b in base for c in cli]
    if seeds:
        if any("seed" in r for r in runs):
            raise SweepError("'seed' is both a grid parameter and given as --seeds/seeds; use one")
        runs = [{**r, "seed": int(s)} for s in seeds for r in runs]
    return runs


def declared_parameters(notebook: Path) -> list[str]:
    """Names assigned in the notebook's cell tagged ``parameters`` ([] when there is none).

    Read with Python's own parser: ``papermill.inspect_notebook`` skips lines its pattern
    cannot read (e.g. a comment holding a comma, ``# None = all 50,000``), which would refuse
    a real parameter. It is the fallback for a cell that is not plain Python.
    """
    nb = _read_json(notebook)
    if not isinstance(nb, dict):
        raise SweepError(f"cannot read notebook {notebook} (not a notebook file)")
    cell = next((c for c in nb.get("cells", []) if c.get("cell_type") == "code"
                 and "parameters" in c.get("metadata", {}).get("tags", [])), None)
    if cell is None:
        return []
    source = "".join(cell.get("source", "")) if isinstance(cell.get("source"), list) \
        else str(cell.get("source", ""))
    code = "\n".join(line for line in source.splitlines()
                     if not line.lstrip().startswith(("%", "!")))  # IPython magics
    try:
        tree = ast.parse(code)
    except SyntaxError:
        import papermill

        try:
            return list(papermill.inspect_notebook(str(notebook)))
        except Exception as exc:  # noqa: BLE001 - say which notebook and why
            raise SweepError(f"cannot read the parameters of {notebook}: {exc}") from None
    return list(_assigned(tree))


def _assigned(tree) -> dict:
    """name → default value (a literal, else None) of each assignment in a parameters cell."""
    out = {}
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else \
            [node.target] if isinstance(node, ast.AnnAssign) else []
        for t in targets:
            elts = t.elts if isinstance(t, (ast.Tuple, ast.List)) else [t]
            for e in elts:
                if isinstance(e, ast.Name):
                    try:
                        out[e.id] = ast.literal_eval(node.value) if len(elts) == 1 else None
                    except (ValueError, SyntaxError, TypeError):
                        out[e.id] = None
    return out


def declared_defaults(notebook: Path) -> dict:
    """name → default of every parameter the notebook declares (None where not a literal)."""
    nb = _read_json(notebook)
    cell = next((c for c in (nb or {}).get("cells", []) if c.get("cell_type") == "code"
                 and "parameters" in c.get("metadata", {}).get("tags", [])), None)
    if cell is None:
        return {}
    source = "".join(cell.get("source", "")) if isinstance(cell.get("source"), list) \
        else str(cell.get("source", ""))
    try:
        return _assigned(ast.parse("\n".join(
            line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))))
    except SyntaxError:
        return {n: None for n in declared_parameters(notebook)}


def check_parameters(notebook: Path, runs: list[dict]) -> list[str]:
    """Refuse names the notebook does not declare and values papermill cannot inject."""
    declared = declared_parameters(notebook)
    names = list(dict.fromkeys(n for r in runs for n in r))
    bad = [n for n in names if not _IDENTIFIER.match(str(n))]
    if bad:
        raise SweepError(f"parameter names must be Python identifiers: {bad}")
    unknown = [n for n in names if n not in declared]
    if unknown:
        if not declared:
            raise SweepError(f"{notebook.name} has no cell tagged 'parameters', so it accepts no "
                             f"parameters (given: {', '.join(unknown)})")
        raise SweepError(f"unknown parameter(s) {', '.join(map(repr, unknown))} for {notebook.name}; "
                         f"accepted: {', '.join(declared)}")
    defaults = declared_defaults(notebook)
    for r in runs:
        for name, value in r.items():
            kind = _kind(defaults.get(name))
            if kind in (bool, int, float) and value is not None:
                try:  # text from a grid file is parsed; a wrong type is refused by name
                    r[name] = value = values.check(name, value, kind)
                except values.ParameterError as exc:
                    raise SweepError(f"{notebook.name}: {exc}") from None
            try:
                json.dumps(value, allow_nan=True)
            except (TypeError, ValueError):
                raise SweepError(f"parameter {name}={value!r} is not a plain value "
                                 "(numbers, strings, booleans, null, lists, mappings)") from None
    return declared


def notebook_key(notebook: Path) -> str:
    """How a notebook enters run ids: its path inside the project, else its absolute path."""
    notebook = notebook.resolve()
    try:
        return notebook.relative_to(config.project_root()).as_posix()
    except ValueError:
        return notebook.as_posix()


def run_id(notebook: Path | str, params: Mapping) -> str:
    """A stable 12-hex-digit id of (notebook, parameters); key order does not matter."""
    key = notebook if isinstance(notebook, str) else notebook_key(notebook)
    blob = json.dumps({"notebook": key, "parameters": dict(params)}, sort_keys=True,
                      separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Run:
    run_id: str
    params: dict


# ----------------------------------------------------------------------------- one run


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def thread_env(threads: int) -> dict[str, str]:
    """Environment that caps a kernel's math libraries at ``threads`` threads."""
    n = str(max(1, int(threads)))
    return {"WIC_TF_THREADS": n, "TF_NUM_INTRAOP_THREADS": n, "TF_NUM_INTEROP_THREADS": "1",
            "OMP_NUM_THREADS": n, "MKL_NUM_THREADS": n, "OPENBLAS_NUM_THREADS": n}


_START_LOCK = threading.Lock()
_LIVE_KERNELS: set = set()  # Popen objects of kernels this process started and still runs


@contextlib.contextmanager
def _kernel_start_lock():
    """One kernel start at a time in this process and on this machine (ZMQ port races)."""
    with _START_LOCK:
        try:
            fh = open(Path(tempfile.gettempdir()) / "wic-sweep-kernel-start.lock", "a+")  # noqa: SIM115
        except OSError:
            yield
            return
        try:
            with contextlib.suppress(ImportError, OSError):
                import fcntl

                fcntl.flock(fh, fcntl.LOCK_EX)
            yield
        finally:
            fh.close()  # releases the flock


def _kernel_manager_class(extra_env: dict[str, str], procs: set, log: Path | None = None,
                          on_started=None):
    """An AsyncKernelManager whose kernels get ``extra_env`` and are started one at a time.

    The environment goes to this kernel only (no ``os.environ`` change, so concurrent runs in
    one Dask worker process cannot see each other's settings). The kernel's own stdout/stderr
    (not the cells' output, which the notebook keeps) go to ``log``. Started kernel processes
    are added to ``procs`` so a run timeout or a dying worker can kill them; ``on_started()``
    is called once the kernel listens.
    """
    from jupyter_client import AsyncKernelManager

    class SweepKernelManager(AsyncKernelManager):
        async def start_kernel(self, **kw):
            kw["env"] = {**(kw.get("env") or os.environ), **extra_env}
            with contextlib.ExitStack() as stack:
                if log is not None:
                    fh = stack.enter_context(open(log, "ab"))
                    kw.setdefault("stdout", fh)
                    kw.setdefault("stderr", fh)
                stack.enter_context(_kernel_start_lock())
                await super().start_kernel(**kw)
                proc = getattr(self.provisioner, "process", None)
                if proc is not None and hasattr(proc, "poll"):
                    procs.add(proc)
                    _LIVE_KERNELS.add(proc)
                    # hold the lock until the kernel listens: the next start on this machine
                    # then cannot be handed a port this kernel picked but has not bound yet
                    ports = [self.shell_port, self.iopub_port, self.stdin_port,
                             self.control_port, self.hb_port]
                    _wait_until_listening(proc, ports, timeout=10.0)
            if on_started is not None:
                with contextlib.suppress(RuntimeError):  # a restarted kernel: clock already runs
                    on_started()

    return SweepKernelManager


def _wait_until_listening(proc, ports: list[int], timeout: float) -> None:
    """Poll until process ``proc`` listens on all TCP ``ports`` (or dies, or time runs out)."""
    try:
        import psutil

        ps = psutil.Process(proc.pid)
        conns = getattr(ps, "net_connections", None) or ps.connections
    except Exception:  # noqa: BLE001 - psutil missing or the kernel already gone: do not wait
        return
    wanted = {int(p) for p in ports if p}
    deadline = time.monotonic() + timeout
    while wanted and time.monotonic() < deadline and proc.poll() is None:
        try:
            bound = {c.laddr.port for c in conns(kind="tcp") if c.laddr}
        except Exception:  # noqa: BLE001 - e.g. the process ended meanwhile
            return
        if wanted <= bound:
            return
        time.sleep(0.02)


def _kill_kernels(procs: Iterable) -> None:
    """SIGKILL kernels still running (a reaped process is skipped: its pid may be reused)."""
    for proc in list(procs):
        with contextlib.suppress(Exception):
            if proc.poll() is None:
                with contextlib.suppress(OSError):
                    os.killpg(proc.pid, signal.SIGKILL)  # own session: pgid == pid
                with contextlib.suppress(OSError):
                    proc.kill()
        _LIVE_KERNELS.discard(proc)


def _user_cells(nb: dict) -> list[dict]:
    """The executed notebook's cells without papermill's error banners."""
    return [c for c in nb.get("cells", [])
            if "papermill-error-cell-tag" not in c.get("metadata", {}).get("tags", [])]


def _source_index(cells: list[dict], index: int) -> int:
    """Executed-notebook cell index → index in the user's notebook (no injected-parameters cell)."""
    injected = sum(1 for c in cells[:index]
                   if "injected-parameters" in c.get("metadata", {}).get("tags", []))
    return index - injected


def _excerpt(source, lines: int = 6, chars: int = 400) -> str:
    text = "".join(source) if isinstance(source, list) else str(source or "")
    text = "\n".join(text.strip("\n").splitlines()[:lines])
    return text if len(text) <= chars else text[: chars - 1] + "…"


def _read_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _last_started_cell(cells: list[dict]) -> int | None:
    last = None
    for i, c in enumerate(cells):
        if c.get("cell_type") == "code" and c.get("metadata", {}).get("papermill", {}).get("start_time"):
            last = i
    return last


def _any_cell_started(nb_path: Path) -> bool:
    nb = _read_json(nb_path)
    return bool(nb) and _last_started_cell(_user_cells(nb)) is not None


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _threads_here(threads) -> int:
    if isinstance(threads, dict):  # Dask: a budget per worker address
        try:
            from distributed import get_worker

            return int(threads.get(get_worker().address) or threads.get("*") or 1)
        except (ImportError, ValueError):
            return int(threads.get("*") or 1)
    return int(threads or cpu_count())


def execute_run(task: dict) -> dict:
    """Execute one run (in a pool worker, a Dask worker or in-process); returns its result.

    ``task``: notebook, run_id, params, run_dir (None: a temporary folder whose notebook,
    metrics and kernel log are shipped back in the result under ``_files``), threads, timeout,
    start_timeout, retries, kernel_name, isolate (default True), env (extra kernel variables),
    write_result.
    """
    import papermill
    from papermill.exceptions import PapermillExecutionError

    notebook = Path(task["notebook"])
    ship = task.get("run_dir") is None
    run_dir = Path(tempfile.mkdtemp(prefix="wic-run-")) if ship else Path(task["run_dir"])
    run_dir.mkdir(parents=True, exist_ok=True)
    out_nb = run_dir / notebook.name
    metrics_file = run_dir / "metrics.jsonl"
    kernel_log = run_dir / "kernel.log"
    for stale in (out_nb, metrics_file, kernel_log):  # a retried run starts afresh
        stale.unlink(missing_ok=True)
    threads = _threads_here(task.get("threads"))
    env = {**thread_env(threads), _record.ENV_VAR: str(metrics_file),
           "WIC_SWEEP_RUN_ID": task["run_id"]}
    if task.get("isolate", True):  # models, figures, checkpoints of a run stay in its folder
        env.update({f"WIC_{kind.upper()}_DIR": str(run_dir / kind)
                    for kind in ("models", "figures", "runs")})
    env.update(task.get("env", {}))
    timeout = task.get("timeout")
    retries = int(task.get("retries", 2))

    started_at, t0 = _now(), time.perf_counter()
    status, error, attempts = STATUS_OK, None, 0
    missing = not notebook.is_file()  # e.g. a remote worker without the project at that path
    if missing:
        status, attempts = STATUS_FAILED, 1
        error = {"cell": None, "name": "FileNotFoundError", "source": "",
                 "message": f"notebook {notebook} not found on host {socket.gethostname()}"}
    while not missing:
        attempts += 1
        procs: set = set()
        timed_out = threading.Event()
        timer = None
        if timeout:
            def _expire(procs=procs, flag=timed_out):
                flag.set()
                _kill_kernels(procs)

            timer = threading.Timer(float(timeout), _expire)  # started with the kernel
            timer.daemon = True
        try:
            papermill.execute_notebook(
                str(notebook), str(out_nb), parameters=dict(task["params"]),
                kernel_name=task.get("kernel_name") or KERNEL_NAME, cwd=str(notebook.parent),
                progress_bar=False, log_output=False,
                start_timeout=float(task.get("start_timeout") or 60),
                kernel_manager_class=_kernel_manager_class(
                    env, procs, kernel_log, on_started=timer.start if timer else None),
                resources={"metadata": {"path": str(notebook.parent)}},
            )
            status, error = STATUS_OK, None
            break
        except PapermillExecutionError as exc:
            cells = _user_cells(_read_json(out_nb) or {})
            status = STATUS_FAILED
            error = {"cell": _source_index(cells, exc.cell_index), "name": exc.ename,
                     "message": str(exc.evalue)[:2000], "source": _excerpt(exc.source)}
            break
        except Exception as exc:  # noqa: BLE001 - kernel died, timed out, failed to start, ...
            started_cells = _any_cell_started(out_nb)
            if not started_cells and not timed_out.is_set() and attempts <= retries:
                time.sleep(0.5 * attempts + 0.5 * (os.getpid() % 7) / 7)  # stagger retries
                continue
            status = STATUS_FAILED
            cells = _user_cells(_read_json(out_nb) or {})
            idx = _last_started_cell(cells)
            if timed_out.is_set():
                name, msg = "RunTimeout", f"run exceeded the timeout of {timeout:g} s"
            else:
                name, msg = type(exc).__name__, str(exc) or repr(exc)
                if not started_cells:
                    msg = f"kernel did not start after {attempts} attempt(s): {msg}"
            error = {"cell": _source_index(cells, idx) if idx is not None else None,
                     "name": name, "message": msg[:2000],
                     "source": _excerpt(cells[idx].get("source")) if idx is not None else ""}
            break
        finally:
            if timer is not None:
                timer.cancel()
            _kill_kernels(procs)  # normally already gone; never leave one behind

    wall = time.perf_counter() - t0
    entries = _record.read_jsonl(metrics_file)
    nb = _read_json(out_nb) or {}
    if not entries and nb:
        entries = _record.read_notebook(nb)
    cells_time = sum(float(c.get("metadata", {}).get("papermill", {}).get("duration") or 0.0)
                     for c in nb.get("cells", []))
    result = {
        "run_id": task["run_id"], "notebook": str(notebook), "params": dict(task["params"]),
        "status": status, "metrics": _record.latest(entries), "wall_time_s": round(wall, 3),
        "cells_time_s": round(cells_time, 3), "error": error, "attempts": attempts,
        "output": out_nb.name, "host": socket.gethostname(), "threads": threads,
        "started_at": started_at, "finished_at": _now(),
    }
    if ship:
        result["_files"] = {p.name: p.read_text(encoding="utf-8") for p in (out_nb, metrics_file, kernel_log)
                            if p.is_file()}
        shutil.rmtree(run_dir, ignore_errors=True)
    elif task.get("write_result", True):
        atomic_write_text(run_dir / RESULT_FILE, json.dumps(result, indent=1, default=str))
    return result


# ----------------------------------------------------------------------------- the table


def _normalise_column(values: list):
    kinds = {type(v) for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))}
    if kinds <= {int, float} or len(kinds) <= 1 and not kinds & {list, dict}:
        return values
    return [None if v is None else v if isinstance(v, str) else json.dumps(v, default=str)
            for v in values]


def build_table(runs: list[Run], results: Mapping[str, dict]):
    """One row per planned run: parameters, metrics, status, timings, errors (a DataFrame)."""
    import pandas as pd

    param_names = list(dict.fromkeys(n for r in runs for n in r.params))
    metric_names = list(dict.fromkeys(n for r in runs for n in (results.get(r.run_id) or {})
                                      .get("metrics", {})))
    taken = set(param_names) | set(RESERVED_COLUMNS)
    metric_cols = {m: (f"metric_{m}" if m in taken else m) for m in metric_names}
    rows = []
    for r in runs:
        res = results.get(r.run_id) or {}
        err = res.get("error") or {}
        wall, cells = res.get("wall_time_s"), res.get("cells_time_s")
        row = {"run_id": r.run_id, "status": res.get("status", STATUS_PENDING)}
        row.update({n: r.params.get(n) for n in param_names})
        row.update({metric_cols[m]: res.get("metrics", {}).get(m) for m in metric_names})
        row.update({
            "wall_time_s": wall, "cells_time_s": cells,
            "overhead_s": round(wall - cells, 3) if wall is not None and cells is not None else None,
            "error_cell": err.get("cell"), "error_name": err.get("name"),
            "error_message": err.get("message"), "error_source": err.get("source"),
            "attempts": res.get("attempts"),
            "notebook": f"runs/{r.run_id}/{res['output']}" if res.get("output") else None,
            "host": res.get("host"), "threads": res.get("threads"),
            "started_at": res.get("started_at"), "finished_at": res.get("finished_at"),
        })
        rows.append(row)
    columns = ["run_id", "status", *param_names, *metric_cols.values(), *RESERVED_COLUMNS[2:]]
    df = pd.DataFrame(rows, columns=columns)
    for col in [*param_names, *metric_cols.values()]:
        df[col] = _normalise_column(df[col].tolist())
    df["error_cell"] = df["error_cell"].astype("Int64")
    df["attempts"] = df["attempts"].astype("Int64")
    df["threads"] = df["threads"].astype("Int64")
    return df


def has_parquet() -> bool:
    """Whether the optional Parquet writer (``pip install 'wic[cluster]'``) is installed."""
    import importlib.util

    return importlib.util.find_spec("pyarrow") is not None


def write_table(df, out: Path) -> tuple[Path, Path | None]:
    """``runs.csv`` always; ``runs.parquet`` too when pyarrow is installed (else None)."""
    csv_path, pq_path = out / TABLE_CSV, out / TABLE_PARQUET
    with atomic_replace(csv_path) as tmp:
        df.to_csv(tmp, index=False)
    if not has_parquet():
        return csv_path, None
    with atomic_replace(pq_path) as tmp:
        df.to_parquet(tmp, index=False, engine="pyarrow")
    return csv_path, pq_path


def load_table(out: str | os.PathLike):
    """The runs table of a sweep folder (Parquet if present, else CSV)."""
    import pandas as pd

    out = Path(out)
    if (out / TABLE_PARQUET).is_file():
        return pd.read_parquet(out / TABLE_PARQUET)
    if (out / TABLE_CSV).is_file():
        return pd.read_csv(out / TABLE_CSV)
    raise FileNotFoundError(f"no runs table in {out} (run a sweep into it first)")


# ----------------------------------------------------------------------------- executors


def _worker_init() -> None:
    """Pool worker: Ctrl-C is the parent's business; die (and take kernels along) with it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # already inherited; also when spawned later

    def on_term(signum, frame):
        _kill_kernels(_LIVE_KERNELS)
        os._exit(128 + signum)

    signal.signal(signal.SIGTERM, on_term)
    parent = os.getppid()

    def watch_parent():
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:  # the sweep was killed: do not linger
                on_term(signal.SIGTERM, None)

    threading.Thread(target=watch_parent, daemon=True).start()


@contextlib.contextmanager
def _sigint_ignored():
    """Worker processes started in here inherit an ignored SIGINT: Ctrl-C is for this process,
    which then stops them (and they their kernels) without a traceback from each."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


def _run_pool(tasks: list[dict], workers: int, on_result) -> None:
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    pool = ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"),
                               initializer=_worker_init)
    with _sigint_ignored():  # the worker processes are spawned on submit
        futures = {pool.submit(execute_run, t): t for t in tasks}
    try:
        for fut in as_completed(futures):
            try:
                res = fut.result()
            except Exception as exc:  # noqa: BLE001 - a worker process died
                res = _lost_result(futures[fut], exc)
            on_result(res)
    except BaseException:  # Ctrl-C / kill: stop the workers, which kill their kernels
        procs = list((getattr(pool, "_processes", None) or {}).values())
        for proc in procs:
            with contextlib.suppress(Exception):
                proc.terminate()
        pool.shutdown(wait=False, cancel_futures=True)
        for proc in procs:
            with contextlib.suppress(Exception):
                proc.join(5)
        raise
    pool.shutdown(wait=True)


def _cpu_count_on_worker() -> int:
    return cpu_count()


def _dask_client(address: str, workers: int):
    import logging

    from distributed import Client, LocalCluster

    if address == "local":
        with _sigint_ignored():
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                   dashboard_address=None, silence_logs=logging.ERROR)
        return Client(cluster), cluster
    try:
        return Client(address, timeout=20), None
    except OSError as exc:
        raise SweepError(f"cannot reach the Dask scheduler at {address}: {exc}") from None


def _dask_thread_budget(client) -> dict[str, int]:
    """Per worker: its host's cores // the worker threads on that host."""
    info = client.scheduler_info().get("workers", {})
    cores = client.run(_cpu_count_on_worker)
    per_host: dict[str, int] = {}
    for w in info.values():
        per_host[w.get("host")] = per_host.get(w.get("host"), 0) + int(w.get("nthreads") or 1)
    return {addr: max(1, int(cores.get(addr, 1)) // max(1, per_host.get(w.get("host"), 1)))
            for addr, w in info.items()}


def _run_dask(tasks: list[dict], address: str, workers: int, on_result,
              threads: int | None = None) -> None:
    from distributed import as_completed

    client, cluster = _dask_client(address, workers)
    futures: dict = {}
    try:
        budget = _dask_thread_budget(client)
        if not budget:
            raise SweepError(f"the Dask scheduler at {address} has no workers")
        budget = {"*": threads} if threads else {**budget, "*": min(budget.values())}
        for t in tasks:
            t = {**t, "threads": budget}
            if cluster is None:  # remote workers: results travel back, OUT need not be shared
                t["run_dir"] = None
            fut = client.submit(execute_run, t, key=f"wic-sweep-{t['run_id']}-{time.time_ns()}",
                                pure=False, retries=0)
            futures[fut] = t
        for fut in as_completed(list(futures)):
            try:
                res = fut.result()
            except Exception as exc:  # noqa: BLE001 - KilledWorker, lost connection, ...
                res = _lost_result(futures[fut], exc)
            on_result(res)
    finally:
        with contextlib.suppress(Exception):
            client.cancel(list(futures), force=True)
        client.close()
        if cluster is not None:
            cluster.close()


def _lost_result(task: dict, exc: BaseException) -> dict:
    return {"run_id": task["run_id"], "notebook": task["notebook"], "params": task["params"],
            "status": STATUS_FAILED, "metrics": {}, "wall_time_s": None, "cells_time_s": None,
            "error": {"cell": None, "name": type(exc).__name__,
                      "message": f"worker lost: {exc}"[:2000], "source": ""},
            "attempts": 1, "output": None, "host": None, "threads": None,
            "started_at": None, "finished_at": _now()}


# ----------------------------------------------------------------------------- the sweep


@dataclass
class SweepResult:
    out: Path
    table_csv: Path
    table_parquet: Path
    table: object  # pandas.DataFrame
    ok: int = 0
    failed: int = 0
    skipped: int = 0
    pending: int = 0
    wall_time_s: float = 0.0
    failures: list[dict] = field(default_factory=list)

    def summary(self) -> str:
        parts = [f"{self.ok} ok", f"{self.failed} failed", f"{self.skipped} skipped (already done)"]
        if self.pending:
            parts.append(f"{self.pending} not run")
        return f"{len(self.table)} runs: " + ", ".join(parts) + f" in {self.wall_time_s:.1f} s"


@contextlib.contextmanager
def _exclusive(out: Path):
    """Refuse two sweeps writing into the same folder at once."""
    fh = open(out / ".lock", "a+")  # noqa: SIM115 - held for the sweep
    try:
        try:
            import fcntl

            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except ImportError:  # pragma: no cover - not POSIX
            pass
        except OSError:
            raise SweepError(f"another sweep is writing into {out}; wait for it or use --out") from None
        yield
    finally:
        fh.close()


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """``kill PID`` stops a sweep like Ctrl-C does: finished runs kept, workers stopped."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def default_out(notebook: Path) -> Path:
    return config.project_root() / "sweeps" / notebook.stem


def run_sweep(
    notebook: str | os.PathLike,
    params: Mapping[str, Iterable] | None = None,
    grid_file: str | os.PathLike | None = None,
    *,
    seeds: Iterable[int] | None = None,
    out: str | os.PathLike | None = None,
    workers: int | None = None,
    dask: str | None = None,
    timeout: float | None = None,
    start_timeout: float = 60,
    retries: int = 2,
    threads: int | None = None,
    progress: bool = True,
    kernel_name: str = KERNEL_NAME,
) -> SweepResult:
    """Run ``notebook`` over the plan (see the module docstring); returns the gathered table.

    ``params`` maps names to lists of Python values (or one value); unlike command-line
    values they are used as given, not parsed (:func:`parse_cli_params` does that). ``seeds``
    repeats every run with the parameter ``seed``. ``timeout`` limits each run's wall time
    in seconds, counted from when its kernel is up (then the kernel is killed and the run
    recorded as failed with the cell it was in; kernel start-up has ``start_timeout``).
    ``threads`` overrides the per-run thread budget (default cores // workers). ``retries``:
    extra attempts for a run whose kernel did not start (never for a failing cell).
    Ctrl-C or SIGTERM stops the sweep: finished runs stay recorded, then KeyboardInterrupt.
    """
    config.absolutize_env()  # kernels run in the notebook's folder, not ours
    t_start = time.perf_counter()
    notebook = Path(notebook).expanduser()
    if notebook.suffix != ".ipynb" or not notebook.is_file():
        raise SweepError(f"notebook {notebook} not found (expected an existing .ipynb file)")
    notebook = notebook.resolve()
    if workers is not None and workers < 1:
        raise SweepError(f"--workers {workers}: accepted: an integer >= 1")
    if dask is not None and dask != "local" and not re.match(r"^(tcp|tls|ws|wss|inproc|ucx)://", dask):
        raise SweepError(f"--dask {dask!r}: accepted: 'local' or a scheduler address such as "
                         "tcp://host:8786")
    if dask is not None:
        import importlib.util

        if importlib.util.find_spec("distributed") is None:
            raise SweepError("--dask needs Dask's distributed scheduler, which is an optional "
                             "extra: pip install 'wic[cluster]'")
    if timeout is not None and not timeout > 0:
        raise SweepError(f"--timeout {timeout}: accepted: a number of seconds > 0")
    plan = plan_runs(params, grid_file, seeds)
    check_parameters(notebook, plan)
    key = notebook_key(notebook)
    runs = list({(rid := run_id(key, p)): Run(rid, p) for p in plan}.values())

    out = Path(out).expanduser().resolve() if out else default_out(notebook)
    (out / "runs").mkdir(parents=True, exist_ok=True)
    with _exclusive(out), _sigterm_as_interrupt():
        atomic_write_text(out / PLAN_FILE, json.dumps({
            "notebook": str(notebook), "notebook_key": key, "created_at": _now(),
            "runs": [{"run_id": r.run_id, "params": r.params} for r in runs]},
            indent=1, default=str))
        results: dict[str, dict] = {}
        todo: list[Run] = []
        for r in runs:
            prev = _read_json(out / "runs" / r.run_id / RESULT_FILE)
            if prev and prev.get("status") == STATUS_OK and prev.get("params") == json.loads(
                    json.dumps(r.params, default=str)):
                results[r.run_id] = prev
            else:
                todo.append(r)
                if prev:
                    results[r.run_id] = prev  # the failed attempt shows until it is redone
        skipped = len(runs) - len(todo)

        n_workers = workers or max(1, min(cpu_count(), len(todo)))
        budget = threads or max(1, cpu_count() // n_workers)
        tasks = [{"notebook": str(notebook), "run_id": r.run_id, "params": r.params,
                  "run_dir": str(out / "runs" / r.run_id), "threads": budget,
                  "timeout": timeout, "start_timeout": start_timeout, "retries": retries,
                  "kernel_name": kernel_name} for r in todo]

        counts = {STATUS_OK: 0, STATUS_FAILED: 0}
        from tqdm.auto import tqdm

        bar = tqdm(total=len(runs), initial=skipped, desc=f"sweep {notebook.stem}", unit="run",
                   disable=not progress, file=sys.stderr, dynamic_ncols=True)

        def on_result(res: dict) -> None:
            files = res.pop("_files", None)
            run_dir = out / "runs" / res["run_id"]
            if files is not None:  # shipped back from a remote worker
                run_dir.mkdir(parents=True, exist_ok=True)
                for name, text in files.items():
                    atomic_write_text(run_dir / name, text)
            if files is not None or not (run_dir / RESULT_FILE).is_file() or \
                    _read_json(run_dir / RESULT_FILE) != json.loads(json.dumps(res, default=str)):
                atomic_write_text(run_dir / RESULT_FILE, json.dumps(res, indent=1, default=str))
            results[res["run_id"]] = res
            counts[res["status"]] = counts.get(res["status"], 0) + 1
            with contextlib.suppress(Exception):  # a table write must not lose the sweep
                write_table(build_table(runs, results), out)
            bar.set_postfix(ok=counts[STATUS_OK], failed=counts[STATUS_FAILED], refresh=False)
            bar.update(1)

        try:
            if tasks:
                if dask:
                    _run_dask(tasks, dask, n_workers, on_result, threads)
                else:
                    _run_pool(tasks, n_workers, on_result)
        finally:
            bar.close()
            for r in todo:  # the files are the truth: a run may have ended as we were stopped
                res = _read_json(out / "runs" / r.run_id / RESULT_FILE)
                if res:
                    results[r.run_id] = res
            table = build_table(runs, results)
            csv_path, pq_path = write_table(table, out)

    done_now = {r.run_id for r in todo}
    failures = [results[rid] for rid in done_now if results.get(rid, {}).get("status") == STATUS_FAILED]
    return SweepResult(
        out=out, table_csv=csv_path, table_parquet=pq_path, table=table,
        ok=counts[STATUS_OK], failed=counts[STATUS_FAILED], skipped=skipped,
        pending=int((table["status"] == STATUS_PENDING).sum()),
        wall_time_s=time.perf_counter() - t_start, failures=failures,
    )
