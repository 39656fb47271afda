#!/usr/bin/env bash
# Makes the secrets the compose stacks read as files (deploy/compose.yaml and
# deploy/ocr/compose.yaml mount them under /run/secrets/; Inferline reads them through
# INFERLINE_<NAME>_FILE). Random passwords, database URLs that carry them, the secret of
# API key hashes, and a self-signed TLS certificate for nginx unless tls.crt/tls.key
# exist (put your real ones there). Existing files are kept: run it again safely.
# Usage: deploy/secrets/generate.sh [HOSTNAME]   (the certificate's name; default localhost)
set -euo pipefail
cd "$(dirname "$0")"
umask 077
host=${1:-localhost}

random() { openssl rand -hex 24; }
keep_or_write() {  # keep_or_write FILE VALUE: write VALUE unless FILE exists
  [ -s "$1" ] || printf '%s' "$2" > "$1"
}

keep_or_write postgres_password "$(random)"
keep_or_write database_url \
  "postgresql+asyncpg://inferline:$(cat postgres_password)@postgres:5432/inferline"
keep_or_write mariadb_password "$(random)"
keep_or_write mariadb_root_password "$(random)"
keep_or_write ocr_database_url \
  "mysql+aiomysql://inferline:$(cat mariadb_password)@mariadb:3306/inferline?charset=utf8mb4"
keep_or_write auth_secret "$(random)"
keep_or_write grafana_admin_password "$(random)"
if [ ! -s tls.crt ] || [ ! -s tls.key ]; then
  openssl req -x509 -newkey rsa:2048 -nodes -days 365 -subj "/CN=$host" \
    -addext "subjectAltName=DNS:$host" -keyout tls.key -out tls.crt 2>/dev/null
fi
# The containers run as other users than yours: the files must be readable by them. The
# folder stays closed to other users of this machine.
chmod 0700 .
chmod 0644 postgres_password database_url mariadb_password mariadb_root_password \
  ocr_database_url auth_secret grafana_admin_password tls.crt tls.key
echo "secrets are in $(pwd) (API keys: docker compose exec api inferline keys create ...)"
