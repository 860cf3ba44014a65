#!/usr/bin/env bash
# Makes sure the local Postgres (127.0.0.1:5432) and Redis (127.0.0.1:6379) answer, starting them
# when they are installed but stopped. Tests use the same commands to bring them back after a fault.
# Usage: scripts/services.sh ensure | start-postgres | stop-postgres | start-redis | stop-redis
set -euo pipefail

postgres_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
redis_up() { [[ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" == "PONG" ]]; }

wait_for() {  # wait_for NAME CHECK: up to 30 s
  for _ in $(seq 1 60); do "$2" && return 0; sleep 0.5; done
  echo "$1 did not come up on this machine" >&2
  return 1
}

start_postgres() {
  command -v pg_ctlcluster >/dev/null || { echo "Postgres is not installed: see the README's 'Running the tests'" >&2; exit 1; }
  local version
  version=$(ls /etc/postgresql)
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  wait_for Postgres postgres_up
}

start_redis() {
  command -v redis-server >/dev/null || { echo "Redis is not installed: see the README's 'Running the tests'" >&2; exit 1; }
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  wait_for Redis redis_up
}

case "${1:-ensure}" in
  ensure)
    postgres_up || start_postgres
    redis_up || start_redis
    echo "Postgres and Redis are up"
    ;;
  start-postgres) postgres_up || start_postgres ;;
  stop-postgres) pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main stop -m fast ;;
  start-redis) redis_up || start_redis ;;
  stop-redis) redis-cli -h 127.0.0.1 -p 6379 shutdown nosave 2>/dev/null || true ;;
  *) echo "usage: $0 ensure|start-postgres|stop-postgres|start-redis|stop-redis" >&2; exit 2 ;;
esac
