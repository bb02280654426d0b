"""Parameter search on Optuna over real backtests (``runbot.py optimize``; DESIGN.md §6).

Modules: ``space`` (search spaces from a strategy's ``Params``), ``folds`` (in/out-of-sample windows),
``worker`` (one trial = one backtest in a worker process), ``study`` (Optuna storage, sampler, ask/tell loop),
``run`` (the folds' studies and the out-of-sample check), ``results`` (ranking, overfitting figures),
``deflated`` (the deflated Sharpe ratio), ``report`` (HTML report, ``best.json``).
"""

__all__: list[str] = []
