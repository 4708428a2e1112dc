"""wic.cards: what a model card records about the run that wrote it."""

from __future__ import annotations

import sys

from wic import cards


def test_a_run_through_python_m_wic_cli_records_the_wic_command(monkeypatch):
    """``python -m wic.cli train ...`` runs what ``wic train ...`` runs; the card records the
    command a reader can type, not the module's file name."""
    import wic.cli

    monkeypatch.delenv("WIC_COMMAND", raising=False)
    monkeypatch.setattr(sys, "argv", [wic.cli.__file__, "train", "--model", "m"])
    assert cards.command_line() == "wic train --model m"
    monkeypatch.setattr(sys, "argv", ["/usr/bin/other.py", "train"])
    assert cards.command_line() == "other.py train"
