"""One line per failed validation: the field, what was expected, the bad value, the allowed range, the source.

E.g. ``risk.max_open_orders: expected an integer, got 'abc'; allowed: [1, 1000000] (from
TRADING_BOT__RISK__MAX_OPEN_ORDERS)``. The value is never shown for a secret-looking field.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from trading_bot.config.tree import model_at
from trading_bot.domain.bounds import describe_range
from trading_bot.log import is_secret_key
from trading_bot.registry import did_you_mean

__all__ = ["Origins", "describe_errors"]

Origins = Mapping[tuple[str, ...], str]
"""Where each key path's value came from: a file path, a variable name (``... in .env``), ``the command line``."""

_EXPECTED = {
    "int": "expected an integer",
    "float": "expected a number",
    "decimal": "expected a decimal number",
    "bool": "expected true or false",
    "string": "expected a string",
    "model": "expected an object {...}",
    "dict": "expected an object {...}",
    "list": "expected a list",
}


def describe_errors(exc: ValidationError, origins: Origins) -> str:
    """Return the first error of ``exc`` as one line, with ``(+N more)`` when there are others."""
    errors = exc.errors(include_url=False)
    message = _describe(errors[0], origins)
    return message if len(errors) == 1 else f"{message} (+{len(errors) - 1} more)"


def _describe(error: ErrorDetails, origins: Origins) -> str:
    loc = tuple(str(part) for part in error["loc"])
    origin = _origin(loc, origins)
    where = f" (from {origin})" if origin else ""
    dotted = ".".join(loc) or "config"
    if error["type"] == "extra_forbidden":
        model = model_at(loc[:-1])
        hint = did_you_mean(loc[-1], model.model_fields if model is not None else ())
        return f"config: unknown key {dotted!r}{hint}{where}"
    kind = error["type"]
    problem = _EXPECTED.get(kind.partition("_")[0], "") if kind.endswith(("_type", "_parsing", "_float")) else ""
    if kind == "literal_error":
        problem = f"expected {error['ctx']['expected']}"
    elif not problem:
        problem = str(error["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
        problem = problem.replace("Input should be", "must be")
    got = ""
    value = error.get("input")
    if isinstance(value, str | int | float) and not any(is_secret_key(part) for part in loc):
        text = repr(value)
        got = f", got {text if len(text) <= 60 else text[:57] + '...'}"
    return f"{dotted}: {problem}{got}{_range_hint(loc)}{where}"


def _range_hint(loc: tuple[str, ...]) -> str:
    """Return ``"; allowed: [0.01, 60]"`` for a field with a documented range, else ``""``."""
    model = model_at(loc[:-1]) if loc else None
    info = model.model_fields.get(loc[-1]) if model is not None else None
    text = describe_range(info) if info is not None else None
    return f"; allowed: {text}" if text is not None else ""


def _origin(loc: tuple[str, ...], origins: Origins) -> str | None:
    for size in range(len(loc), 0, -1):
        found = origins.get(loc[:size])
        if found is not None:
            return found
    for key, found in origins.items():
        if key[: len(loc)] == loc:
            return found
    return None
