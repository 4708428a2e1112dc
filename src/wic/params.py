"""Validation of notebook parameters: stop at once with a message naming the parameter.

Papermill injects parameters as literals after the ``parameters`` cell; the next cell calls
these checks so that a wrong value (unknown model, negative epochs, missing file) fails in
the first seconds with ``ParameterError: epochs=-1 is invalid; accepted: an integer >= 1``
instead of somewhere deep inside training.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path


class ParameterError(ValueError):
    """A notebook parameter has a value the notebook cannot use."""


def _fail(name, value, accepted):
    raise ParameterError(f"{name}={value!r} is invalid; accepted: {accepted}")


def choice(name: str, value, accepted: Iterable, allow_none: bool = False):
    accepted = list(accepted)
    if value is None and allow_none:
        return value
    if value not in accepted:
        _fail(name, value, ", ".join(map(str, accepted)) + (" or None" if allow_none else ""))
    return value


def integer(name: str, value, minimum: int | None = None, allow_none: bool = False):
    if value is None and allow_none:
        return value
    if isinstance(value, bool) or not isinstance(value, int) or (minimum is not None and value < minimum):
        _fail(name, value, f"an integer >= {minimum}" if minimum is not None else "an integer")
    return value


def number(name: str, value, minimum: float | None = None, maximum: float | None = None,
           allow_none: bool = False):
    if value is None and allow_none:
        return value
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if ok and minimum is not None and value < minimum:
        ok = False
    if ok and maximum is not None and value > maximum:
        ok = False
    if not ok:
        lo = "-inf" if minimum is None else minimum
        hi = "inf" if maximum is None else maximum
        _fail(name, value, f"a number in [{lo}, {hi}]")
    return value


def boolean(name: str, value):
    if not isinstance(value, bool):
        _fail(name, value, "True or False (with papermill use -y '{name: false}', not -p)")
    return value


def existing_file(name: str, value, suffix: str | None = None):
    path = Path(value)
    if not path.is_file() or (suffix and path.suffix != suffix):
        _fail(name, value, f"an existing {suffix or ''} file".replace("  ", " "))
    return path


def identifier(name: str, value):
    """A name usable as a file stem (letters, digits, '-', '_', '.')."""
    import re

    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,80}", value):
        _fail(name, value, "a short name of letters, digits, '-', '_' or '.'")
    return value


def recipe_with(base, recipe_overrides: dict, named: dict | None = None):
    """``base`` (a :class:`wic.train.Recipe`) with the notebook's named parameters and the
    free-form ``recipe_overrides`` dict applied; an unknown field, a field given both ways or
    a value the recipe refuses stops with a :class:`ParameterError` naming it."""
    from wic import train

    named = named or {}
    accepted = train.recipe_fields()
    unknown = sorted(set(recipe_overrides) - set(accepted))
    if unknown:
        _fail("recipe_overrides", recipe_overrides,
              f"a dict of wic.train.Recipe fields; unknown: {', '.join(unknown)}; "
              f"known: {', '.join(accepted)}")
    both = sorted(set(recipe_overrides) & set(named))
    if both:
        _fail("recipe_overrides", recipe_overrides,
              f"fields not also set as their own parameter ({', '.join(both)}: use one or the other)")
    try:
        return base.with_(**named, **recipe_overrides)
    except ValueError as exc:  # Recipe.validate: "recipe field X=... is invalid; accepted: ..."
        raise ParameterError(f"recipe_overrides: {exc}") from None
