"""BotConfig's tree of models, walked by key path: which model a path names and whether a field is text."""

from __future__ import annotations

import types
import typing
from pathlib import Path
from typing import Any
from typing import Literal

from pydantic import BaseModel
from pydantic import SecretStr

from trading_bot.config.models import BotConfig

__all__ = ["is_text_field", "model_at"]

_TEXT_TYPES: tuple[type, ...] = (str, SecretStr, Path)


def model_at(at: tuple[str, ...]) -> type[BaseModel] | None:
    """Return the model class whose fields live at path ``at`` (``()`` is BotConfig), or None.

    A mapping of models (``venues``) takes any key: ``("venues", "spot")`` is an ``ExchangeConfig``.
    """
    model: type[BaseModel] | None = BotConfig
    keys = iter(at)
    for key in keys:
        if model is None or key not in model.model_fields:
            return None
        annotation = model.model_fields[key].annotation
        if typing.get_origin(annotation) is dict:
            if next(keys, None) is None:
                return None
            annotation = typing.get_args(annotation)[1]
        model = _model_of(annotation)
    return model


def is_text_field(at: tuple[str, ...]) -> bool:
    """Return True when the field at path ``at`` holds text (str, a secret, a path, a literal of strings).

    A variable for a text field is taken verbatim (``TRADING_BOT__BOT__BOT_ID=123`` is the text ``"123"``);
    any other variable is parsed as JSON when it parses.
    """
    model = model_at(at[:-1])
    if model is None or at[-1] not in model.model_fields:
        return False
    annotation = model.model_fields[at[-1]].annotation
    args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
    if typing.get_origin(annotation) is Literal:
        return all(isinstance(arg, str) for arg in args)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return all(isinstance(arg, type) and issubclass(arg, _TEXT_TYPES) for arg in args)
    return isinstance(annotation, type) and issubclass(annotation, _TEXT_TYPES)


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            model = _model_of(arg)
            if model is not None:
                return model
    return None
