"""The configuration models: frozen pydantic sections, redaction, the config hash and the example file."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any
from typing import Literal
from urllib.parse import quote

from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import Field
from pydantic import field_validator

from exchanges.config import ExchangeConfig
from risk.config import RiskConfig
from trading_bot.config.alerts import AlertsSection
from trading_bot.config.monitor import MonitorSection
from trading_bot.domain import decimal_text
from trading_bot.domain.bounds import HeartbeatSeconds
from trading_bot.domain.bounds import TimeoutSeconds
from trading_bot.domain.ids import Symbol
from trading_bot.domain.instrument import VENUE_NAME_PATTERN
from trading_bot.domain.instrument import InstrumentId
from trading_bot.domain.instrument import split_venue
from trading_bot.domain.instrument import venue_name
from trading_bot.errors import ConfigError
from trading_bot.log import REDACTED
from trading_bot.log import is_secret_key
from trading_bot.log import redact_text
from trading_bot.log import url_passwords

__all__ = [
    "DB_URL_FORMS",
    "ENV_PREFIX",
    "SECRET_FIELDS",
    "SECTION_SECRETS",
    "BotConfig",
    "BotSection",
    "LoggingSection",
    "PersistenceSection",
    "StrategySection",
    "example_config_json",
    "normalize_db_url",
    "secret_paths",
]

ENV_PREFIX = "TRADING_BOT__"
"""Prefix of environment variables that set config keys (``TRADING_BOT__RISK__MAX_OPEN_ORDERS``)."""

SECRET_FIELDS = ("api_key", "secret", "password")
"""Fields of ``exchange`` that hold secrets; read only from the environment, .env or credentials."""

SECTION_SECRETS: tuple[tuple[str, str], ...] = (("monitor", "token"),)
"""``(section, field)`` secrets of other sections: read from ``TRADING_BOT__<SECTION>__<FIELD>`` or the credential
file ``<section>_<field>`` only, redacted like the exchange's."""

_FROZEN = ConfigDict(frozen=True, extra="forbid")
_BOT_ID = re.compile(r"[A-Za-z0-9_]{1,20}")


def _checked_symbol(value: str) -> str:
    base, sep, quote = split_venue(value)[1].partition("/")
    if not (base and sep and quote) or value != value.strip():
        raise ValueError(f"expected a ccxt unified symbol like 'BTC/USDT', got {value!r}")
    return value


class BotSection(BaseModel):
    """Identity of this bot, its market and its runtime timings."""

    model_config = _FROZEN

    bot_id: str = Field(
        default="tb1",
        description="1-20 characters [A-Za-z0-9_]; prefixes client order ids as <bot_id>-<seq>",
    )
    symbol: str = Field(
        default="BTC/USDT",
        description="the ccxt unified symbol traded, e.g. BTC/USDT; VENUE:SYMBOL (spot:BTC/USDT) picks one of venues",
    )
    symbols: list[str] = Field(
        default_factory=list,
        description="several symbols, one strategy instance each (overrides symbol when set; --symbol repeated)",
    )
    data_dir: Path = Field(
        default=Path("./var"), description="directory of the journal and state files (relative to the cwd)"
    )
    on_shutdown: Literal["cancel", "keep"] = Field(
        default="cancel", description="on a clean stop, cancel the bot's open orders or keep them resting"
    )
    shutdown_timeout_s: TimeoutSeconds = Field(
        default=15.0, description="seconds the ordered shutdown may take before it is cut short"
    )
    heartbeat_s: HeartbeatSeconds = Field(
        default=1.0, description="seconds between supervisor wake-ups of the strategy when no data arrives"
    )

    @field_validator("bot_id")
    @classmethod
    def _check_bot_id(cls, value: str) -> str:
        if _BOT_ID.fullmatch(value) is None:
            raise ValueError("expected 1-20 characters of A-Z, a-z, 0-9 or _")
        return value

    @field_validator("symbol")
    @classmethod
    def _check_symbol(cls, value: str) -> str:
        return _checked_symbol(value)

    @field_validator("symbols")
    @classmethod
    def _check_symbols(cls, value: list[str]) -> list[str]:
        for symbol in value:
            _checked_symbol(symbol)
        if len(set(value)) != len(value):
            raise ValueError("a symbol is named twice")
        return value

    @property
    def traded(self) -> list[str]:
        """The symbols traded: ``symbols`` when set, else ``[symbol]``."""
        return list(self.symbols) or [self.symbol]


class StrategySection(BaseModel):
    """Which strategy runs; its parameters are validated by the strategy's own ``Params`` model."""

    model_config = _FROZEN

    name: str = Field(default="sma_cross", min_length=1, description="registered strategy name (grid, sma_cross)")
    params: dict[str, Any] = Field(
        default_factory=dict, description="the strategy's parameters; units as its Params model documents"
    )


class LoggingSection(BaseModel):
    """How logs are written (always to stderr)."""

    model_config = _FROZEN

    level: Literal["debug", "info", "warning", "error"] = Field(default="info", description="lowest level logged")
    format: Literal["auto", "console", "json"] = Field(
        default="auto", description="console, json, or auto: console on a terminal, json otherwise"
    )

    @field_validator("level", "format", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value


class PersistenceSection(BaseModel):
    """Where the journal (orders, fills, strategy state) is stored.

    ``db_url`` is normalised once, here: ``sqlite:///PATH`` (the form freqtrade and SQLAlchemy users write)
    becomes ``sqlite+aiosqlite:///PATH``; ``postgresql://`` and ``postgres://`` become
    ``postgresql+asyncpg://``. Any other scheme, a URL without a path, an in-memory SQLite database and a
    NUL byte are refused with the list of supported forms (:data:`DB_URL_FORMS`).
    """

    model_config = _FROZEN

    db_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the journal: sqlite:///PATH or postgresql://USER@HOST/DB (async drivers "
        "added); default sqlite+aiosqlite:///<bot.data_dir>/journal.db",
    )
    enabled: bool = Field(default=True, description="journal orders and fills; off only for throwaway runs")

    @field_validator("db_url")
    @classmethod
    def _check_db_url(cls, value: str | None) -> str | None:
        return None if value is None else normalize_db_url(value)

    def resolved_db_url(self, data_dir: Path) -> str:
        """Return ``db_url``, or the SQLite file ``<data_dir>/journal.db`` when it is not set.

        Raises:
            ConfigError: ``data_dir`` contains a NUL byte (no file system accepts one).
        """
        if self.db_url is not None:
            return self.db_url
        text = str(data_dir.expanduser() / "journal.db")
        if "\x00" in text:
            raise ConfigError(f"bot.data_dir: contains a NUL byte ({str(data_dir)!r}); give a directory path")
        return f"sqlite+aiosqlite:///{quote(text, safe=_PATH_SAFE)}"


DB_URL_FORMS = (
    "sqlite+aiosqlite:///PATH (or sqlite:///PATH; four slashes for an absolute path), "
    "postgresql+asyncpg://USER@HOST/DB (or postgresql://, postgres://; pip install 'trading-bot[postgres]')"
)
"""The journal URLs ``persistence.db_url`` accepts, for error messages and the README."""

_DB_SCHEMES = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
}
_PATH_SAFE = "/~!$&'()*+,;=:@-._"  # kept as typed in a file URL; '?', '#', '%' and spaces are escaped


def normalize_db_url(url: str) -> str:
    """Return the async-driver form of a journal URL (see :class:`PersistenceSection`).

    Raises:
        ValueError: not a supported journal URL; the message lists :data:`DB_URL_FORMS`.
    """
    if "\x00" in url:
        raise ValueError("contains a NUL byte; remove it")
    scheme, sep, rest = url.strip().partition("://")
    if not sep or not scheme:
        raise ValueError(f"not a database URL; expected {DB_URL_FORMS}")
    driver = _DB_SCHEMES.get(scheme.lower())
    if driver is None:
        raise ValueError(f"unsupported database {scheme!r}; expected {DB_URL_FORMS}")
    if driver.startswith("sqlite"):
        path = rest[1:].partition("?")[0] if rest.startswith("/") else ""
        if not rest.startswith("/"):
            raise ValueError(f"a SQLite URL names a file after three slashes; expected {DB_URL_FORMS}")
        if path in ("", ":memory:"):
            raise ValueError(
                "an in-memory journal forgets every order when the bot stops; name a file, e.g. "
                "sqlite:///var/journal.db (or set persistence.enabled=false for a throwaway run)"
            )
    elif not rest.strip("/"):
        raise ValueError(f"a PostgreSQL URL needs a host and database; expected {DB_URL_FORMS}")
    return f"{driver}://{rest}"


class BotConfig(BaseModel):
    """The whole configuration of one bot process."""

    model_config = _FROZEN

    bot: BotSection = Field(default_factory=BotSection, description="identity, symbol, data dir, timings")
    exchange: ExchangeConfig = Field(default_factory=ExchangeConfig, description="exchange, keys, paper account")
    strategy: StrategySection = Field(default_factory=StrategySection, description="strategy name and params")
    risk: RiskConfig = Field(default_factory=RiskConfig, description="risk rules, sizer, account protection")
    logging: LoggingSection = Field(default_factory=LoggingSection, description="log level and format")
    persistence: PersistenceSection = Field(default_factory=PersistenceSection, description="the journal")
    monitor: MonitorSection = Field(default_factory=MonitorSection, description="health, metrics and control API")
    alerts: AlertsSection = Field(default_factory=AlertsSection, description="alert channels and delivery")
    venues: dict[str, ExchangeConfig] = Field(
        default_factory=dict,
        description="named exchange accounts, each like the exchange section (keys from "
        "TRADING_BOT__VENUES__<NAME>__API_KEY / __SECRET); bot.symbol VENUE:SYMBOL picks one",
    )

    @field_validator("venues")
    @classmethod
    def _check_venue_names(cls, value: dict[str, ExchangeConfig]) -> dict[str, ExchangeConfig]:
        for name in value:
            if not VENUE_NAME_PATTERN.fullmatch(name):
                raise ValueError(
                    f"venue name {name!r}: use lower-case letters, digits and _, starting with a letter (at most 32)"
                )
        return value

    def venue_configs(self) -> dict[str, ExchangeConfig]:
        """Return the exchange accounts by venue name: ``venues``, or else the ``exchange`` section as the one
        venue, named after its exchange (``binance``; ``instrument.venue_name``)."""
        return dict(self.venues) if self.venues else {venue_name(self.exchange.name): self.exchange}

    def select_venue(self) -> tuple[BotConfig, InstrumentId]:
        """Return this config narrowed to the venue that ``bot.symbol`` names, and the instrument traded.

        The returned config's ``exchange`` is that venue's section and its ``bot.symbol`` the bare symbol,
        so everything that reads ``exchange`` trades the chosen account. A bare symbol picks the only
        venue; with several, the symbol must name one (``spot:BTC/USDT``).

        Raises:
            ConfigError: ``exchange`` and ``venues`` both set, an unknown venue (with "did you mean"),
                or a bare symbol while several venues are configured (one line each).
        """
        instrument = self.resolve_instrument(self.bot.symbol)
        return self.for_venue(instrument.venue, instrument.symbol), instrument

    def instruments(self, texts: Sequence[str] | None = None) -> list[InstrumentId]:
        """Return the instruments of ``texts`` (default: ``bot.traded``), each resolved as ``resolve_instrument``.

        Raises:
            ConfigError: as ``resolve_instrument``; or the same instrument named twice.
        """
        found = [self.resolve_instrument(t) for t in (self.bot.traded if texts is None else texts)]
        for i, instrument in enumerate(found):
            if instrument in found[:i]:
                raise ConfigError(f"bot.symbols: {instrument} is named twice; name each instrument once")
        return found

    def resolve_instrument(self, text: str) -> InstrumentId:
        """Return the instrument ``text`` names: ``VENUE:SYMBOL``, or a bare symbol on the only venue.

        Raises:
            ConfigError: ``exchange`` and ``venues`` both set, an unknown venue (with "did you mean"),
                or a bare symbol while several venues are configured (one line each).
        """
        venues = self.venue_configs()
        names = ", ".join(sorted(venues))
        if self.venues and "exchange" in self.model_fields_set:
            raise ConfigError(
                "exchange: set either the exchange section (one venue) or venues, not both; with venues, name "
                f"the venue in the symbol (--symbol VENUE:{split_venue(text)[1]}; venues: {names})"
            )
        venue, symbol = split_venue(text)
        if venue is not None and venue not in venues and venue.lower() in venues:
            venue = venue.lower()  # venue names are lower-case (their variables are matched without case)
        if venue is None:
            if len(venues) > 1:
                raise ConfigError(
                    f"bot.symbol: {symbol} names no venue and {len(venues)} are configured; write VENUE:SYMBOL, "
                    f"e.g. {min(venues)}:{symbol} (venues: {names})"
                )
            venue = next(iter(venues))
        elif venue not in venues:
            from trading_bot.registry import did_you_mean

            raise ConfigError(
                f"bot.symbol: unknown venue {venue!r} in {text!r}{did_you_mean(venue, venues)}; venues: {names}"
            )
        try:
            return InstrumentId(venue, Symbol(symbol))
        except ValueError as exc:  # a venue name the exchange shorthand allows but an instrument does not
            raise ConfigError(f"bot.symbol: {text!r}: {exc}") from None

    def for_venue(self, venue: str, symbol: str) -> BotConfig:
        """Return this config narrowed to one venue: its section as ``exchange``, ``symbol`` as ``bot.symbol``."""
        return self.model_copy(
            update={
                "exchange": self.venue_configs()[venue],
                "bot": self.bot.model_copy(update={"symbol": symbol, "symbols": []}),
            }
        )

    def redacted(self) -> dict[str, Any]:
        """Return the config as JSON-ready data with secrets hidden: the only form ever printed or logged.

        Secrets show as ``"**********"`` when set and ``None`` when not; a password in ``db_url`` and
        secret-looking keys inside ``ccxt_options`` and strategy ``params`` are hidden too.
        """
        return _redact(self.model_dump(mode="json"), self)

    def config_hash(self) -> str:
        """Return the sha256 hex digest of the canonical redacted config, secrets left out entirely.

        Equal configs hash equally whatever their source, key order, number spelling (``1000`` or
        ``1000.0``) or whether keys are set, so a run record can tell whether the configuration changed.
        """
        data = _redact(self.model_dump(mode="python"), self)
        for section in [data["exchange"], *data["venues"].values()]:
            for name in SECRET_FIELDS:
                del section[name]
        for section_name, name in SECTION_SECRETS:
            del data[section_name][name]
        canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_canonical)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def secret_values(self) -> list[str]:
        """Return the plain values of the secrets that are set, for ``trading_bot.log.register_secret``.

        The exchange's key, secret and password first, then every text under a secret-looking key of
        ``ccxt_options`` (a header, a token) or of the strategy params, and the password of ``db_url``.
        """
        accounts = [self.exchange, *self.venues.values()]
        values = (getattr(account, name) for account in accounts for name in SECRET_FIELDS)
        found = [value.get_secret_value() for value in values if value is not None]
        for tree in (*(account.ccxt_options for account in accounts), self.strategy.params):
            for _, value in secret_paths(tree):
                found.extend(_texts(value))
        if self.persistence.db_url is not None:
            found.extend(url_passwords(self.persistence.db_url))
        for section_name, name in SECTION_SECRETS:
            value = getattr(getattr(self, section_name), name)
            if value is not None:
                found.append(value.get_secret_value())
        found.extend(self.alerts.secret_values())
        return [text for text in dict.fromkeys(found) if text]


def secret_paths(value: Any, at: tuple[str | int, ...] = ()) -> Iterator[tuple[tuple[str | int, ...], Any]]:
    """Yield ``(path, value)`` for every secret-looking key (``trading_bot.log.is_secret_key``) set to non-null.

    Walks dicts and lists at any depth; a secret key's value is not walked further. ``path`` is the
    key path from ``value`` (list items by index).
    """
    if isinstance(value, dict):
        for key, item in value.items():
            if is_secret_key(str(key)) and item is not None:
                yield (*at, str(key)), item
            else:
                yield from secret_paths(item, (*at, str(key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from secret_paths(item, (*at, index))


def _texts(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [text for item in value.values() for text in _texts(item)]
    if isinstance(value, list):
        return [text for item in value for text in _texts(item)]
    return [] if value is None or isinstance(value, bool) else [str(value)]


def _redact(data: dict[str, Any], config: BotConfig) -> dict[str, Any]:
    accounts = [(data["exchange"], config.exchange)]
    accounts += [(data["venues"][name], venue) for name, venue in config.venues.items()]
    for section, account in accounts:
        for name in SECRET_FIELDS:
            section[name] = None if getattr(account, name) is None else REDACTED
        section["ccxt_options"] = _mask_secret_keys(section["ccxt_options"])
    data["strategy"]["params"] = _mask_secret_keys(data["strategy"]["params"])
    if data["persistence"]["db_url"] is not None:
        data["persistence"]["db_url"] = redact_text(data["persistence"]["db_url"])
    for section_name, name in SECTION_SECRETS:
        data[section_name][name] = None if getattr(getattr(config, section_name), name) is None else REDACTED
    return data


def _mask_secret_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: REDACTED if is_secret_key(str(key)) and item is not None else _mask_secret_keys(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_mask_secret_keys(item) for item in value]
    return value


def _canonical(value: object) -> object:
    if isinstance(value, Decimal):
        return decimal_text(value)
    return str(value)  # Path


def example_config_json() -> str:
    """Return the text of ``config.example.json``: every key with its default, no secrets."""

    def number(value: object) -> object:
        if isinstance(value, Decimal):
            return int(value) if value == value.to_integral_value() else float(value)
        raise TypeError(f"cannot write {type(value).__name__} to JSON")

    data = BotConfig().model_dump(mode="python")
    data["bot"]["data_dir"] = str(data["bot"]["data_dir"])
    return json.dumps(data, indent=2, default=number) + "\n"
