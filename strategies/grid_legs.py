"""The grid's bookkeeping: its orders ("legs") by tag and client id, the exits waiting to go out, how a
refused exit is retried, and what of all that survives a restart.

A leg is one order of the grid: ``open`` (the post-only entry), ``tp`` (a take-profit) or ``close`` (a
boost market close). Its tag ``<kind>:<n>`` is unique for the life of the bot (``n`` is persisted).

An exit (take-profit or boost close) hedges a real fill, so it is given up only for a permanent cause.
The cause is classified once, by the order manager and the risk rules, and comes with the event
(``OrderRejected.post_only`` / ``.transient``, ``OrderDenied.transient``; ``Refusal`` here):

* crossing (post-only would take): re-placed at the best price on its own side of a newer book than the
  one that saw the refusal (the same book would refuse it again); after ``post_only_retries`` such
  tries, every ``recheck_interval``. Never given up.
* transient (a 429, "not received by the exchange" after a 5xx or a timeout, a transient risk denial:
  order rate, stale data, trading state, our view of the balance, ...): re-placed at the same price
  after ``recheck_interval × 2^k`` seconds, k = its transient refusals so far, capped at
  ``exit_retry_max`` (``retry_delay_ms``); forever while the fill is unhedged. ``grid_exit_retry`` is
  logged every time, with ``alert=True`` the first time the wait reaches the cap.
* permanent (filters, insufficient funds, a permanent risk rule; a cancel or expiry the grid did not
  ask for): given up: ``grid_exit_order_lost`` (alert), counted in ``orders_lost`` and
  ``unhedged_quantity``, and the grid's next result asks the supervisor for REDUCING.
* cancelled by the operator (``cancel-all`` or ``flatten``: ``OrderCanceled.by_operator``): released:
  ``grid_exit_released`` (a warning), counted in ``exits_released`` and ``unhedged_quantity``; not put
  back, and no state request (the operator acted on one instrument; the others trade on).

Across a restart the snapshot keeps the legs that were sent (with their client id) and the exits not yet
known to be sent (queued, or handed to the supervisor without an id yet: ``pending_exits``). At the
first pass each pending exit is matched by tag, side and quantity with the orders reconciliation found
(``GridExits.resume``): one that rests is adopted, one that ended is settled from its final state (a
fill completes the cycle, a rejection is retried), and only one the exchange never got is sent again.
So a take-profit goes out after a stop or a crash between a fill and the pass that sends it, once.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from typing import Any

from strategies.base import StrategyContext
from strategies.grid_params import GridParams
from trading_bot.domain import ZERO
from trading_bot.domain import ClientOrderId
from trading_bot.domain import Market
from trading_bot.domain import MarketData
from trading_bot.domain import Order
from trading_bot.domain import OrderCanceled
from trading_bot.domain import OrderDenied
from trading_bot.domain import OrderEvent
from trading_bot.domain import OrderParams
from trading_bot.domain import OrderRejected
from trading_bot.domain import OrderSide
from trading_bot.domain import OrderStatus
from trading_bot.domain import OrderType
from trading_bot.domain import StateRequest
from trading_bot.domain import TradingState
from trading_bot.log import get_logger

__all__ = [
    "KINDS",
    "GridExits",
    "Leg",
    "LegBook",
    "Refusal",
    "missed_refusal",
    "refusal_of",
    "retry_delay_ms",
]

_log = get_logger("strategies.grid")

KINDS = ("open", "tp", "close")
"""The kinds of grid order, the first part of every tag."""

_KEEP_DONE = 256  # finished orders remembered for late fills (the cancel-vs-fill race)
_MAX_DOUBLINGS = 30  # 2**30 × any sane recheck_interval is far past any cap: no float overflow, ever


class Refusal(Enum):
    """Why an order did not go out or left the book unfilled, as far as a retry is concerned."""

    CROSSED = "crossed"  # post-only would have taken: retry at our own best price on a newer book
    TRANSIENT = "transient"  # rate limit, not received, a transient risk denial: retry the same order later
    PERMANENT = "permanent"  # the same order would be refused again (or a cancel/expiry we did not ask for)
    OPERATOR = "operator"  # the operator's cancel-all or flatten pulled it: released, neither retried nor lost


def refusal_of(event: OrderEvent) -> Refusal:
    """Return the classification the order manager put on a denial or rejection (PERMANENT otherwise)."""
    if isinstance(event, OrderRejected):
        if event.post_only:
            return Refusal.CROSSED
        return Refusal.TRANSIENT if event.transient else Refusal.PERMANENT
    if isinstance(event, OrderDenied) and event.transient:
        return Refusal.TRANSIENT
    if isinstance(event, OrderCanceled) and event.by_operator:
        return Refusal.OPERATOR
    return Refusal.PERMANENT


def missed_refusal(status: OrderStatus) -> Refusal:
    """Return how to treat a final state found in the tracker whose event was missed (after a restart).

    Its cause is unknown; a REJECTED or DENIED order never reached the book, so one more try is safe
    and decides (a permanent cause refuses it again, this time with the event). A cancel or expiry that
    the grid did not see is permanent.
    """
    return Refusal.TRANSIENT if status in (OrderStatus.REJECTED, OrderStatus.DENIED) else Refusal.PERMANENT


def retry_delay_ms(refusals: int, base_s: float, cap_s: float) -> int:
    """Return the wait before retrying an exit refused ``refusals + 1`` times for a transient cause, in ms.

    ``base_s × 2**refusals`` seconds, capped at ``cap_s``: the first retry waits ``base_s``.

    Args:
        refusals: transient refusals of this exit before the one just seen (0 for the first).
        base_s: the first wait, seconds (the grid's ``recheck_interval``).
        cap_s: the longest wait, seconds (the grid's ``exit_retry_max``).
    """
    return int(min(cap_s, base_s * 2 ** min(refusals, _MAX_DOUBLINGS)) * 1000)


@dataclass(slots=True, kw_only=True)
class Leg:
    """One order of the grid, from the intent to its end (quantities in base units, prices in quote)."""

    kind: str  # "open", "tp" (take-profit) or "close" (boost market close)
    tag: str
    side: OrderSide
    quantity: Decimal
    price: Decimal | None
    target: Decimal | None = None  # exits: the take-profit price; a retry at the touch never goes past it
    coid: ClientOrderId | None = None
    filled: Decimal = ZERO
    average: Decimal | None = None
    covered: Decimal = ZERO  # open orders: filled quantity already handed to take-profits / closes (or to dust)
    fee_kept: Decimal = ZERO  # open orders: the part of the fills the venue kept as its fee (a spot buy's fee in
    # the base asset, Binance without BNB): the account never received it, so no exit sells it
    retries: int = 0  # exits: post-only refusals so far (the first post_only_retries go on the next book)
    backoff: int = 0  # exits: transient refusals so far (the exponent of the retry wait)
    at_touch: bool = False  # exits: re-place at the best price on our own side (after a post-only refusal)
    refused_on: MarketData | None = None  # exits: the book that saw the post-only refusal (wait for a newer one)
    next_check_ms: int = 0
    cancel_ms: int | None = None
    done: bool = False

    def to_json(self) -> dict[str, Any]:
        """Return the fields that survive a restart (a sent leg with its client id, or a pending exit)."""
        names = _SENT if self.coid is not None else _PENDING
        return {name: _plain(getattr(self, name)) for name in names}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Leg:
        """Rebuild a leg from ``to_json`` output (version 1 snapshots have sent legs only)."""
        leg = cls(kind=str(data["kind"]), tag=str(data["tag"]), side=OrderSide(data["side"]), quantity=ZERO, price=None)
        if data.get("coid") is not None:
            leg.coid = ClientOrderId(str(data["coid"]))
        for name in ("quantity", "price", "target", "filled", "covered", "fee_kept"):
            if name in data:
                setattr(leg, name, None if data[name] is None else Decimal(str(data[name])))
        if leg.target is None and leg.kind == "tp":  # snapshots before targets were kept: the price it had
            leg.target = leg.price
        leg.retries, leg.backoff = int(data.get("retries", 0)), int(data.get("backoff", 0))
        leg.at_touch = bool(data.get("at_touch", False))
        return leg


_SENT = ("kind", "tag", "side", "coid", "quantity", "price", "target", "filled", "covered", "fee_kept")
_PENDING = ("kind", "tag", "side", "quantity", "price", "target", "retries", "backoff", "at_touch")


def _not_past(side: OrderSide, price: Decimal, target: Decimal) -> Decimal:
    """Return ``price``, or ``target`` when ``price`` is on the losing side of it (below for a sell)."""
    return max(price, target) if side is OrderSide.SELL else min(price, target)


def _plain(value: object) -> object:
    return str(value) if isinstance(value, Decimal | OrderSide) else value


class LegBook:
    """The grid's live legs by tag and by client id, finished ones remembered, and the exit queue.

    ``queued`` exits are also live legs (they count as resting take-profits); ``restored`` holds the
    pending exits of a snapshot until the first pass has matched them with the tracker.
    """

    def __init__(self) -> None:
        self.legs: dict[str, Leg] = {}  # tag -> live leg (open, take-profits, closes)
        self.by_id: dict[ClientOrderId, Leg] = {}
        self.queued: list[Leg] = []  # exits (take-profits, boost closes) waiting for a pass
        self.restored: list[Leg] = []
        self.seq = 0
        self._done_ids: deque[ClientOrderId] = deque()

    def new(self, kind: str, side: OrderSide, quantity: Decimal, price: Decimal | None) -> Leg:
        """Create a live leg with the next tag."""
        self.seq += 1
        leg = Leg(kind=kind, tag=f"{kind}:{self.seq}", side=side, quantity=quantity, price=price)
        self.legs[leg.tag] = leg
        return leg

    def hedged(self) -> Decimal:
        """Return what the live legs hedge, base units: every exit's unfilled rest (resting, in flight or queued)
        plus each open order's fills no exit covers yet (the next pass queues one)."""
        return sum((self._hedges(leg) for leg in self.legs.values()), ZERO)

    @staticmethod
    def _hedges(leg: Leg) -> Decimal:
        return leg.filled - leg.fee_kept - leg.covered if leg.kind == "open" else leg.quantity - leg.filled

    def queue_exit(self, leg: Leg) -> Leg:
        """Make ``leg`` live and queue it for the next pass."""
        self.legs[leg.tag] = leg
        self.queued.append(leg)
        return leg

    def attach(self, leg: Leg, coid: ClientOrderId) -> None:
        """Record the client id the order manager gave to ``leg``."""
        leg.coid = coid
        self.by_id[coid] = leg

    def find(self, coid: ClientOrderId, tag: str, *, by_tag: bool) -> Leg | None:
        """Return the leg of an order event by client id, else (``by_tag``: before its id is known) by tag."""
        leg = self.by_id.get(coid)
        if leg is None and by_tag:
            leg = self.legs.get(tag)
        return leg

    def finish(self, leg: Leg) -> None:
        """Mark ``leg`` done: no longer live, its client id remembered a while for late fills."""
        leg.done = True
        self.legs.pop(leg.tag, None)
        if leg.coid is not None:
            self._done_ids.append(leg.coid)
            while len(self._done_ids) > _KEEP_DONE:
                self.by_id.pop(self._done_ids.popleft(), None)

    def tps(self) -> list[Leg]:
        """Return the live take-profits (resting, in flight or queued)."""
        return [leg for leg in self.legs.values() if leg.kind == "tp"]

    def take_due(self, md: MarketData, now_ms: int) -> list[Leg]:
        """Remove and return the queued exits that may go out on ``md`` at ``now_ms``."""
        due = [leg for leg in self.queued if leg.next_check_ms <= now_ms and leg.refused_on is not md]
        self.queued = [leg for leg in self.queued if leg.next_check_ms > now_ms or leg.refused_on is md]
        return due

    def pending_exits(self) -> list[Leg]:
        """Return the exits not yet known to be sent: queued, or handed to the supervisor without an id yet."""
        live = [leg for leg in self.legs.values() if leg.kind != "open" and leg.coid is None]
        return [*live, *self.restored]

    def adopt(self, order: Order) -> Leg:
        """Make an open order of ours found at start (by its tag) a live leg; its fills are already covered."""
        leg = Leg(kind=order.client_tag.partition(":")[0], tag=order.client_tag, side=order.side,
                  quantity=order.quantity, price=order.price, filled=order.filled_quantity,
                  covered=order.filled_quantity)  # fmt: skip
        self.legs[leg.tag] = leg
        number = order.client_tag.partition(":")[2]
        self.seq = max(self.seq, int(number)) if number.isdigit() else self.seq
        return leg

    def to_json(self) -> dict[str, Any]:
        """Return the legs part of the grid's snapshot (``seq``, sent ``legs``, pending ``exits``)."""
        return {
            "seq": self.seq,
            "legs": [leg.to_json() for leg in self.legs.values() if leg.coid is not None],
            "exits": [leg.to_json() for leg in self.pending_exits()],
        }

    def restore(self, seq: int, legs: Iterable[Mapping[str, Any]], exits: Iterable[Mapping[str, Any]]) -> None:
        """Load a snapshot's legs (live again, by id) and pending exits (into ``restored``)."""
        self.seq = seq
        for data in legs:
            leg = Leg.from_json(data)
            if leg.coid is not None:
                self.legs[leg.tag] = leg
                self.attach(leg, leg.coid)
        self.restored = [Leg.from_json(data) for data in exits]


class GridExits:
    """The grid's exits: a take-profit (or boost close) for every fill, priced, queued, sent, retried.

    Shares the grid's ``LegBook`` and its ``counts``. ``unhedged`` (base units) sums what could not be
    hedged (fills below the market minimum, exits given up); ``state_request`` is set when an exit is
    given up, for the grid's next result.

    Args:
        params: the grid's parameters.
        book: the grid's legs.
        counts: the grid's summary counters (shared, updated in place).
    """

    def __init__(self, params: GridParams, book: LegBook, counts: dict[str, int]) -> None:
        self.params = params
        self.book = book
        self.counts = counts
        self.side = params.side.opposite
        self.unhedged = ZERO
        self.dust = ZERO
        """Base units received that no exit sells yet because they are below one lot step (what a base-asset
        fee leaves of a fill); the next exit takes them along once they reach a lot step."""
        self.state_request: StateRequest | None = None

    def cover(self, ctx: StrategyContext, leg: Leg, *, final: bool) -> None:
        """Queue an exit for what ``leg`` (an open order) filled since the last call; ``final``: it ended.

        The exit is for what the fills delivered (the filled amount less a fee the venue kept in the base
        asset, ``fee_kept``) plus the ``dust`` of earlier fills, rounded down to the lot step; the remainder
        below one lot step becomes the new ``dust``. With fees in quote, that is exactly the filled amount.
        """
        delivered = leg.filled - leg.fee_kept - leg.covered
        basis = leg.average if leg.average is not None else leg.price
        if delivered <= 0 or basis is None:
            return
        market = ctx.market
        total = delivered + self.dust
        rounded = market.round_amount(total) if market.amount_increment > 0 else total
        amount = total if rounded == total else rounded  # on the step already: keep the fill's own digits
        if amount <= 0:  # below one lot step, with what earlier fills left: kept for the next exit
            leg.covered += delivered
            self.dust += delivered
            return
        if amount < market.min_amount or amount * basis < market.min_notional:
            if final:  # the order is over and the remainder cannot be hedged: say so
                leg.covered += delivered
                self.unhedged += delivered + self.dust
                self.dust = ZERO
                _log.error("grid_fill_below_minimum", tag=leg.tag, unhedged=str(delivered), alert=True)
            return
        leg.covered += delivered
        self.dust = delivered + self.dust - amount
        self.queue(amount, None if self.params.boost else self._tp_price(ctx.market, basis))

    def rebuild(self, ctx: StrategyContext, amount: Decimal, basis: Decimal) -> Leg | None:
        """Queue an exit for ``amount`` (base units) that the position holds and no exit covers, priced from
        ``basis`` (the position's average entry) like any take-profit; ``None`` (and ``unhedged`` grows) when
        it is below the market's minimum."""
        market = ctx.market
        amount = market.round_amount(amount)
        if amount <= 0:  # dust: below one lot step, nothing could sell it
            return None
        if amount < market.min_amount or amount * basis < market.min_notional:
            self.unhedged += amount
            _log.error("grid_fill_below_minimum", tag=None, unhedged=str(amount), alert=True)
            return None
        self.counts["exits_rebuilt"] += 1
        return self.queue(amount, None if self.params.boost else self._tp_price(market, basis))

    def _tp_price(self, market: Market, basis: Decimal) -> Decimal:
        rate = self.params.take_profit / 100
        if self.side is OrderSide.SELL:  # a buy grid: rounded up, so the profit is never below take_profit
            return market.round_price(basis * (1 + rate), "up")
        return market.round_price(basis * (1 - rate), "down")

    def queue(
        self,
        quantity: Decimal,
        price: Decimal | None,
        *,
        target: Decimal | None = None,
        retries: int = 0,
        backoff: int = 0,
        at_touch: bool = False,
    ) -> Leg:
        """Queue a new exit: a take-profit at ``price`` (``target``: its take-profit price, default ``price``),
        or a boost market close when ``price`` is None."""
        leg = self.book.new("tp" if price is not None else "close", self.side, quantity, price)
        leg.target = price if target is None else target
        leg.retries, leg.backoff, leg.at_touch = retries, backoff, at_touch
        return self.book.queue_exit(leg)

    def emit(self, ctx: StrategyContext, md: MarketData) -> list[OrderParams]:
        """Turn the due exits into intents priced against ``md`` (a crossing take-profit and a retry after a
        post-only refusal go to the best price on their own side, but never past the take-profit target: a
        retry on a book that fell back below a sell's target rests at the target)."""
        out, reduce = [], ctx.market.contract
        for leg in self.book.take_due(md, ctx.clock.now_ms()):
            side, qty = leg.side, leg.quantity
            if leg.price is None:  # boost: close at market
                self.counts["boost_closes"] += 1
                out.append(OrderParams(side=side, quantity=qty, order_type=OrderType.MARKET, reduce_only=reduce,
                                       client_tag=leg.tag))  # fmt: skip
                continue
            own_best = md.ask if side is OrderSide.SELL else md.bid
            crosses = leg.price <= md.bid if side is OrderSide.SELL else leg.price >= md.ask
            if md.ask > md.bid > 0 and (crosses or leg.at_touch):
                leg.price = own_best if leg.target is None else _not_past(side, own_best, leg.target)
            self.counts["take_profits_placed"] += 1
            out.append(OrderParams(side=side, quantity=qty, price=leg.price, post_only=True, reduce_only=reduce,
                                   client_tag=leg.tag))  # fmt: skip
        return out

    def refused(
        self, ctx: StrategyContext, leg: Leg, status: OrderStatus, reason: str, refusal: Refusal, md: MarketData | None
    ) -> None:
        """Retry an exit that left unfilled (refused, cancelled, expired), or give it up for a permanent cause.

        Args:
            ctx: the grid's context (clock, market).
            leg: the exit, already finished in the book.
            status: its final status.
            reason: why, for the log.
            refusal: the classification of the cause.
            md: the book of the pass that saw a post-only refusal (the retry waits for a newer one).
        """
        left, params, now = leg.quantity - leg.filled, self.params, ctx.clock.now_ms()
        if refusal is Refusal.OPERATOR:
            self._release(leg, left)
            return
        if refusal is Refusal.PERMANENT:
            self._give_up(ctx, leg, status, reason, left)
            return
        self.counts["exit_retries"] += 1
        retry = self.queue(
            left, leg.price, target=leg.target, retries=leg.retries, backoff=leg.backoff, at_touch=leg.at_touch
        )
        if refusal is Refusal.CROSSED:  # the market is past the target: our own best price of a newer book
            retry.retries, retry.backoff, retry.at_touch, retry.refused_on = leg.retries + 1, 0, True, md
            if leg.retries >= params.post_only_retries:  # the quick tries are spent: every recheck_interval
                retry.next_check_ms = now + int(params.recheck_interval * 1000)
                _log.warning("grid_exit_still_crossing", tag=leg.tag, retries=leg.retries, quantity=str(left))
            return
        self.counts["exit_transient_retries"] += 1
        base_s, cap_s = params.recheck_interval, params.exit_retry_max
        wait_ms = retry_delay_ms(leg.backoff, base_s, cap_s)
        retry.backoff, retry.next_check_ms = leg.backoff + 1, now + wait_ms
        earlier_ms = retry_delay_ms(leg.backoff - 1, base_s, cap_s) if leg.backoff else 0
        capped = wait_ms >= int(cap_s * 1000) > earlier_ms  # the first wait at the cap: say so, loudly
        _log.warning("grid_exit_retry", tag=leg.tag, retry_tag=retry.tag, status=status.value, reason=reason,
                     attempt=retry.backoff, retry_in_s=wait_ms / 1000, quantity=str(left), alert=capped)  # fmt: skip

    def _release(self, leg: Leg, left: Decimal) -> None:
        """The operator cancelled the exit: the rest of its fill is the operator's to manage (a warning, no
        state request: the cancel of one instrument must not restrict the others)."""
        self.counts["exits_released"] += 1
        self.unhedged += left
        _log.warning("grid_exit_released", tag=leg.tag, unhedged=str(left), reason="cancelled by the operator")

    def _give_up(self, ctx: StrategyContext, leg: Leg, status: OrderStatus, reason: str, left: Decimal) -> None:
        self.counts["orders_lost"] += 1
        self.unhedged += left
        _log.error(
            "grid_exit_order_lost", tag=leg.tag, status=status.value, reason=reason, unhedged=str(left), alert=True
        )
        what = "take-profit" if leg.kind == "tp" else "boost close"
        self.state_request = StateRequest(
            state=TradingState.REDUCING,
            reason=f"grid {what} {leg.tag} given up ({status.value}: {reason}); "
            f"{left} {ctx.market.base} of filled position is unhedged",
        )

    def resume(self, ctx: StrategyContext, leg: Leg) -> None:
        """Queue a restored pending exit again, unless reconciliation shows it was sent (matched by tag, side
        and quantity): one that rests was adopted already; one that ended is attached to its order, so the
        grid settles it from the final state."""
        order = ctx.tagged_order(leg.tag)
        if order is not None and order.side is leg.side and order.quantity == leg.quantity:
            if order.client_order_id not in self.book.by_id:  # it ended while the bot was down
                self.book.legs[leg.tag] = leg
                self.book.attach(leg, order.client_order_id)
            _log.info("grid_restored_exit_found", tag=leg.tag, client_order_id=order.client_order_id,
                      status=order.status.value)  # fmt: skip
            return
        _log.warning("grid_restored_exit_queued", tag=leg.tag, quantity=str(leg.quantity), price=str(leg.price))
        self.book.queue_exit(leg)
