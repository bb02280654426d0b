"""Registries: plug-ins by name, unknown names get the list and a suggestion."""

import pytest

from strategies import STRATEGIES
from trading_bot.errors import ConfigError
from trading_bot.registry import Registry


def test_create_when_name_unknown_raises_config_error_with_suggestion_and_known_names() -> None:
    with pytest.raises(ConfigError) as info:
        STRATEGIES.get("sma_crss")
    message = str(info.value)
    assert "did you mean 'sma_cross'" in message
    assert "known:" in message
    assert "sma_cross" in message


def test_register_twice_under_one_name_is_refused() -> None:
    registry: Registry[object] = Registry("thing", "trading_bot.test_things")
    registry.register("a")(object)
    with pytest.raises(ValueError, match="already registered"):
        registry.register("a")(dict)


def test_create_builds_the_registered_factory_with_collaborators() -> None:
    registry: Registry[dict[str, int]] = Registry("thing", "trading_bot.test_things")

    @registry.register("counter")
    def make(start: int) -> dict[str, int]:
        return {"n": start}

    assert registry.create("counter", 3) == {"n": 3}
    assert registry.names() == ["counter"]


def test_plugins_published_through_entry_points_are_discovered(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # A real installed-distribution layout: a module plus a dist-info with entry_points.txt on sys.path.
    (tmp_path / "my_plugin_mod.py").write_text("def make():\n    return 'plugin-made'\n")
    dist = tmp_path / "my_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: my-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[trading_bot.test_plugins]\nfancy = my_plugin_mod:make\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry: Registry[str] = Registry("thing", "trading_bot.test_plugins")

    assert "fancy" in registry.names()
    assert registry.create("fancy") == "plugin-made"


def test_a_family_serves_its_names_lazily_and_a_single_registration_wins() -> None:
    asked: list[int] = []

    def family_names() -> list[str]:
        asked.append(1)
        return ["x", "y", "solo"]

    registry: Registry[str] = Registry("thing", "trading_bot.test_things")
    registry.register("solo")(lambda: "single")
    registry.register_family(family_names, lambda: "family")

    assert registry.create("solo") == "single"
    assert asked == []  # a single registration is found without asking the family
    assert registry.create("x") == "family"
    assert "y" in registry
    assert registry.names() == ["solo", "x", "y"]
    assert asked == [1]  # asked once
    with pytest.raises(ConfigError, match="did you mean 'x'"):
        registry.get("xx")
