"""Writing files safely and describing things to people, once for the whole package.

- :func:`atomic_write_text` / :func:`atomic_replace`: a file is either the old one or the whole
  new one, never half written (cards, run state, tables, models, notebooks);
- :func:`human_size`, :func:`short_error`: the words our one-line messages are made of.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path


def _tmp_name(path: Path) -> Path:
    # per process and thread: two writers of the same file never share a temporary
    return path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")


@contextlib.contextmanager
def atomic_replace(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; when the block ends it replaces ``path``.

    If the block raises, ``path`` is untouched and the temporary removed. The temporary keeps
    ``path``'s suffix (Keras insists on ``.keras``)."""
    path = Path(path)
    tmp = _tmp_name(path)
    tmp = tmp.with_name(tmp.name + path.suffix)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    path = Path(path)
    with atomic_replace(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


def human_size(n: int) -> str:
    """``512 bytes``, ``3.4 KB``, ``50 MB``, ``1.5 MB``."""
    if n < 1024:
        return f"{n} bytes"
    if n < 1024**2:
        return f"{n / 1024:.1f} KB"
    mb = n / 1024**2
    return f"{mb:.0f} MB" if mb == int(mb) else f"{mb:.1f} MB"


def clip(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def short_error(exc: BaseException, limit: int = 120) -> str:
    """An exception as one short line (whitespace folded, clipped): no tracebacks for people."""
    return clip(" ".join(str(exc).split()) or type(exc).__name__, limit)


def up_to_date(derived: str | os.PathLike, source: str | os.PathLike) -> bool:
    """Does ``derived`` (an export, a rendering) exist and is it no older than ``source``?"""
    derived, source = Path(derived), Path(source)
    return derived.exists() and derived.stat().st_mtime >= source.stat().st_mtime
