"""Search spaces: what ``runbot.py optimize`` may vary, read from a strategy's ``Params`` model.

A field declares its range in its metadata, ``Field(..., json_schema_extra={"search": {...}})``:

* ``{"low": 2, "high": 100}`` an integer (int field) or real (float/Decimal field) range, both ends included;
* ``"step": 5`` a grid step (integers default to 1; reals have none unless given);
* ``"log": true`` sample on a log scale (``low`` > 0);
* ``{"choices": ["buy", "sell"]}`` one of these values.

A model's ``search_constraints`` class variable names relations between fields (``"fast < slow"``, operators
``<`` and ``<=``). A field without a range is fixed at its default (or the value ``--fix``/``--config`` gives).
The command line overrides a range with ``--space NAME=LOW:HIGH[:STEP]`` (``NAME=LOW:HIGH:log`` for a log scale,
``NAME=a,b,c`` for choices) and fixes a field with ``--fix NAME=VALUE``.
"""

from __future__ import annotations

import difflib
import math
import operator
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from typing import Literal
from typing import get_args

from trading_bot.errors import ConfigError

__all__ = [
    "Constraint",
    "ParamRange",
    "SearchSpace",
    "grid_values",
    "parse_assignment",
    "search_space",
]

_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {"<=": operator.le, "<": operator.lt}

Kind = Literal["int", "float", "choice"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ParamRange:
    """One parameter's range.

    Attributes:
        name: the ``Params`` field.
        kind: ``int``, ``float`` or ``choice``.
        low, high: the ends (both included) of an ``int``/``float`` range.
        step: the grid step (``None``: continuous reals).
        log: sampled on a log scale.
        choices: the values of a ``choice``.
    """

    name: str
    kind: Kind
    low: float = 0.0
    high: float = 0.0
    step: float | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()

    def text(self) -> str:
        """Return the range as ``--space`` writes it (``5:50``, ``20:200:5``, ``0.01:1:log``, ``a,b``)."""
        if self.kind == "choice":
            return ",".join(str(c) for c in self.choices)
        parts = [_num(self.low), _num(self.high)]
        if self.step is not None and not (self.kind == "int" and self.step == 1):
            parts.append(_num(self.step))
        if self.log:
            parts.append("log")
        return ":".join(parts)


@dataclass(frozen=True, slots=True)
class Constraint:
    """``left op right`` between two fields (``fast < slow``)."""

    left: str
    op: str
    right: str

    def holds(self, params: Mapping[str, Any]) -> bool:
        """Return whether ``params`` satisfy the relation (numbers compared as floats)."""
        return _OPERATORS[self.op](float(params[self.left]), float(params[self.right]))

    def __str__(self) -> str:
        return f"{self.left} {self.op} {self.right}"


@dataclass(frozen=True, slots=True, kw_only=True)
class SearchSpace:
    """The ranges searched, the values held fixed, and the constraints between them."""

    ranges: tuple[ParamRange, ...]
    fixed: Mapping[str, Any]
    constraints: tuple[Constraint, ...]

    def feasible(self, params: Mapping[str, Any]) -> Constraint | None:
        """Return the first constraint ``params`` break (``None``: all hold; a relation on unset fields holds)."""
        for constraint in self.constraints:
            if constraint.left in params and constraint.right in params and not constraint.holds(params):
                return constraint
        return None


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _field_kind(annotation: Any) -> Kind:
    """The kind of a field from its annotation (``int``, reals, ``bool``/``Literal`` as choices)."""
    args = [a for a in get_args(annotation) if a is not type(None)] or [annotation]
    first = args[0]
    if getattr(first, "__origin__", None) is Literal or first is bool:
        return "choice"
    origin = getattr(first, "__origin__", None)
    base = get_args(first)[0] if origin is not None and get_args(first) else first
    return "int" if base is int else "float"


def _from_metadata(name: str, kind: Kind, meta: Mapping[str, Any]) -> ParamRange:
    if "choices" in meta:
        return ParamRange(name=name, kind="choice", choices=tuple(meta["choices"]))
    step = meta.get("step")
    if kind == "int" and step is None:
        step = 1
    low, high = float(meta["low"]), float(meta["high"])
    log = bool(meta.get("log", False))
    return _checked(ParamRange(name=name, kind=kind, low=low, high=high, step=None if step is None else float(step),
                               log=log))  # fmt: skip


def _checked(rng: ParamRange) -> ParamRange:
    """Refuse an empty or inverted range, a step that does not fit, a log scale through zero."""
    flag = f"--space {rng.name}={rng.text()}"
    if rng.kind == "choice":
        if not rng.choices:
            raise ConfigError(f"{flag}: no choices")
        return rng
    if not (math.isfinite(rng.low) and math.isfinite(rng.high)):
        raise ConfigError(f"{flag}: the ends must be finite numbers")
    if rng.low >= rng.high:
        raise ConfigError(f"{flag}: empty or inverted range (LOW must be below HIGH)")
    if rng.kind == "int" and not (rng.low.is_integer() and rng.high.is_integer()):
        raise ConfigError(f"{flag}: {rng.name} is an integer; give whole numbers")
    if rng.step is not None and not 0 < rng.step <= rng.high - rng.low:
        raise ConfigError(f"{flag}: the step must be > 0 and at most HIGH - LOW")
    if rng.log and (rng.low <= 0 or (rng.step is not None and rng.step != 1)):
        raise ConfigError(f"{flag}: a log scale needs LOW > 0 and no step")
    return rng


def parse_assignment(flag: str, text: str) -> tuple[str, str]:
    """Split ``NAME=VALUE`` (``-`` in NAME read as ``_``).

    Raises:
        ConfigError: no ``=`` or an empty side.
    """
    name, sep, value = text.partition("=")
    if not sep or not name.strip() or not value.strip():
        raise ConfigError(f"{flag} {text!r}: expected NAME=VALUE, e.g. {flag} fast=5:50")
    return name.strip().replace("-", "_"), value.strip()


def _parse_range(name: str, kind: Kind, text: str) -> ParamRange:
    if "," in text or kind == "choice":
        values = tuple(v.strip() for v in text.split(",") if v.strip())
        return _checked(ParamRange(name=name, kind="choice", choices=tuple(_choice(v) for v in values)))
    parts = text.split(":")
    log = parts[-1].strip().lower() == "log"
    if log:
        parts = parts[:-1]
    if len(parts) not in (2, 3):
        raise ConfigError(f"--space {name}={text}: expected LOW:HIGH, LOW:HIGH:STEP, LOW:HIGH:log or a,b,c")
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        raise ConfigError(f"--space {name}={text}: LOW, HIGH and STEP must be numbers") from None
    step = numbers[2] if len(numbers) == 3 else (None if kind == "float" or log else 1.0)
    return _checked(ParamRange(name=name, kind=kind, low=numbers[0], high=numbers[1], step=step, log=log))


def _choice(text: str) -> Any:
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    return text


def _unknown(flag: str, name: str, fields: Sequence[str], strategy: str) -> ConfigError:
    match = difflib.get_close_matches(name, list(fields), n=1)
    hint = f" (did you mean {match[0]}?)" if match else ""
    return ConfigError(f"{flag}: strategy {strategy} has no parameter {name!r}{hint}; known: {', '.join(fields)}")


def search_space(
    strategy: str,
    params_model: Any,
    *,
    spaces: Sequence[str] = (),
    fixes: Sequence[str] = (),
    base: Mapping[str, Any] | None = None,
) -> SearchSpace:
    """Return the strategy's search space: its fields' ranges, then ``--space`` overrides, minus ``--fix``.

    Args:
        strategy: the strategy's name (for messages).
        params_model: its pydantic ``Params`` class.
        spaces: ``--space`` values, ``NAME=LOW:HIGH[:STEP]`` and the other forms of the module docstring.
        fixes: ``--fix`` values, ``NAME=VALUE`` (the value as a strategy flag takes it).
        base: parameters given otherwise (a config file's ``strategy.params``): fixed unless ranged.

    Raises:
        ConfigError: an unknown parameter, a malformed, empty or inverted range, nothing left to search, or a
            constraint that no point of the ranges satisfies.
    """
    fields = model_fields(params_model)
    ranges: dict[str, ParamRange] = {}
    for name, info in fields.items():
        meta = (info.json_schema_extra or {}).get("search") if isinstance(info.json_schema_extra, dict) else None
        if meta:
            ranges[name] = _from_metadata(name, _field_kind(info.annotation), meta)
    fixed: dict[str, Any] = dict(base or {})
    for name in fixed:
        if name not in fields:
            raise _unknown("strategy.params", name, list(fields), strategy)
        ranges.pop(name, None)
    for text in spaces:
        name, value = parse_assignment("--space", text)
        if name not in fields:
            raise _unknown("--space", name, list(fields), strategy)
        ranges[name] = _parse_range(name, _field_kind(fields[name].annotation), value)
        fixed.pop(name, None)
    for text in fixes:
        name, value = parse_assignment("--fix", text)
        if name not in fields:
            raise _unknown("--fix", name, list(fields), strategy)
        ranges.pop(name, None)
        fixed[name] = value
    if not ranges:
        raise ConfigError(f"strategy {strategy}: nothing to search; give --space NAME=LOW:HIGH")
    constraints = tuple(_constraint(text) for text in getattr(params_model, "search_constraints", ()))
    space = SearchSpace(ranges=tuple(ranges.values()), fixed=fixed, constraints=constraints)
    _check_satisfiable(space, params_model)
    return space


def model_fields(params_model: Any) -> dict[str, Any]:
    """The ``Params`` model's fields (name → pydantic ``FieldInfo``)."""
    return dict(params_model.model_fields)


def _constraint(text: str) -> Constraint:
    for op in ("<=", "<"):
        left, sep, right = text.partition(op)
        if sep:
            return Constraint(left.strip(), op, right.strip())
    raise ValueError(f"search constraint {text!r}: expected 'a < b' or 'a <= b'")


def _bounds(space: SearchSpace, name: str, params_model: Any) -> tuple[float, float] | None:
    for rng in space.ranges:
        if rng.name == name:
            if rng.kind == "choice":
                return None
            return rng.low, rng.high
    value = space.fixed.get(name)
    if value is None:
        default = params_model.model_fields[name].default
        value = default
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number, number


def _check_satisfiable(space: SearchSpace, params_model: Any) -> None:
    for constraint in space.constraints:
        left = _bounds(space, constraint.left, params_model)
        right = _bounds(space, constraint.right, params_model)
        if left is None or right is None:
            continue
        if not _OPERATORS[constraint.op](left[0], right[1]):
            raise ConfigError(
                f"--space: no point satisfies the constraint {constraint} ({constraint.left} is at least "
                f"{_num(left[0])}, {constraint.right} at most {_num(right[1])}); widen or move the ranges"
            )


def grid_values(rng: ParamRange) -> list[Any]:
    """Every value of a range for the grid sampler (a real range needs a step).

    Raises:
        ConfigError: a real range without a step.
    """
    if rng.kind == "choice":
        return list(rng.choices)
    if rng.step is None:
        raise ConfigError(
            f"--sampler grid: {rng.name} is continuous; give it a step (--space {rng.name}=LOW:HIGH:STEP)"
        )
    count = math.floor((rng.high - rng.low) / rng.step + 1e-9) + 1
    values = [rng.low + i * rng.step for i in range(count)]
    return [round(v) for v in values] if rng.kind == "int" else [round(v, 12) for v in values]
