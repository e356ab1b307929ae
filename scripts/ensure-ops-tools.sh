#!/usr/bin/env bash
# Debian's tools that the deployment tests run: caddy (config check), systemd-analyze (unit
# check), pg_dump/pg_restore (PostgreSQL backups). CI installs them; elsewhere their tests skip.
set -eu
missing=()
command -v caddy >/dev/null || missing+=(caddy)
command -v systemd-analyze >/dev/null || missing+=(systemd)
command -v pg_dump >/dev/null || missing+=(postgresql-client)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "ensure-ops-tools: missing ${missing[*]} and apt-get unavailable" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${missing[@]}" >/dev/null
