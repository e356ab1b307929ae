#!/bin/sh
# The restore drill: restore the newest backup under $1 into a scratch database (a temporary
# SQLite file, or a new PostgreSQL database next to DATABASE_URL's, dropped afterwards).
# `amparo restore` checks the checksum, that the current DATA_KEYS decrypt the key canary, and
# that every table's row count matches the manifest. Never touches DATABASE_URL's database.
set -eu
backups=${1:?usage: restore-drill.sh BACKUP_DIR}
amparo=${AMPARO:-/opt/amparo/.venv/bin/amparo}
python=$(dirname "$amparo")/python
newest=$(ls -1d "$backups"/amparo-* 2>/dev/null | sort | tail -n 1)
if [ -z "$newest" ]; then
    echo "restore drill: no backup in $backups" >&2
    exit 1
fi
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
backend=$("$python" -c 'import json, sys; print(json.load(open(sys.argv[1]))["backend"])' "$newest/manifest.json")
case "$backend" in
sqlite)
    DATABASE_URL="sqlite:///$scratch/drill.sqlite3" "$amparo" restore "$newest"
    ;;
postgresql)
    # The amparo role needs CREATEDB for this (docs/deploy.md, step 3).
    name="amparo_drill_$(date +%Y%m%d%H%M%S)_$$"
    "$python" -m tracker.scratchdb create "$name"
    trap '"$python" -m tracker.scratchdb drop "$name"; rm -rf "$scratch"' EXIT
    DATABASE_URL=$("$python" -m tracker.scratchdb url "$name") "$amparo" restore "$newest"
    ;;
*)
    echo "restore drill: $newest/manifest.json names no known backend" >&2
    exit 1
    ;;
esac
echo "restore drill passed: $newest"
