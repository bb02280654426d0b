"""The monitor server: ``/health``, Prometheus ``/metrics``, the JSON API with the operator controls, a dashboard.

A side service of the bot (``TradingBot(services=...)``), off unless ``monitor.enabled`` or ``--monitor``;
it binds 127.0.0.1:8787 by default. Modules: ``settings`` (the config section with the flags), ``auth``
(bearer token, session cookie), ``app`` (the aiohttp application), ``health``, ``metrics`` (a per-bot
registry and a collector reading the bot's state), ``api`` and ``views`` (``/api/v1/``), ``observer`` (order
events, denials, round trips, the equity curve), ``lag`` (event-loop lag), ``events`` (reconnect and
rate-limit counts from the log), ``service`` (binding and serving), ``dashboard`` (the web dashboard's files,
``static/``) and ``stream`` (its live feed, Server-Sent Events). README, "Monitoring and control".
"""

from trading_bot.monitor.service import MonitorServer
from trading_bot.monitor.settings import MonitorSettings
from trading_bot.monitor.settings import monitor_settings

__all__ = ["MonitorServer", "MonitorSettings", "monitor_settings"]
