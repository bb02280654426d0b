#!/bin/sh
# Entry point of the container image: `python /app/runbot.py "$@"` as PID 1 (exec, so SIGTERM reaches the bot).
#
# PGPASSWORD_FILE (a compose or Kubernetes secret) becomes PGPASSWORD, which asyncpg uses when
# persistence.db_url carries no password: the password lives in the secret alone, never in the URL, the
# image or the compose file.
set -eu
if [ -n "${PGPASSWORD_FILE:-}" ]; then
    PGPASSWORD="$(cat "$PGPASSWORD_FILE")"
    export PGPASSWORD
    unset PGPASSWORD_FILE
fi
exec python /app/runbot.py "$@"
