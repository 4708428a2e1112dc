"""One parser for every value a person types: ``wic train --set``, ``wic sweep -p``, notebook
parameters (papermill ``-p``), the benchmarks' options, and the :class:`~wic.training.Recipe`.

The rules, the same everywhere:

- booleans are ``true/false``, ``yes/no``, ``1/0`` (any case); anything else is refused;
- integers are written as integers (``5``, not ``5.0``), numbers may be ``1e-3``; ``none`` /
  ``null`` only where a field allows "nothing";
- a choice must be one of its listed values; tuples are written ``32,64,64`` or ``(32, 64, 64)``;
- a wrong value raises :class:`ParameterError` with one line naming the field, the value and
  what is accepted: ``lookahead='maybe' is invalid; accepted: true/false, yes/no or 1/0``.

:func:`parse` turns text into a typed value; :func:`check` accepts an already typed value (a
papermill literal, a dataclass field) and parses it if it is still text, so ``-p augment false``
means ``False`` in a notebook instead of the truthy string ``"false"``. Types are written as
Python annotations (``bool``, ``int | None``, ``Literal["adam", "sgd"]``, ``tuple[int, ...]``).
"""

from __future__ import annotations

import ast
import math
import types
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

TRUE_WORDS = ("true", "yes", "1")
FALSE_WORDS = ("false", "no", "0")
NONE_WORDS = ("none", "null", "~", "")
BOOL_ACCEPTED = "true/false, yes/no or 1/0"


class ParameterError(ValueError):
    """A value a person gave cannot be used; the message names it and what is accepted."""


def fail(name: str, value, accepted: str):
    raise ParameterError(f"{name}={value!r} is invalid; accepted: {accepted}")


# ----------------------------------------------------------------------------- types


def _parts(kind) -> tuple[Any, tuple]:
    return typing.get_origin(kind), typing.get_args(kind)


def _optional(kind) -> tuple[Any, bool]:
    """(the kind without ``None``, whether ``None`` is allowed)."""
    origin, args = _parts(kind)
    if origin in (typing.Union, types.UnionType) and type(None) in args:
        rest = tuple(a for a in args if a is not type(None))
        return (rest[0] if len(rest) == 1 else typing.Union[rest]), True  # noqa: UP007
    return kind, kind is type(None)


def _tuple_kinds(args: tuple, n: int) -> list | None:
    """The kind of each of ``n`` items of a ``tuple[...]`` annotation (None: wrong length)."""
    inner = [a for a in args if a is not Ellipsis] or [int]
    kinds = inner * n if Ellipsis in args or len(args) == 1 else inner
    return kinds if len(kinds) == n else None


def describe(kind) -> str:
    """What a value of ``kind`` may be, in words (the 'accepted:' part of an error)."""
    kind, nullable = _optional(kind)
    origin, args = _parts(kind)
    if kind is bool:
        text = BOOL_ACCEPTED
    elif kind is int:
        text = "an integer"
    elif kind is float:
        text = "a number"
    elif kind is str:
        text = "text"
    elif origin is Literal:
        text = "one of " + ", ".join(map(str, args))
    elif origin is tuple:
        inner = args[0] if args else int
        text = f"a list of {describe(inner).removeprefix('an ').removeprefix('a ')}s, e.g. 32,64,64"
    elif origin in (typing.Union, types.UnionType):
        text = " or ".join(describe(a) for a in args)
    else:
        text = getattr(kind, "__name__", str(kind))
    return text + (" or none" if nullable else "")


def parse(text: str, kind=None, name: str = "value"):
    """``text`` as a value of ``kind`` (``None``: guess — bool words, none, int, float, text)."""
    if not isinstance(text, str):
        return check(name, text, kind) if kind is not None else text
    word = text.strip()
    if kind is None:
        return _guess(word)
    base, nullable = _optional(kind)
    if nullable and word.lower() in NONE_WORDS:
        return None
    origin, args = _parts(base)
    if base is bool:
        low = word.lower()
        if low in TRUE_WORDS:
            return True
        if low in FALSE_WORDS:
            return False
    elif base is int:
        try:
            return int(word, 10)
        except ValueError:
            pass
    elif base is float:
        try:
            value = float(word)
        except ValueError:
            value = None
        if value is not None and math.isfinite(value):
            return value
    elif base is str:
        return word
    elif origin is Literal:
        for a in args:
            if word == str(a) or (isinstance(a, str) and word.lower() == a.lower()):
                return a
            if isinstance(a, bool) and word.lower() in (TRUE_WORDS if a else FALSE_WORDS):
                return a
    elif origin is tuple:
        items = [t.strip() for t in word.strip("()[] ").split(",") if t.strip()]
        kinds = _tuple_kinds(args, len(items)) if items else None
        if kinds:
            return tuple(parse(t, k, name) for t, k in zip(items, kinds))
    elif origin in (typing.Union, types.UnionType):
        for a in args:
            try:
                return parse(word, a, name)
            except ParameterError:
                continue
    fail(name, text, describe(kind))


def _guess(word: str):
    low = word.lower()
    if low in ("true", "yes"):
        return True
    if low in ("false", "no"):
        return False
    if low in ("none", "null", "~"):
        return None
    for cast in (int, float):
        try:
            return cast(word)
        except ValueError:
            pass
    try:  # a list or tuple literal, or a 'quoted' string
        value = ast.literal_eval(word)
        if isinstance(value, (list, tuple, str)):
            return value
    except (ValueError, SyntaxError):
        pass
    return word


def check(name: str, value, kind):
    """``value`` if it is a ``kind``; text is parsed first; anything else is refused by name."""
    if isinstance(value, str) and kind is not str and _optional(kind)[0] is not str:
        return parse(value, kind, name)
    base, nullable = _optional(kind)
    if value is None:
        if nullable:
            return None
        fail(name, value, describe(kind))
    origin, args = _parts(base)
    ok = False
    if base is bool:
        ok = isinstance(value, bool)
    elif base is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif base is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        if ok:
            value = float(value)
    elif base is str:
        ok = isinstance(value, str)
    elif origin is Literal:
        ok = any(value == a and type(value) is type(a) for a in args)
    elif origin is tuple and isinstance(value, (list, tuple)):
        kinds = _tuple_kinds(args, len(value))
        if kinds:
            return tuple(check(name, v, k) for v, k in zip(value, kinds))
    elif origin in (typing.Union, types.UnionType):
        for a in args:
            try:
                return check(name, value, a)
            except ParameterError:
                continue
    if not ok:
        fail(name, value, describe(kind))
    return value


def assignments(items, option: str = "--set") -> dict[str, str]:
    """``["lr=0.1", "flip=random"]`` → ``{"lr": "0.1", "flip": "random"}`` (still text)."""
    out: dict[str, str] = {}
    for item in items or ():
        name, sep, text = str(item).partition("=")
        name = name.strip()
        if not sep or not name.isidentifier():
            raise ParameterError(f"{option} {item!r}: accepted: NAME=VALUE, e.g. {option} lookahead=false")
        if name in out:
            raise ParameterError(f"{option} {name} is given twice")
        out[name] = text
    return out


# ----------------------------------------------------------------------------- notebook checks


def choice(name: str, value, accepted, allow_none: bool = False):
    accepted = list(accepted)
    if value is None and allow_none:
        return value
    if value not in accepted:
        fail(name, value, ", ".join(map(str, accepted)) + (" or None" if allow_none else ""))
    return value


def integer(name: str, value, minimum: int | None = None, allow_none: bool = False):
    value = check(name, value, int | None if allow_none else int)
    if value is not None and minimum is not None and value < minimum:
        fail(name, value, f"an integer >= {minimum}")
    return value


def number(name: str, value, minimum: float | None = None, maximum: float | None = None,
           allow_none: bool = False):
    lo = "-inf" if minimum is None else minimum
    hi = "inf" if maximum is None else maximum
    try:
        value = check(name, value, float | None if allow_none else float)
    except ParameterError:
        fail(name, value, f"a number in [{lo}, {hi}]")
    if value is not None and ((minimum is not None and value < minimum)
                              or (maximum is not None and value > maximum)):
        fail(name, value, f"a number in [{lo}, {hi}]")
    return value


def boolean(name: str, value) -> bool:
    return check(name, value, bool)


def existing_file(name: str, value, suffix: str | None = None) -> Path:
    path = Path(value)
    if not path.is_file() or (suffix and path.suffix != suffix):
        fail(name, value, f"an existing {suffix + ' ' if suffix else ''}file")
    return path


def identifier(name: str, value) -> str:
    """A name usable as a file stem (letters, digits, '-', '_', '.')."""
    import re

    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,80}", value):
        fail(name, value, "a short name of letters, digits, '-', '_' or '.'")
    return value


def parameters(namespace: dict, rules: Mapping[str, Callable]) -> dict:
    """Check a notebook's parameters in one call and write the checked values back.

    ``rules`` maps each parameter to a check taking ``(name, value)``::

        values.parameters(globals(), {"epochs": positive, "augment": boolean})
    """
    checked = {name: rule(name, namespace[name]) for name, rule in rules.items()}
    namespace.update(checked)
    return checked
