"""Hypothesis strategies shared by the fuzz tests: hostile JSON values, config documents, env variables, flag values.

Values are generated as JSON *text*, so a document can hold what ``json.dumps`` never writes but a file
may: ``1e400``, a 400-digit integer, ``NaN``, ``-0``, duplicate keys.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from hypothesis import strategies as st
from pydantic import BaseModel

from trading_bot.config import BotConfig

__all__ = [
    "CONFIG_PATHS",
    "HOSTILE_NUMBERS",
    "Raw",
    "config_documents",
    "dump",
    "env_text",
    "env_variables",
    "hostile_numbers",
    "json_values",
]


@dataclass(frozen=True)
class Raw:
    """A JSON token written as is (``1e400``, ``NaN``, ``"text"``)."""

    text: str


def _leaf_paths(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found: list[tuple[str, ...]] = []
    for name, info in model.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            found.append((*prefix, name))  # the section itself may get a wrong type too
            found.extend(_leaf_paths(annotation, (*prefix, name)))
        else:
            found.append((*prefix, name))
    return found


CONFIG_PATHS: list[tuple[str, ...]] = _leaf_paths(BotConfig)
"""Every key path of the config (sections and fields), read from the models: new settings are fuzzed at once."""

HOSTILE_NUMBERS = [
    "NaN", "Infinity", "-Infinity", "1e308", "-1e308", "1e400", "-1e400", "1e-300", "5e-324", "-1", "-0", "0",
    "0.0", "-0.0", "1", "2", "0.5", "10", "100", "1000000", "2147483648", "9223372036854775808",
    "1" + "0" * 400, "-" + "9" * 400, "1e1000000", "0e-1000000", "1.0000000000000000000000000001", "3.14",
]  # fmt: skip
"""Number tokens (JSON spelling) that have broken numeric settings before, plus plain ones."""

_SCALAR_TOKENS = ["true", "false", "null", '""', '" "', '"abc"', "[]", "{}", '"1"', '"NaN"', '"inf"', '"-1"']

_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30)
"""Any text but lone surrogates (which no UTF-8 file or environment can hold)."""


def hostile_numbers() -> st.SearchStrategy[str]:
    """Number tokens: the hostile table, random floats' repr, random integers."""
    return st.one_of(
        st.sampled_from(HOSTILE_NUMBERS),
        st.floats(allow_nan=False, allow_infinity=False).map(repr),
        st.integers(min_value=-(10**30), max_value=10**30).map(str),
    )


def json_values(max_leaves: int = 8) -> st.SearchStrategy[object]:
    """Random JSON-able structures (nested lists and objects of scalars, ``Raw`` hostile tokens)."""
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(),
        _TEXT,
        hostile_numbers().map(Raw),
        st.sampled_from(_SCALAR_TOKENS).map(Raw),
    )
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4),
        max_leaves=max_leaves,
    )


def dump(value: object) -> str:
    """Write ``value`` as JSON text, ``Raw`` tokens verbatim, floats as Python writes them (``NaN``, ``Infinity``)."""
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(str(k))}: {dump(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(dump(v) for v in value) + "]"
    return json.dumps(value)


def _setting_values() -> st.SearchStrategy[object]:
    return st.one_of(
        hostile_numbers().map(Raw),
        st.sampled_from(_SCALAR_TOKENS).map(Raw),
        json_values(max_leaves=4),
    )


def _nest(entries: list[tuple[tuple[str, ...], object]]) -> dict[str, object]:
    """Build a nested document from ``(path, value)`` pairs; a later path through an earlier leaf replaces it."""
    root: dict[str, object] = {}
    for path, value in entries:
        node = root
        for key in path[:-1]:
            child = node.get(key)
            if not isinstance(child, dict):
                child = node[key] = {}
            node = child
        node[path[-1]] = value
    return root


@st.composite
def config_documents(draw: st.DrawFn) -> str:
    """A JSON config text: real key paths with hostile values, sometimes an unknown or mistyped key."""
    paths = draw(st.lists(st.sampled_from(CONFIG_PATHS), min_size=0, max_size=6))
    entries: list[tuple[tuple[str, ...], object]] = [(p, draw(_setting_values())) for p in paths]
    if draw(st.booleans()):
        entries.append(((*draw(st.sampled_from(CONFIG_PATHS))[:-1], draw(_TEXT) or "x"), draw(_setting_values())))
    return dump(_nest(entries))


def env_text() -> st.SearchStrategy[str]:
    """A value an environment variable can hold (no NUL, no lone surrogate): hostile numbers, JSON, any text."""
    text = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=30)
    as_json = json_values(max_leaves=4).map(dump).filter(lambda s: "\x00" not in s)
    return st.one_of(hostile_numbers(), st.sampled_from(_SCALAR_TOKENS), text, as_json)


def _variable_name(path: tuple[str, ...]) -> str:
    return "TRADING_BOT__" + "__".join(path).upper()


_ODD_NAMES = ["TRADING_BOT__", "TRADING_BOT__BOT", "TRADING_BOT__BOT____HEARTBEAT_S", "TRADING_BOT__NOPE__X",
              "trading_bot__risk__max_open_orders", "TRADING_BOT__BOT__HEARTBEAT_S__X", "TRADING_BOT____"]  # fmt: skip


def env_variables() -> st.SearchStrategy[dict[str, str]]:
    """A few ``TRADING_BOT__*`` variables: mostly real setting names, sometimes malformed ones."""
    names = st.one_of(st.sampled_from(CONFIG_PATHS).map(_variable_name), st.sampled_from(_ODD_NAMES))
    return st.dictionaries(names, env_text(), max_size=4)
