#!/bin/sh
# Runs "estatewatch <command>". For "ingest", it first gives the worker an identity of
# its own unless one is set: each worker needs its own MQTT client id (it names the
# persistent session; two workers with one id would take it from each other) and its own
# spill and dead-letter files. The container's hostname is its id; it stays
# the same across restarts of the container, not across its re-creation (see
# docker-compose.yml about sessions left behind).
set -eu

if [ "${1:-}" = ingest ]; then
    : "${ESTATEWATCH_INGEST_CLIENT_ID:=estatewatch-ingest-$HOSTNAME}"
    state="/var/lib/estatewatch/ingest/$ESTATEWATCH_INGEST_CLIENT_ID"
    : "${ESTATEWATCH_INGEST_SPILL_PATH:=$state/spill.sqlite}"
    : "${ESTATEWATCH_INGEST_DEAD_LETTER_PATH:=$state/dead_letters.jsonl}"
    export ESTATEWATCH_INGEST_CLIENT_ID ESTATEWATCH_INGEST_SPILL_PATH ESTATEWATCH_INGEST_DEAD_LETTER_PATH
fi

exec estatewatch "$@"
