"""The emulator's Binance USDⓈ-M futures venue (``/fapi``, ``/fstream``, ``/_control/futures``), for real ccxt
``binanceusdm``; its matching and margin are the simulator's (``exchanges.sim``).

* ``config`` — ``FuturesConfig`` (the ``futures`` section of ``EmulatorConfig``).
* ``market`` — swap markets from the bundled snapshot, exchangeInfo and leverage brackets.
* ``validate`` — order parameters and their error codes.
* ``orders`` — order, fill and income records and their renderings.
* ``engine`` — the wire layer over ``MatchingCore`` + ``MarginAccount``: orders, fills, funding, liquidation.
* ``account`` — account, balance, positionRisk and symbolConfig views; ``settings`` — leverage, margin type.
* ``rest`` / ``streams`` / ``control`` — REST, WebSockets (listenKey user stream, market streams), control.
* ``venue`` — the whole venue: the funding schedule, mark moves, routes.
"""

from trading_bot.emulator.futures.config import FuturesConfig

__all__ = ["FuturesConfig"]  # the venue is imported by path: emulator.config imports this package
