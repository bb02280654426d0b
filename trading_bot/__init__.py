"""trading_bot: an asyncio trading daemon with pluggable strategies and exchanges."""

__all__ = ["__version__"]

__version__ = "0.1.0"
