"""RiskConfig: safe defaults, null switches a limit off, unknown keys and bad figures are refused."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from risk.config import ProtectionConfig
from risk.config import RiskConfig


def test_defaults_match_the_documented_protection_thresholds() -> None:
    config = RiskConfig()

    assert config.protection == ProtectionConfig(
        emergency_loss_pct=Decimal(15),
        account_loss_pct=Decimal(10),
        max_consecutive_failures=15,
        failure_window_s=600,
        close_worst_fraction=Decimal("0.2"),
        stall_timeout_s=600,
    )
    assert config.max_order_notional == Decimal(1000)


def test_null_switches_a_limit_off() -> None:
    config = RiskConfig.model_validate({"max_order_notional": None, "price_band_pct": None})

    assert config.max_order_notional is None
    assert config.price_band_pct is None


def test_unknown_key_is_rejected() -> None:
    with pytest.raises(ValidationError, match="max_notional"):
        RiskConfig.model_validate({"max_notional": 5})


def test_config_is_frozen() -> None:
    config = RiskConfig()

    with pytest.raises(ValidationError):
        config.max_open_orders = 3


def test_fraction_of_equity_above_one_is_rejected() -> None:
    with pytest.raises(ValidationError, match="fraction of equity"):
        RiskConfig.model_validate({"sizing": {"mode": "fraction_of_equity", "value": "2"}})


def test_account_loss_at_or_above_emergency_loss_is_rejected() -> None:
    with pytest.raises(ValidationError, match="must be below"):
        ProtectionConfig(account_loss_pct=Decimal(20), emergency_loss_pct=Decimal(15))


def test_every_field_has_a_description() -> None:
    models = (RiskConfig, ProtectionConfig, RiskConfig.model_fields["sizing"].annotation)

    missing = [
        f"{model.__name__}.{name}"  # type: ignore[union-attr]
        for model in models
        for name, field in model.model_fields.items()  # type: ignore[union-attr]
        if not field.description
    ]

    assert missing == []
