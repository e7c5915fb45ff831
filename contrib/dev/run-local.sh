#!/bin/sh
# Runs notifyd locally on its embedded defaults, with throwaway servers:
# PostgreSQL under ./var/pg, librdkafka's mock Kafka broker, and an SMTP
# sink that keeps every mail as a file under ./var/mail ($RUN_DIR
# instead of ./var when set).  Ctrl-C stops
# everything.  The walk-through it prints runs as shown: a POST that is
# delivered, and an order event (produced with kcat: the audit log is
# indexed by the orderId of the events other services publish, not by
# notifyd's own email messages) that /order/ORD-1 then returns.
# Only the addresses of those servers are overridden, via
# the NOTIFYD_* environment; every other setting is the built-in default.
set -e
cd "$(dirname "$0")/../.."
sh contrib/dev/bootstrap.sh
top=$(pwd)
var=${RUN_DIR:-$top/var}	# where PostgreSQL, mail and logs go
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
PY=/usr/bin/python3
HTTP_PORT=${NOTIFYD_HTTP_PORT:-8080}
PG_PORT=${PG_PORT:-55439}
SMTP_PORT=${SMTP_PORT:-2525}

mkdir -p "$var/mail"
run_pg() {
	if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# Waits for a helper's ready line; gives up if the helper died.
wait_for() {
	until grep -q "$1" "$2" 2>/dev/null; do
		if ! kill -0 "$3" 2>/dev/null; then
			echo "a helper failed to start; see $4:" >&2
			tail -3 "$4" >&2
			exit 1
		fi
		sleep 0.1
	done
}

cleanup() {
	trap - INT TERM EXIT
	# Ctrl-C reaches the whole process group: the helpers may be gone
	# already, and a failed kill must not end the script (set -e) before
	# PostgreSQL is stopped.
	[ -n "${nd_pid:-}" ] && kill -TERM "$nd_pid" 2>/dev/null &&
		wait "$nd_pid" 2>/dev/null || true
	[ -n "${kafka_pid:-}" ] && kill "$kafka_pid" 2>/dev/null || true
	[ -n "${smtp_pid:-}" ] && kill "$smtp_pid" 2>/dev/null || true
	# Wait for them: the broker may take a while to close under load,
	# and nothing of ours should outlive the script.
	for p in ${kafka_pid:-} ${smtp_pid:-}; do wait "$p" 2>/dev/null || true; done
	run_pg "$PGBIN/pg_ctl" -D "$var/pg/data" -m fast -w stop >/dev/null 2>&1 || true
	echo "stopped; data kept under $var"
}
trap cleanup INT TERM EXIT

# PostgreSQL: initdb refuses root, so the postgres user owns var/pg.
mkdir -p "$var/pg"
[ "$(id -u)" = 0 ] && chown postgres "$var/pg" && chmod 700 "$var/pg"
if [ ! -f "$var/pg/data/PG_VERSION" ]; then
	run_pg "$PGBIN/initdb" -D "$var/pg/data" -A trust -U postgres -E UTF8 \
		--locale=C.UTF-8 >/dev/null
fi
run_pg "$PGBIN/pg_ctl" -D "$var/pg/data" -l "$var/pg/log" -w -o \
	"-k $var/pg -p $PG_PORT -c listen_addresses=127.0.0.1" start >/dev/null
psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -qtAc \
	"SELECT 1 FROM pg_database WHERE datname = 'notifyd'" | grep -q 1 ||
	psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -qc "CREATE DATABASE notifyd"

# Kafka: the mock cluster prints its bootstrap address.
fifo=$var/kmock.out
rm -f "$fifo"
t/helpers/kmock -i >"$fifo" 2>"$var/kmock.log" &
kafka_pid=$!
wait_for BOOTSTRAP "$fifo" "$kafka_pid" "$var/kmock.log"
brokers=$(sed -n 's/^BOOTSTRAP //p' "$fifo")

# SMTP: every message lands in var/mail as NNNNNN.eml.
$PY t/helpers/smtpd.py --port "$SMTP_PORT" --maildir "$var/mail" \
	--ignore-stdin >"$var/smtpd.out" 2>"$var/smtpd.log" &
smtp_pid=$!
wait_for READY "$var/smtpd.out" "$smtp_pid" "$var/smtpd.log"

: >"$var/empty.conf"
export NOTIFYD_DATABASE_URL="host=127.0.0.1 port=$PG_PORT user=postgres dbname=notifyd"
export NOTIFYD_DATABASE_MIGRATE_ON_START=true
export NOTIFYD_DATABASE_MIGRATIONS_DIR="$top/sql"
export NOTIFYD_KAFKA_BROKERS="$brokers"
# The mock broker's rebalances need short group timers (see TESTING.md).
export NOTIFYD_KAFKA_PROPERTIES="session.timeout.ms=6000;heartbeat.interval.ms=500;topic.metadata.refresh.interval.ms=1000"
export NOTIFYD_SMTP_URL="smtp://127.0.0.1:$SMTP_PORT"
export NOTIFYD_EMAIL_SMTP_STARTTLS=off
export NOTIFYD_HTTP_PORT="$HTTP_PORT"

cat <<MSG
notifyd on http://127.0.0.1:$HTTP_PORT  (PostgreSQL :$PG_PORT, Kafka $brokers, SMTP :$SMTP_PORT)
try:
  curl -s -X POST http://127.0.0.1:$HTTP_PORT/notification_service/api/notifications \\
    -H 'Content-Type: application/json' \\
    -d '{"type":"EMAIL","title":"Test Email","content":"<p>Hello from notifyd</p>","userId":1,"recipient":"test@example.com","metadata":{"testId":"TEST-001"}}'
  ls $var/mail/        # the delivered message
  curl -s http://127.0.0.1:$HTTP_PORT/notification_service/api/notifications/1
  # an order event from another service, then the audit log of that order
  # (a new topic is picked up within about ten seconds):
  echo '{"type":"order.created","orderId":"ORD-1","customerId":"C-1"}' |
    kcat -P -b $brokers -t orders
  curl -s http://127.0.0.1:$HTTP_PORT/order/ORD-1   # the Kafka audit log
Ctrl-C stops everything.
MSG
src/notifyd -c "$var/empty.conf" &
nd_pid=$!
wait "$nd_pid" || true
nd_pid=
