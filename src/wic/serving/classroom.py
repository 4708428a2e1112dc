"""The classifier page for a whole class: notebook 06 served by Voilà, one cheap kernel per tab.

    python -m wic.serving.classroom                 # what `make app` runs: http://127.0.0.1:8866
    python -m wic.serving.classroom --capacity 40 --port 9000
    python -m wic.serving.classroom --print-argv    # the Voilà command line, nothing started

Every Voilà flag of the page lives in :func:`voila_argv` (the Makefile, the browser test and
``benchmarks/page_load.py`` all start the page through this module). What it adds to Voilà:

**Cheap visitors.** Each tab still gets its own kernel (no visitor ever sees another's
uploads), but the kernel classifies with the model exported to ONNX and run by onnxruntime
(``WIC_SERVING_BACKEND=onnx``): no TensorFlow is imported, so a kernel is ~0.1 GB instead of
~1.2 GB and starts in about a second instead of ten. Measured against the previous design
(Keras in every kernel) by ``benchmarks/page_load.py``; the README has the figures and why a
shared inference process was not needed.

**A capacity.** At most ``capacity`` visitors hold a kernel at once (default
:data:`CAPACITY`). Visitor number ``capacity + 1`` gets a short page (HTTP 503,
``Retry-After``) saying the classroom is full and retrying by itself, instead of a kernel that
would push the machine towards the out-of-memory killer. The warm pool is only refilled
while seats + warm kernels stay below ``capacity + SPARE_KERNELS``, so memory is bounded by
that many kernels plus the server. The bookkeeping (:class:`Classroom`)
counts a seat from the moment a page request is admitted — before its kernel exists, so 40
requests arriving in the same second cannot all slip past the check — until its kernel is shut
down (tab closed, or culled).

**Idle seats come back.** A kernel with no activity for ``idle_minutes`` is shut down even
if its tab is still open (``cull_connected``): a forgotten tab does not hold a seat for the
rest of the day. The page says so.

**Explanations on demand, bounded.** Saliency and Grad-CAM need gradients, i.e. TensorFlow;
a kernel loads it only when its visitor asks for one, and at most :data:`EXPLAIN_SEATS` kernels
may hold it at once (a lock file each in a folder this server creates, released when the
kernel exits): a class that all clicks "Saliency" gets a clear "try again shortly" message
for the extra visitors instead of 30 TensorFlow imports.
"""

from __future__ import annotations

import argparse
import contextvars
import inspect
import os
import sys
import tempfile
from pathlib import Path

from wic import config

CAPACITY = 30  # visitors at once: a class; a kernel is ~0.1 GB, so 30 fit well within 6 GB
# Warm kernels (started, notebook already run) waiting for visitors: by default one per seat,
# started when the page starts (the teacher opens it before the class arrives). Measured: a
# cold kernel costs ~1.8 s of CPU to start, a warm page ~0.2 s of server CPU; a class of 30
# arriving within a minute on 2 cores cannot afford 30 cold starts on top of 30 browsers.
POOL_SIZE = CAPACITY
FILL_DELAY_S = 1.0  # a taken warm kernel is replaced after this long (no TF: cheap)
SPARE_KERNELS = 1  # warm kernels are only refilled while seats + warm kernels < capacity + this
IDLE_MINUTES = 15  # a kernel idle this long is shut down, even with its tab open
EXPLAIN_SEATS = 3  # kernels that may hold TensorFlow for explanations at once (~0.8 GB each)
RETRY_AFTER_S = 30  # the "classroom is full" page retries by itself after this long
NOTEBOOK = "notebooks/06_interactive_classifier.ipynb"
BACKENDS = ("onnx", "keras")

# the admission ticket of the page request being served (read where its kernel is assigned)
_TICKET: contextvars.ContextVar[object | None] = contextvars.ContextVar("wic_ticket", default=None)


# ----------------------------------------------------------------------------- bookkeeping


class Classroom:
    """Who holds a seat: kernels handed to visitors, plus requests admitted but not yet seated.

    Pure bookkeeping (no Voilà): ``admit`` gives a ticket or None (full), ``seat`` binds a
    ticket to the kernel it got, ``release`` ends a request (a ticket that never got a kernel
    frees its seat). Kernels that no longer exist are dropped whenever seats are counted.
    ``capacity=0`` means no limit (the previous design, for comparisons).
    """

    def __init__(self, capacity: int):
        if int(capacity) < 0:
            raise ValueError(f"capacity={capacity!r}; accepted: 0 (no limit) or a positive number")
        self.capacity = int(capacity)
        self.visitors: set[str] = set()
        self._pending: set[object] = set()
        self.admitted = 0
        self.refused = 0

    def seats_taken(self, live_kernel_ids) -> int:
        self.visitors &= set(live_kernel_ids)
        return len(self.visitors) + len(self._pending)

    def admit(self, live_kernel_ids) -> object | None:
        if self.capacity and self.seats_taken(live_kernel_ids) >= self.capacity:
            self.refused += 1
            return None
        ticket = object()
        self._pending.add(ticket)
        self.admitted += 1
        return ticket

    def seat(self, ticket: object | None, kernel_id: str) -> None:
        if ticket is not None and ticket in self._pending:
            self._pending.discard(ticket)
            self.visitors.add(kernel_id)

    def release(self, ticket: object) -> None:
        self._pending.discard(ticket)

    def __repr__(self):
        cap = self.capacity or "no limit"
        return (f"Classroom({len(self.visitors)} seated, {len(self._pending)} arriving, "
                f"capacity {cap}, {self.admitted} admitted, {self.refused} refused)")


def attach(room: Classroom, kernel_manager) -> None:
    """Seat visitors where Voilà hands them a kernel: a fresh one, or one from the warm pool.

    Wraps the two instance methods the page handler calls (the pool's own refills call the
    class's ``start_kernel`` through ``super()``, so they are not counted as visitors), and the
    pool's refill, which is skipped once seats + warm kernels reach capacity + SPARE_KERNELS.
    """
    start_kernel = kernel_manager.start_kernel

    async def seated_start_kernel(*args, **kwargs):
        kernel_id = start_kernel(*args, **kwargs)
        if inspect.isawaitable(kernel_id):
            kernel_id = await kernel_id
        room.seat(_TICKET.get(), kernel_id)
        return kernel_id

    kernel_manager.start_kernel = seated_start_kernel
    rendered = getattr(kernel_manager, "get_rendered_notebook", None)
    if rendered is not None:
        async def seated_rendered_notebook(*args, **kwargs):
            task, cache, kernel_id = await rendered(*args, **kwargs)
            room.seat(_TICKET.get(), kernel_id)
            return task, cache, kernel_id

        kernel_manager.get_rendered_notebook = seated_rendered_notebook
    fill = getattr(kernel_manager, "fill_if_needed", None)
    if fill is not None and room.capacity:
        def bounded_fill(*args, **kwargs):
            """Refill the warm pool only while it and the seats stay within the capacity (+1):
            memory stays bounded by (capacity + spare) kernels however long the class runs."""
            pools = getattr(kernel_manager, "_pools", {})
            warm = sum(len(p) for p in pools.values())
            if room.seats_taken(kernel_manager.list_kernel_ids()) + warm < room.capacity + SPARE_KERNELS:
                return fill(*args, **kwargs)
            return None

        kernel_manager.fill_if_needed = bounded_fill


def full_page_html(capacity: int, retry_s: int = RETRY_AFTER_S) -> str:
    """What visitor ``capacity + 1`` sees: plain HTML, no kernel, retries by itself."""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="{int(retry_s)}">
<title>The classroom is full</title>
<style>body{{font-family:system-ui,sans-serif;max-width:36em;margin:4em auto;padding:0 1em;
color:#222;line-height:1.5}} h1{{font-size:1.5em}} .wic-full{{color:#555}}</style></head>
<body><div id="wic-classroom-full" class="wic-full-page">
<h1>The classroom is full</h1>
<p>All {int(capacity)} seats of this classifier page are taken right now.
Please try again shortly: this page tries again by itself every {int(retry_s)} seconds.</p>
<p class="wic-full">A seat comes free when someone closes their tab, or after
{IDLE_MINUTES} minutes without activity.</p></div></body></html>
"""


# ----------------------------------------------------------------------------- Voilà


def voila_argv(notebook: str | os.PathLike = NOTEBOOK, *, port: int = 8866,
               capacity: int = CAPACITY, pool_size: int = POOL_SIZE,
               fill_delay: float = FILL_DELAY_S, idle_minutes: float = IDLE_MINUTES) -> list[str]:
    """The one place the page's Voilà flags are written down (each with its reason)."""
    return [
        str(notebook), f"--port={int(port)}", "--no-browser", "--Voila.ip=127.0.0.1",
        # warm kernels with the notebook already run: the page is ready at once
        "--preheat_kernel=True", f"--pool_size={int(pool_size)}",
        f"--VoilaKernelManager.fill_delay={float(fill_delay)}",
        # never show a traceback to a visitor (the app logs them to the server's terminal)
        "--show_tracebacks=False",
        # idle kernels are shut down, open tab or not, and their memory comes back
        "--MappingKernelManager.cull_interval=60",
        f"--MappingKernelManager.cull_idle_timeout={int(idle_minutes * 60)}",
        "--MappingKernelManager.cull_connected=True",
        f"--ClassroomVoila.capacity={int(capacity)}",
        # uploads up to the 50 MB wic.serving accepts (tornado's websocket default is 10 MB)
        '--Voila.tornado_settings={"websocket_max_message_size": 104857600}',
    ]


def _voila_classes():
    """The Voilà subclasses, defined on first use (Voilà is the ``app`` extra, imported late)."""
    from traitlets import Integer
    from voila.app import Voila
    from voila.tornado.handler import TornadoVoilaHandler

    class ClassroomHandler(TornadoVoilaHandler):
        """The page handler with a door: admitted (and seated), or the 'classroom is full' page."""

        async def get(self, path=None):
            room: Classroom | None = self.settings.get("wic_classroom")
            if room is None or path:  # a file below the notebook: no kernel, no seat
                return await super().get(path)
            ticket = room.admit(self.kernel_manager.list_kernel_ids())
            if ticket is None:
                self.log.warning("classroom full: refused a visitor (%r)", room)
                self.set_status(503)
                self.set_header("Retry-After", str(RETRY_AFTER_S))
                self.set_header("Cache-Control", "no-cache, no-store, must-revalidate")
                self.set_header("Content-Type", "text/html; charset=utf-8")
                self.finish(full_page_html(room.capacity))
                return None
            # Voilà's page frees its kernel when the tab closes with a beacon that must carry the
            # _xsrf cookie; its own templates never set it (every such beacon got a 403 and the
            # kernel lived on until culled). Reading the token sets the cookie.
            _ = self.xsrf_token
            token = _TICKET.set(ticket)
            try:
                return await super().get(path)
            finally:
                _TICKET.reset(token)
                room.release(ticket)
                self.log.info("classroom: %r", room)

    class ClassroomVoila(Voila):
        """Voilà with a capacity (see the module docstring)."""

        capacity = Integer(CAPACITY, config=True,
                           help="Visitors holding a kernel at once (0: no limit); the next "
                                "one gets the 'classroom is full' page.")

        def init_settings(self):
            settings = super().init_settings()
            self.classroom = Classroom(self.capacity)
            attach(self.classroom, self.kernel_manager)
            settings["wic_classroom"] = self.classroom
            return settings

        def init_handlers(self):
            return [(h[0], ClassroomHandler, *h[2:]) if h[1] is TornadoVoilaHandler else h
                    for h in super().init_handlers()]

    return ClassroomVoila, ClassroomHandler


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m wic.serving.classroom",
        description="Serve the classifier page (notebook 06) for a class: one ONNX kernel per "
                    "tab, a capacity, idle culling.")
    p.add_argument("--port", type=int, default=8866)
    p.add_argument("--capacity", type=int, default=CAPACITY,
                   help=f"visitors at once (default {CAPACITY}; 0: no limit)")
    p.add_argument("--pool-size", type=int, default=None,
                   help="warm kernels waiting for visitors (default: one per seat, --capacity)")
    p.add_argument("--fill-delay", type=float, default=FILL_DELAY_S)
    p.add_argument("--idle-minutes", type=float, default=IDLE_MINUTES)
    p.add_argument("--backend", choices=BACKENDS, default="onnx",
                   help="how kernels classify: onnx (no TensorFlow; default) or keras")
    p.add_argument("--explain-seats", type=int, default=EXPLAIN_SEATS,
                   help="kernels that may load TensorFlow for explanations at once")
    p.add_argument("--notebook", default=str(config.project_root() / NOTEBOOK))
    p.add_argument("--print-argv", action="store_true",
                   help="print the Voilà command line and exit")
    args = p.parse_args(argv)
    for name in ("capacity", "pool_size", "explain_seats"):
        if getattr(args, name) is not None and getattr(args, name) < 0:
            p.error(f"--{name.replace('_', '-')}={getattr(args, name)} is invalid; accepted: 0 or more")
    if args.idle_minutes <= 0 or args.fill_delay < 0:
        p.error("--idle-minutes must be > 0 and --fill-delay >= 0")
    if not Path(args.notebook).is_file():
        p.error(f"--notebook {args.notebook}: no such file")
    if args.pool_size is None:
        args.pool_size = args.capacity or POOL_SIZE
    vargv = voila_argv(args.notebook, port=args.port, capacity=args.capacity,
                       pool_size=args.pool_size, fill_delay=args.fill_delay,
                       idle_minutes=args.idle_minutes)
    if args.print_argv:
        print(" ".join(vargv))
        return 0
    # the kernels inherit this environment
    os.environ["WIC_SERVING_BACKEND"] = args.backend
    os.environ["WIC_IDLE_MINUTES"] = f"{args.idle_minutes:g}"
    os.environ["WIC_EXPLAIN_SEATS"] = str(args.explain_seats)
    os.environ["WIC_EXPLAIN_SEATS_DIR"] = tempfile.mkdtemp(prefix="wic-explain-")
    if args.backend == "onnx":
        _check_onnx_exports()
    ClassroomVoila, _ = _voila_classes()
    print(f"classroom: capacity {args.capacity or 'no limit'}, {args.pool_size} warm kernels "
          f"(the page is ready for a class once the log says the pool is filled), backend "
          f"{args.backend}, idle kernels culled after {args.idle_minutes:g} min; "
          f"http://127.0.0.1:{args.port}/", flush=True)
    ClassroomVoila.launch_instance(argv=vargv)
    return 0


def _check_onnx_exports() -> None:
    """Say which models have no (or a stale) ONNX export: the page would not offer them."""
    from wic import cards, files

    missing = [r["name"] for r in cards.catalogue()
               if not files.up_to_date(Path(r["path"]).with_suffix(".onnx"), r["path"])]
    if missing:
        print(f"classroom: no up-to-date ONNX export of {', '.join(missing)}; write them with "
              "`wic export --all --format onnx` (make app does)", file=sys.stderr)


# ----------------------------------------------------------------------------- explanation seats


class ExplainSeatsTaken(RuntimeError):
    """Every explanation seat is held by another visitor's kernel."""


_held_seat = None  # this kernel's lock file, kept open for the process's life


def take_explain_seat() -> None:
    """Hold one of ``$WIC_EXPLAIN_SEATS`` lock files before loading TensorFlow for explanations.

    Outside the classroom server (no ``$WIC_EXPLAIN_SEATS_DIR``: JupyterLab, tests) there is no
    limit. The lock is released by the operating system when the kernel exits (culled, closed).
    """
    global _held_seat
    folder = os.environ.get("WIC_EXPLAIN_SEATS_DIR")
    if _held_seat is not None or not folder:
        return
    import fcntl

    seats = int(os.environ.get("WIC_EXPLAIN_SEATS", EXPLAIN_SEATS))
    for i in range(seats):
        fh = open(Path(folder) / f"seat-{i}.lock", "a")  # noqa: SIM115 - held for the process
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.close()
            continue
        _held_seat = fh
        return
    raise ExplainSeatsTaken(
        f"Explanations are in use by {seats} other visitors right now (they need much more "
        "memory than classifying, so only a few run at once). Classification works as usual; "
        "please try the explanation again in a few minutes.")


if __name__ == "__main__":
    sys.exit(main())
