#!/bin/sh
# The restore drill: restore the newest backup under $1 into a scratch database, then check
# that its key canary decrypts and its rows match the manifest (amparo restore does both).
# Never touches DATABASE_URL's database. Exit status non-zero on any failure.
set -eu
backups=${1:?usage: restore-drill.sh BACKUP_DIR}
amparo=${AMPARO:-/opt/amparo/.venv/bin/amparo}
newest=$(ls -1d "$backups"/amparo-* 2>/dev/null | sort | tail -n 1)
if [ -z "$newest" ]; then
    echo "restore drill: no backup in $backups" >&2
    exit 1
fi
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
case "$(sed -n 's/.*"backend": "\([a-z]*\)".*/\1/p' "$newest/manifest.json")" in
sqlite)
    DATABASE_URL="sqlite:///$scratch/drill.sqlite3" "$amparo" restore "$newest"
    ;;
postgresql)
    # A scratch database next to the live one; the amparo role needs CREATEDB for this.
    name="amparo_drill_$(date +%Y%m%d%H%M%S)"
    base=${DATABASE_URL%/*}
    createdb --maintenance-db="$DATABASE_URL" "$name"
    trap 'dropdb --maintenance-db="$DATABASE_URL" --if-exists "$name"; rm -rf "$scratch"' EXIT
    DATABASE_URL="$base/$name" "$amparo" restore "$newest"
    ;;
*)
    echo "restore drill: $newest/manifest.json names no known backend" >&2
    exit 1
    ;;
esac
echo "restore drill passed: $newest"
