#!/usr/bin/env python3
"""Entry point: ``python runbot.py --help``. A thin shim into ``trading_bot.cli``."""

if __name__ == "__main__":
    from trading_bot.stop_signals import exit_before_start

    exit_before_start()  # first, before the heavy imports: a signal now exits 0 at once, never kills (143)

    from trading_bot.cli import main

    main()
