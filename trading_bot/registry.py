"""Registry factories: plug-ins chosen by name.

``STRATEGIES`` and ``EXCHANGES`` (defined in their packages) are ``Registry`` instances filled by the
``@register("name")`` decorator when the defining module is imported, plus plug-ins published by other
distributions through the entry-point groups ``trading_bot.strategies`` / ``trading_bot.exchanges``.
A *family* is one factory serving many names known only at lookup (every exchange id ccxt knows), see
``register_family``. Unknown names raise ``ConfigError`` listing the known names and the closest match.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from collections.abc import Iterable
from importlib import import_module
from importlib.metadata import entry_points
from typing import Generic
from typing import TypeVar

from trading_bot.errors import ConfigError

__all__ = ["Registry", "did_you_mean"]

T = TypeVar("T")


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """Return ``" (did you mean 'x'?)"`` for the closest known name, or ``""`` if none is close."""
    match = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""


class Registry(Generic[T]):
    """Named factories of one kind (strategies or exchanges).

    Args:
        kind: what is registered, for messages ("strategy").
        entry_point_group: the ``importlib.metadata`` group searched for plug-ins.
        builtin_modules: modules imported on first lookup so their ``@register`` calls run; kept lazy so
            that, for example, ``--help`` never imports an exchange adapter.
    """

    def __init__(self, kind: str, entry_point_group: str, builtin_modules: Iterable[str] = ()) -> None:
        self.kind = kind
        self.entry_point_group = entry_point_group
        self._builtin_modules = tuple(builtin_modules)
        self._factories: dict[str, Callable[..., T]] = {}
        self._families: list[tuple[Callable[[], Iterable[str]], Callable[..., T]]] = []
        self._family_names: list[frozenset[str]] | None = None
        self._loaded = False

    def register(self, name: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Return a decorator that registers a class or factory under ``name``."""

        def decorator(factory: Callable[..., T]) -> Callable[..., T]:
            existing = self._factories.get(name)
            if existing is not None and existing is not factory:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._factories[name] = factory
            return factory

        return decorator

    def register_family(self, names: Callable[[], Iterable[str]], factory: Callable[..., T]) -> None:
        """Register ``factory`` for every name ``names()`` returns; single registrations win over a family.

        ``names`` is called once, at the first lookup of a name that is not registered singly (so that,
        for example, ccxt is imported only when a ccxt exchange id is used).
        """
        self._families.append((names, factory))
        self._family_names = None

    def _resolved_families(self) -> list[frozenset[str]]:
        """Return each family's names, asking each family once."""
        if self._family_names is None:
            self._family_names = [frozenset(names()) for names, _ in self._families]
        return self._family_names

    def _family_of(self, name: str) -> Callable[..., T] | None:
        if not self._families:
            return None
        for known, (_, factory) in zip(self._resolved_families(), self._families, strict=True):
            if name in known:
                return factory
        return None

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        for module in self._builtin_modules:
            import_module(module)
        for ep in entry_points(group=self.entry_point_group):
            if ep.name not in self._factories:
                self._factories[ep.name] = ep.load()

    def names(self) -> list[str]:
        """Return the registered names, families' names included, sorted."""
        self._load()
        return sorted(set(self._factories).union(*self._resolved_families()))

    def __contains__(self, name: object) -> bool:
        self._load()
        return isinstance(name, str) and (name in self._factories or self._family_of(name) is not None)

    def get(self, name: str) -> Callable[..., T]:
        """Return the factory for ``name``; raise ``ConfigError`` with a suggestion if unknown."""
        self._load()
        factory = self._factories.get(name) or self._family_of(name)
        if factory is None:
            names = self.names()
            known = ", ".join(names) or "none"
            raise ConfigError(f"unknown {self.kind} {name!r}{did_you_mean(name, names)}; known: {known}")
        return factory

    def create(self, name: str, *args: object, **kwargs: object) -> T:
        """Build the plug-in registered as ``name`` with the given collaborators."""
        return self.get(name)(*args, **kwargs)
