"""The result of one doctor check: a status, what was found, and the fix when it failed."""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = ["Check", "Status", "failed", "passed", "scrubbed", "skipped"]


class Status(StrEnum):
    """How a check came out: ``pass``, ``fail``, or ``skip`` (not applicable here; never a failure)."""

    PASS = "pass"  # noqa: S105 - a status, not a password
    FAIL = "fail"
    SKIP = "skip"


@dataclass(frozen=True, slots=True, kw_only=True)
class Check:
    """One line of the doctor's table.

    Attributes:
        name: stable id of the check (``config``, ``venue binance: clock``, ...).
        status: pass, fail or skip.
        detail: what was found, one line; never a secret.
        fix: what to do about a failure (empty when it passed or was skipped).
    """

    name: str
    status: Status
    detail: str
    fix: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Return the check as JSON-ready data."""
        return {"name": self.name, "status": str(self.status), "detail": self.detail, "fix": self.fix}


def passed(name: str, detail: str) -> Check:
    """Return a passed check."""
    return Check(name=name, status=Status.PASS, detail=detail)


def failed(name: str, detail: str, fix: str) -> Check:
    """Return a failed check naming its fix."""
    return Check(name=name, status=Status.FAIL, detail=detail, fix=fix)


def skipped(name: str, detail: str) -> Check:
    """Return a skipped check (not applicable; it does not fail the run)."""
    return Check(name=name, status=Status.SKIP, detail=detail)


def scrubbed(checks: Sequence[Check], secrets: Iterable[str]) -> list[Check]:
    """Return ``checks`` with every secret value in a detail or fix replaced by ``***`` (a venue's error may echo
    what it was sent)."""
    values = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def clean(text: str) -> str:
        for value in values:
            text = text.replace(value, "***")
        return text

    return [Check(name=c.name, status=c.status, detail=clean(c.detail), fix=clean(c.fix)) for c in checks]
