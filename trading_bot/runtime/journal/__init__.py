"""The journal: runs, orders, fills, denials and strategy state in SQLite or PostgreSQL.

``store`` (the ``Journal`` and its batching writer), ``schema`` (tables and versioned migrations),
``intent`` (the write-ahead intent path) and ``link`` (what a run holds open). The modules import
SQLAlchemy, so this package imports none of them: a run without a journal never loads it.
"""

__all__: list[str] = []
