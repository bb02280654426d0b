"""The ccxt adapter: the only package that imports ccxt (lazily, inside ``client`` and ``parse``).

``adapter.CcxtExchange`` is the client of the exchange contract; it delegates each job to one module:
``client`` (building the ccxt client, the session every call goes through), ``parse`` (ccxt dicts →
domain values, checked once), ``market_data`` (streams, polling, REST quotes and bars), ``orders``
(placing, cancelling, lookups and unknown outcomes, account reads), ``user_stream`` (order reports and
fills, the REST cross-check), with ``known`` (what the session learnt about orders) and ``retry`` (the
one back-off of reconnects and read retries). ``errors`` maps ccxt's exceptions onto
``trading_bot.errors`` in one place; ``market_queue`` hands live market data to the supervisor
newest-book-first; ``rejections`` counts refused market data. Importing this package imports none of them.
"""

__all__: list[str] = []
