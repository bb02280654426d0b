"""The ccxt adapter: the only package that imports ccxt (lazily, inside ``adapter``).

``adapter`` builds and drives a ccxt client (markets, streams, orders, user stream); ``errors`` maps
ccxt's exceptions onto ``trading_bot.errors`` in one place; ``market_queue`` hands live market data to
the supervisor newest-book-first. Importing this package imports none of them.
"""

__all__: list[str] = []
