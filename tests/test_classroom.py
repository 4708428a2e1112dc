"""The class page's door and seats, without a browser (tests/test_browser.py serves it for real)."""

import asyncio
import subprocess
import sys
import textwrap

import pytest

from wic import config
from wic.serving import classroom
from wic.serving.classroom import Classroom


def test_capacity_counts_arrivals_before_their_kernel_exists():
    room = Classroom(2)
    a, b = room.admit([]), room.admit([])  # two requests in the same instant
    assert a is not None and b is not None
    assert room.admit([]) is None, "a third arrival slipped past while two were arriving"
    room.seat(a, "k1")
    room.seat(b, "k2")
    room.release(a)
    room.release(b)
    assert room.admit(["k1", "k2", "pool"]) is None
    assert (room.admitted, room.refused) == (2, 2)


def test_a_closed_tab_frees_its_seat_and_a_failed_request_frees_its_ticket():
    room = Classroom(1)
    t = room.admit([])
    room.seat(t, "k1")
    room.release(t)
    assert room.admit(["k1"]) is None
    assert room.admit([]) is not None, "k1 was shut down: its seat should be free"
    room2 = Classroom(1)
    t = room2.admit([])
    room2.release(t)  # the request failed before it got a kernel
    assert room2.seats_taken([]) == 0


def test_pool_kernels_are_not_visitors_and_zero_means_no_limit():
    room = Classroom(1)
    assert room.admit(["pool-1", "pool-2"]) is not None  # warm kernels hold no seat
    unlimited = Classroom(0)
    assert all(unlimited.admit([]) is not None for _ in range(100))
    with pytest.raises(ValueError, match="capacity"):
        Classroom(-1)


def test_attach_seats_the_kernel_a_request_gets():
    class FakeKernelManager:
        async def start_kernel(self, **kw):
            return "fresh"

        async def get_rendered_notebook(self, notebook_name, **kw):
            return "task", [], "warm"

    km, room = FakeKernelManager(), Classroom(5)
    classroom.attach(room, km)

    async def request(method):
        ticket = room.admit(["fresh", "warm"])  # the kernels alive at that moment
        token = classroom._TICKET.set(ticket)
        try:
            return await method()
        finally:
            classroom._TICKET.reset(token)
            room.release(ticket)

    assert asyncio.run(request(km.start_kernel)) == "fresh"
    assert asyncio.run(request(lambda: km.get_rendered_notebook("nb")))[2] == "warm"
    assert room.visitors == {"fresh", "warm"} and room.seats_taken(["fresh", "warm"]) == 2
    asyncio.run(km.start_kernel())  # no request (a pool refill): not a visitor
    assert room.seats_taken(["fresh", "warm"]) == 2


def test_the_full_page_says_what_happened_and_retries():
    page = classroom.full_page_html(30)
    assert "The classroom is full" in page and "All 30 seats" in page
    assert 'http-equiv="refresh"' in page and f"every {classroom.RETRY_AFTER_S} seconds" in page
    assert f"{classroom.IDLE_MINUTES} minutes" in page


def test_the_voila_flags_live_in_one_place():
    argv = classroom.voila_argv(port=9999, capacity=7, idle_minutes=2)
    assert "--port=9999" in argv and "--ClassroomVoila.capacity=7" in argv
    assert "--MappingKernelManager.cull_idle_timeout=120" in argv
    assert "--MappingKernelManager.cull_connected=True" in argv
    assert "--show_tracebacks=False" in argv
    makefile = (config.project_root() / "Makefile").read_text()
    recipe = makefile[makefile.index("\napp:"):].split("\n\n")[0]
    assert "wic.serving.classroom" in recipe and "wic export --all" in recipe
    assert "--pool_size" not in makefile and "voila " not in recipe, "Voilà flags outside classroom.py"


def test_the_launcher_refuses_bad_options_with_a_message(capsys):
    with pytest.raises(SystemExit) as exc:
        classroom.main(["--capacity=-3"])
    assert exc.value.code == 2
    assert "--capacity=-3 is invalid; accepted: 0 or more" in capsys.readouterr().err
    assert classroom.main(["--print-argv", "--capacity=4"]) == 0
    assert "--ClassroomVoila.capacity=4" in capsys.readouterr().out


def test_explanation_seats_are_bounded_across_kernels(tmp_path):
    """Two kernels (processes): the first holds the only seat, the second is told to wait."""
    script = textwrap.dedent("""
        import os, sys, time
        from wic.serving import classroom
        try:
            classroom.take_explain_seat()
        except classroom.ExplainSeatsTaken as exc:
            print("TAKEN", exc); sys.exit(0)
        print("SEATED", flush=True)
        time.sleep(float(sys.argv[1]))
    """)
    env = {**__import__("os").environ, "WIC_EXPLAIN_SEATS_DIR": str(tmp_path),
           "WIC_EXPLAIN_SEATS": "1"}
    first = subprocess.Popen([sys.executable, "-c", script, "30"], env=env,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert first.stdout.readline().strip() == "SEATED"
        second = subprocess.run([sys.executable, "-c", script, "0"], env=env,
                                capture_output=True, text=True, timeout=60)
        assert second.stdout.startswith("TAKEN") and "try the explanation again" in second.stdout
    finally:
        first.kill()
        first.wait()
    third = subprocess.run([sys.executable, "-c", script, "0"], env=env, capture_output=True,
                           text=True, timeout=60)
    assert third.stdout.startswith("SEATED"), "the seat did not come back when its kernel ended"


def test_no_seat_limit_outside_the_class_page(monkeypatch):
    monkeypatch.delenv("WIC_EXPLAIN_SEATS_DIR", raising=False)
    classroom.take_explain_seat()  # JupyterLab, tests: no limit, no error


def test_the_warm_pool_is_refilled_only_within_the_capacity():
    class FakeKernelManager:
        def __init__(self):
            self._pools = {"nb": ["warm-task"]}
            self.fills = 0

        def list_kernel_ids(self):
            return ["a", "b", "warm"]

        def fill_if_needed(self, **kw):
            self.fills += 1

        async def start_kernel(self, **kw):
            return "fresh"

    km, room = FakeKernelManager(), Classroom(3)
    classroom.attach(room, km)
    for kid in ("a", "b"):
        room.seat(room.admit(km.list_kernel_ids()), kid)
    km.fill_if_needed(notebook_name="nb")  # 2 seated + 1 warm < 3 + 1 spare: refilled
    assert km.fills == 1
    room.seat(room.admit(km.list_kernel_ids()), "warm")  # the warm kernel taken: 3 seated
    km.list_kernel_ids = lambda: ["a", "b", "warm", "warm2"]
    km._pools["nb"].append("warm2-task")  # its replacement: 3 seated + 2 warm
    km.fill_if_needed(notebook_name="nb")
    assert km.fills == 1, "refilled beyond capacity + spare"


def test_readme_page_load_prose_agrees_with_the_committed_run():
    """The README's sentence on where an upload's CPU goes is the committed benchmark's: from
    five tabs on, the simulated browsers' CPU per upload is over ten times the page's own."""
    import csv
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    readme = " ".join((root / "README.md").read_text().split())
    assert ("from five tabs on, the browsers' share of an upload to the new design is more than "
            "ten times the server's and kernel's together") in readme
    with open(root / "benchmarks" / "results" / "page_load.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["design"] == "after" and r["results_ok"]]
    many = [r for r in rows if int(r["tabs"]) >= 5]
    assert many
    for r in many:
        page = float(r["upload_cpu_server_s"]) + float(r["upload_cpu_kernels_s"])
        assert float(r["upload_cpu_browsers_s"]) > 10 * page, r["tabs"]
