#!/usr/bin/env python3
"""Entry point: ``python runbot.py --help``. A thin shim into ``trading_bot.cli``."""

from trading_bot.cli import main

if __name__ == "__main__":
    main()
