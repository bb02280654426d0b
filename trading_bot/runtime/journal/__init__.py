"""The journal: runs, orders, fills, denials, adoptions and strategy state in SQLite or PostgreSQL.

``store`` (the ``Journal``), ``writer`` (its batching writer), ``schema`` (tables and versioned
migrations), ``rows`` (records and row conversions), ``intent`` (the write-ahead intent path),
``connect`` (engines, read-only access, ``check_journal``), ``access`` (paths, file modes and one-line
errors), ``lock`` (one bot per journal) and ``link`` (what a run holds open). The modules import
SQLAlchemy, so this package imports none of them: a run without a journal never loads it.
"""

__all__: list[str] = []
