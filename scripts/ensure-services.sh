#!/usr/bin/env bash
# Start the local servers the integration tests use, if they are not running.
# PostgreSQL, MariaDB and Redis are expected from the machine's packages; a server
# that cannot be started is reported, and the tests that need it fail in CI.
set -u

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {
  for _ in $(seq 1 50); do port_open "$1" && return 0; sleep 0.2; done
  return 1
}

if ! port_open 5432 && command -v pg_ctlcluster >/dev/null 2>&1; then
  echo "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  wait_port 5432 || echo "PostgreSQL did not start" >&2
fi
if ! port_open 6379 && command -v redis-server >/dev/null 2>&1; then
  echo "starting Redis"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no || true
  wait_port 6379 || echo "Redis did not start" >&2
fi
if ! port_open 3306 && command -v mariadbd >/dev/null 2>&1; then
  echo "starting MariaDB"
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd || true
  wait_port 3306 || echo "MariaDB did not start" >&2
fi
exit 0
