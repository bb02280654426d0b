"""Command-line numbers checked against the same ranges as the config (``trading_bot.domain.bounds``).

Imported inside commands only: it imports pydantic, which ``runbot.py --help`` never loads.
"""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter
from pydantic import ValidationError
from pydantic.fields import FieldInfo

from trading_bot.domain.bounds import describe_range
from trading_bot.errors import ConfigError

__all__ = ["check_flag"]


def check_flag(flag: str, value: object, kind: Any) -> Any:
    """Return ``value`` (text or number) converted and validated as ``kind``, an annotated bounds type.

    Args:
        flag: the option, for the message (``--speed``).
        value: what the user gave.
        kind: e.g. ``trading_bot.domain.bounds.SpeedFactor``.

    Raises:
        ConfigError: one line, ``--speed: must be a finite number, got 'nan'; allowed: (0, 1e6]``.
    """
    try:
        return TypeAdapter(kind).validate_python(value)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        problem = str(error["msg"]).replace("Input should be", "must be")
        allowed = describe_range(FieldInfo.from_annotation(kind))
        hint = f"; allowed: {allowed}" if allowed is not None else ""
        raise ConfigError(f"{flag}: {problem}, got {value!r}{hint}") from None
