#!/bin/bash
# check-ops.sh - operations checked for real (`make check-ops`): the
# container image under podman and the systemd unit under a real
# systemd booted with systemd-nspawn.  As root on Debian 12; minutes;
# needs the Debian mirror apt uses.  Not part of `make check`.
#
#   sudo make check-ops            (or: sudo bash t/ops/check-ops.sh)
#
# Steps, each printed as "ok - ..." or "not ok - ..." (TAP); exit 1 on
# the first failure, with the logs kept under the printed work dir:
#   1. base images: a bookworm minbase rootfs made with mmdebstrap from
#      the mirror in /etc/apt/sources.list.d (read at run time, written
#      nowhere), cached under $NOTIFYD_OPS_CACHE (/var/cache/notifyd-ops),
#      imported into podman as docker.io/library/debian:bookworm and
#      :bookworm-slim, the Dockerfile's FROM names;
#   2. podman build of this tree (--format docker keeps HEALTHCHECK);
#   3. the test stack on 127.0.0.1: throwaway PostgreSQL, the mock Kafka
#      (t/helpers/kmock) and an SMTP sink (t/helpers/smtpd.py);
#   4. the image run with --network=host: non-root with no capabilities,
#      /ready, POST -> mail, HUP reload, healthcheck, stop with status 0;
#   5. a rootfs of the image plus systemd, booted with systemd-nspawn:
#      the rendered unit starts (Type=notify) and is ready, reload,
#      kill -9 -> restart, the watchdog kills a hung master, stop,
#      `systemd-analyze security`, and a bad configuration ends the unit
#      failed with status 78, the reason at priority 3 and no restart.
#
# Environment: NOTIFYD_BUILDDIR (default: the source tree),
# NOTIFYD_OPS_CACHE, NOTIFYD_OPS_MIRROR (overrides the apt mirror),
# NOTIFYD_OPS_KEEP=1 (keep the work dir), NOTIFYD_OPS_SKIP=image|systemd.
set -eu
set -o pipefail

SRC=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${NOTIFYD_BUILDDIR:-$SRC}
CACHE=${NOTIFYD_OPS_CACHE:-/var/cache/notifyd-ops}
SKIP=${NOTIFYD_OPS_SKIP:-}
PY=/usr/bin/python3
IMAGE=localhost/notifyd:check-ops
SDIMAGE=localhost/notifyd-systemd:check-ops
PKGS="podman runc mmdebstrap systemd-container uidmap curl postgresql
python3-aiosmtpd"
STEP=0

# ---------------------------------------------------------------- helpers

say() { printf '# %s\n' "$*"; }
ok() { STEP=$((STEP + 1)); printf 'ok %d - %s\n' "$STEP" "$*"; }
fail() {
	STEP=$((STEP + 1))
	printf 'not ok %d - %s\n' "$STEP" "$*"
	say "logs kept in $WORK"
	KEEP=1
	exit 1
}

# Runs "$@" until it succeeds or $1 seconds pass; 0 if it succeeded.
retry() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		[ "$SECONDS" -lt "$deadline" ] || return 1
		sleep 0.5
	done
}

free_port() {
	$PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# The Debian mirror apt uses for bookworm (deb822 or one-line sources).
apt_mirror() {
	if [ -n "${NOTIFYD_OPS_MIRROR:-}" ]; then
		echo "$NOTIFYD_OPS_MIRROR"
		return
	fi
	cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '
		/^URIs:/ { uri = $2 }
		/^Suites:/ { for (i = 2; i <= NF; i++) if ($i == "bookworm") { print uri; exit } }'
	cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
		awk '$1 == "deb" && $0 ~ / bookworm / { for (i = 2; i <= NF; i++) if ($i ~ /:\/\//) { print $i; exit } }'
}

cleanup() {
	set +e
	[ -n "${NSPAWN_PID:-}" ] && nspawn_stop
	[ -n "${CTR:-}" ] && podman rm -f -t 0 "$CTR" >/dev/null 2>&1
	[ -n "${KMOCK_PID:-}" ] && kill "$KMOCK_PID" 2>/dev/null
	[ -n "${SMTP_PID:-}" ] && kill "$SMTP_PID" 2>/dev/null
	[ -n "${PG_DIR:-}" ] && runuser -u postgres -- "$PGBIN/pg_ctl" \
		-D "$PG_DIR/data" -m fast -w stop >/dev/null 2>&1
	if [ "${KEEP:-${NOTIFYD_OPS_KEEP:-0}}" = 1 ]; then
		say "work dir kept: $WORK"
	else
		rm -rf "$WORK"
	fi
}

# ---------------------------------------------------------------- setup

check_host() {
	[ "$(id -u)" = 0 ] || { echo "check-ops: run as root" >&2; exit 1; }
	grep -q '^VERSION_ID="12"' /etc/os-release ||
		say "warning: not Debian 12; the settings here were checked there"
	[ -x "$BUILD/src/notifyd" ] && [ -x "$BUILD/t/helpers/kmock" ] || {
		echo "check-ops: build first: make all t/helpers/kmock" >&2
		exit 1
	}
}

install_packages() {
	local missing="" p
	for p in $PKGS; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
			grep -q "install ok installed" || missing="$missing $p"
	done
	[ -z "$missing" ] && return
	say "installing$missing"
	apt-get update >"$WORK/apt.log" 2>&1 || fail "apt-get update (see $WORK/apt.log)"
	DEBIAN_FRONTEND=noninteractive apt-get install -y \
		--no-install-recommends $missing >>"$WORK/apt.log" 2>&1 ||
		fail "apt-get install$missing (see $WORK/apt.log)"
}

# podman here: runc (crun refuses this host's hybrid cgroups), ulimits
# within the hard limits, no systemd to manage cgroups, and images kept
# in the cache dir so a second run rebuilds in seconds.
podman_setup() {
	local hn
	hn=$(ulimit -Hn)
	mkdir -p "$CACHE/storage" "$WORK/run"
	cat >"$WORK/containers.conf" <<-EOF
	[containers]
	default_ulimits = ["nofile=$hn:$hn", "nproc=$hn:$hn"]
	[engine]
	runtime = "runc"
	cgroup_manager = "cgroupfs"
	events_logger = "file"
	EOF
	cat >"$WORK/storage.conf" <<-EOF
	[storage]
	driver = "overlay"
	graphroot = "$CACHE/storage"
	runroot = "$WORK/run"
	EOF
	export CONTAINERS_CONF="$WORK/containers.conf"
	export CONTAINERS_STORAGE_CONF="$WORK/storage.conf"
	podman info >"$WORK/podman-info.log" 2>&1 || fail "podman info"
}

# Step 1: the Dockerfile's base images, home-made from the mirror.
base_images() {
	local tar="$CACHE/bookworm-minbase.tar" mirror
	if [ ! -s "$tar" ]; then
		mirror=$(apt_mirror | head -1)
		[ -n "$mirror" ] || fail "no bookworm mirror in /etc/apt/sources.list.d"
		say "mmdebstrap bookworm from $mirror (minutes; cached in $CACHE)"
		mmdebstrap --variant=minbase bookworm "$CACHE/bookworm-minbase.tmp.tar" \
			"$mirror" >"$WORK/mmdebstrap.log" 2>&1 ||
			fail "mmdebstrap (see $WORK/mmdebstrap.log)"
		mv "$CACHE/bookworm-minbase.tmp.tar" "$tar"
	fi
	if ! podman image exists docker.io/library/debian:bookworm; then
		podman import "$tar" docker.io/library/debian:bookworm \
			>"$WORK/import.log" 2>&1 || fail "podman import $tar"
	fi
	podman tag docker.io/library/debian:bookworm \
		docker.io/library/debian:bookworm-slim
	ok "base images from mmdebstrap: debian:bookworm, debian:bookworm-slim"
}

# Step 2: the image of this tree.
image_build() {
	say "podman build (a cold build takes about 6 minutes)"
	# The build stage is tagged too: what a rerun reuses stays named, and
	# the prune drops only the stages of earlier trees (670 MB each).
	podman build --pull=never --format docker --network=host --target build \
		-t localhost/notifyd-build:check-ops "$SRC" >"$WORK/build.log" 2>&1 &&
	podman build --pull=never --format docker --network=host -t "$IMAGE" \
		"$SRC" >>"$WORK/build.log" 2>&1 ||
		fail "podman build (see $WORK/build.log)"
	podman image prune -f >/dev/null 2>&1 || true
	! grep -qi "useradd warning\|groupadd warning" "$WORK/build.log" ||
		fail "useradd/groupadd warned during the build"
	ok "podman build --format docker"
	image_shape
}

image_shape() {
	local hc env junk
	hc=$(podman image inspect --format '{{json .Config.Healthcheck}}' "$IMAGE")
	case $hc in *"/health"*) ok "HEALTHCHECK kept in the image" ;;
	*) fail "no HEALTHCHECK in the image: $hc" ;; esac
	env=$(podman image inspect --format '{{json .Config.Env}}' "$IMAGE")
	case $env in *DEBIAN_FRONTEND*) fail "DEBIAN_FRONTEND in the image: $env" ;;
	*) ok "no DEBIAN_FRONTEND in the runtime environment" ;; esac
	junk=$(podman run --rm --network=host --no-healthcheck \
		--entrypoint /bin/sh "$IMAGE" -c \
		'ls /var/lib/apt/lists /var/cache/apt | grep -v "^/\|^$\|^lock$\|^partial$\|^archives$"' || true)
	[ -z "$junk" ] || fail "apt caches left in the image: $junk"
	ok "no apt lists or caches in the image"
}

# Step 3: PostgreSQL, Kafka mock and SMTP sink on 127.0.0.1.
stack_start() {
	PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
	PG_DIR="$WORK/pg"
	PG_PORT=$(free_port)
	mkdir -p "$PG_DIR" "$WORK/mail"
	chown postgres "$PG_DIR"
	chmod 700 "$PG_DIR"
	runuser -u postgres -- "$PGBIN/initdb" -D "$PG_DIR/data" -A trust \
		-U postgres -E UTF8 --locale=C.UTF-8 >"$WORK/initdb.log" 2>&1 ||
		fail "initdb (see $WORK/initdb.log)"
	runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" \
		-w -o "-k $PG_DIR -p $PG_PORT -c listen_addresses=127.0.0.1 -c fsync=off" \
		start >/dev/null || fail "PostgreSQL start (see $PG_DIR/log)"
	psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -qc "CREATE DATABASE notifyd" ||
		fail "CREATE DATABASE"
	"$BUILD/t/helpers/kmock" -i >"$WORK/kmock.out" 2>"$WORK/kmock.log" \
		</dev/null &
	KMOCK_PID=$!
	retry 20 grep -q BOOTSTRAP "$WORK/kmock.out" || fail "kmock start"
	BROKERS=$(sed -n 's/^BOOTSTRAP //p' "$WORK/kmock.out")
	$PY "$SRC/t/helpers/smtpd.py" --port 0 --maildir "$WORK/mail" \
		--ignore-stdin >"$WORK/smtpd.out" 2>"$WORK/smtpd.log" </dev/null &
	SMTP_PID=$!
	retry 20 grep -q READY "$WORK/smtpd.out" || fail "SMTP sink start"
	SMTP_PORT=$(sed -n 's/^READY //p' "$WORK/smtpd.out")
	ok "test stack: PostgreSQL :$PG_PORT, Kafka $BROKERS, SMTP :$SMTP_PORT"
}

# POSTs one notification to port $1 titled $2; waits for its mail.
post_and_mail() {
	local port=$1 title=$2 code
	code=$(curl -sS -o "$WORK/post.json" -w '%{http_code}' -X POST \
		-H 'Content-Type: application/json' \
		-d "{\"type\":\"EMAIL\",\"title\":\"$title\",\"content\":\"<p>check-ops</p>\",\"userId\":7,\"recipient\":\"ops@example.com\"}" \
		"http://127.0.0.1:$port/notification_service/api/notifications")
	[ "$code" = 202 ] || fail "POST answered $code: $(cat "$WORK/post.json")"
	retry 30 grep -rlq "Subject: $title" "$WORK/mail" ||
		fail "no mail titled $title in $WORK/mail"
}

ready() { curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$1/ready"; }

# ---------------------------------------------------------------- image

# Step 4: the image against the stack, host network.
image_run() {
	local port status
	port=$(free_port)
	CTR=notifyd-check-ops-$$
	# No timer: none without systemd here; the check runs it by hand.
	podman run -d --name "$CTR" --network=host --health-interval disable \
		-e NOTIFYD_DATABASE_URL="host=127.0.0.1 port=$PG_PORT user=postgres dbname=notifyd" \
		-e NOTIFYD_DATABASE_MIGRATE_ON_START=true \
		-e NOTIFYD_KAFKA_BROKERS="$BROKERS" \
		-e NOTIFYD_KAFKA_PROPERTIES="session.timeout.ms=6000;heartbeat.interval.ms=500" \
		-e NOTIFYD_SMTP_URL="smtp://127.0.0.1:$SMTP_PORT" \
		-e NOTIFYD_EMAIL_SMTP_STARTTLS=off \
		-e NOTIFYD_HTTP_LISTEN=127.0.0.1 -e NOTIFYD_HTTP_PORT="$port" \
		"$IMAGE" >"$WORK/run.log" 2>&1 || fail "podman run (see $WORK/run.log)"
	retry 60 ready "$port" || {
		podman logs "$CTR" >"$WORK/container.log" 2>&1
		fail "/ready never answered 200 (see $WORK/container.log)"
	}
	ok "container: /ready answers 200"
	status=$(podman exec "$CTR" cat /proc/1/status)
	grep -q '^Uid:[[:space:]]*10001[[:space:]]' <<<"$status" ||
		fail "not uid 10001: $(echo "$status" | grep Uid)"
	grep -q '^CapEff:[[:space:]]*0*$' <<<"$status" ||
		fail "capabilities: $(echo "$status" | grep CapEff)"
	ok "container: PID 1 runs as uid 10001 with no capabilities"
	post_and_mail "$port" "check-ops image"
	ok "container: POST -> mail delivered to the SMTP sink"
	image_reload_and_stop "$port"
}

image_reload_and_stop() {
	local port=$1 code
	podman kill -s HUP "$CTR" >/dev/null
	retry 20 sh -c "podman logs '$CTR' 2>&1 | grep -q 'configuration reloaded'" ||
		fail "HUP: no 'configuration reloaded' in the container log"
	retry 20 ready "$port" || fail "/ready after HUP"
	ok "container: SIGHUP reloads, still ready"
	podman healthcheck run "$CTR" >/dev/null 2>&1 ||
		fail "podman healthcheck run"
	ok "container: the HEALTHCHECK passes"
	podman stop -t 30 "$CTR" >/dev/null 2>&1 || fail "podman stop"
	code=$(podman inspect --format '{{.State.ExitCode}}' "$CTR")
	podman logs "$CTR" >"$WORK/container.log" 2>&1
	[ "$code" = 0 ] || fail "stop: exit status $code"
	ok "container: podman stop -> exit status 0"
	podman rm "$CTR" >/dev/null 2>&1
	CTR=
}

# ---------------------------------------------------------------- systemd

# A rootfs: the image plus systemd and procps (the unit's ExecReload
# runs /bin/kill, which a minbase system lacks), the unit as make renders it for
# --prefix=/usr --sysconfdir=/etc/notifyd, and a config for the stack.
systemd_rootfs() {
	local unit_in=${NOTIFYD_OPS_UNIT:-$SRC/contrib/systemd/notifyd.service.in}
	cat >"$WORK/Containerfile.systemd" <<-EOF
	FROM $IMAGE
	USER root
	ARG DEBIAN_FRONTEND=noninteractive
	RUN apt-get update && apt-get install -y --no-install-recommends systemd procps \\
	 && apt-get clean && rm -rf /var/lib/apt/lists/*
	EOF
	podman build --pull=never --format docker --network=host -t "$SDIMAGE" \
		-f "$WORK/Containerfile.systemd" "$WORK" >"$WORK/build-systemd.log" 2>&1 ||
		fail "podman build of the systemd rootfs (see $WORK/build-systemd.log)"
	ROOT="$WORK/root"
	mkdir -p "$ROOT"
	podman create --no-healthcheck --name "sdroot-$$" "$SDIMAGE" /bin/true \
		>/dev/null
	podman export "sdroot-$$" | tar -x -C "$ROOT" -f - ||
		fail "podman export of the systemd rootfs"
	podman rm "sdroot-$$" >/dev/null
	sed -e 's|@sbindir@|/usr/sbin|g' -e 's|@sysconfdir@|/etc/notifyd|g' \
		"$unit_in" >"$ROOT/etc/systemd/system/notifyd.service"
	SD_PORT=$(free_port)
	cat >"$ROOT/etc/notifyd/notifyd.conf" <<-EOF
	database = { conninfo = "host=127.0.0.1 port=$PG_PORT user=postgres dbname=notifyd";
	             migrate_on_start = true; };
	kafka = { brokers = "$BROKERS";
	          properties = [ "session.timeout.ms=6000", "heartbeat.interval.ms=500" ]; };
	http = { listen = "127.0.0.1"; port = $SD_PORT; };
	email = { smtp = { url = "smtp://127.0.0.1:$SMTP_PORT"; starttls = "off"; }; };
	EOF
	chmod 644 "$ROOT/etc/notifyd/notifyd.conf"
}

in_ct() { nsenter -t "$LEADER" -m -u -i -n -p -- "$@"; }
sd_show() { in_ct systemctl show -p "$1" --value notifyd; }
# The unit's journal has a line matching $1 (more journalctl options
# follow).  Through a file: with pipefail, grep -q's early exit would
# fail journalctl with SIGPIPE.
journal_has() {
	local re=$1
	shift
	in_ct journalctl -u notifyd --no-pager "$@" >"$WORK/journal.tmp" 2>&1
	grep -q "$re" "$WORK/journal.tmp"
}

nspawn_boot() {
	systemd-nspawn -D "$ROOT" -b --register=no --keep-unit --console=passive \
		-M "notifyd-ops-$$" >"$WORK/nspawn.log" 2>&1 &
	NSPAWN_PID=$!
	retry 30 pgrep -P "$NSPAWN_PID" -x systemd || fail "nspawn: no systemd"
	LEADER=$(pgrep -P "$NSPAWN_PID" -x systemd)
	state=$(timeout 120 nsenter -t "$LEADER" -m -u -i -n -p -- \
		systemctl is-system-running --wait 2>&1) || true
	case $state in running|degraded) ;;
	*) fail "systemd in nspawn did not boot: $state" ;; esac
	ok "systemd-nspawn boots systemd $(in_ct systemctl --version | head -1 | cut -d' ' -f2) ($state)"
}

nspawn_stop() {
	local i
	kill -TERM "$NSPAWN_PID" 2>/dev/null || true
	for i in $(seq 60); do
		kill -0 "$NSPAWN_PID" 2>/dev/null || break
		sleep 0.5
	done
	kill -KILL "$NSPAWN_PID" 2>/dev/null || true
	wait "$NSPAWN_PID" 2>/dev/null || true
	NSPAWN_PID=
}

sd_start_reload() {
	local pid
	timeout 120 nsenter -t "$LEADER" -m -u -i -n -p -- systemctl start notifyd ||
		fail "systemctl start notifyd: $(sd_show Result)"
	[ "$(sd_show ActiveState)" = active ] || fail "not active after start"
	ready "$SD_PORT" || fail "unit active but /ready fails"
	ok "systemd: start (Type=notify) -> active, /ready answers"
	pid=$(sd_show MainPID)
	in_ct systemctl reload notifyd || fail "systemctl reload"
	retry 20 journal_has "configuration reloaded" ||
		fail "reload: no 'configuration reloaded' in the journal"
	[ "$(sd_show MainPID)" = "$pid" ] && [ "$(sd_show ActiveState)" = active ] ||
		fail "reload changed the main process or the state"
	retry 20 ready "$SD_PORT" || fail "/ready after reload"
	ok "systemd: reload -> same main process, still ready"
}

# Waits until the unit runs again under a main pid other than $1.
sd_restarted() {
	local new
	new=$(sd_show MainPID)
	[ "$new" != 0 ] && [ "$new" != "$1" ] && [ "$(sd_show ActiveState)" = active ]
}

sd_kill9() {
	local pid n
	pid=$(sd_show MainPID)
	n=$(sd_show NRestarts)
	in_ct kill -9 "$pid"
	retry 30 sd_restarted "$pid" || fail "kill -9: no restart ($(sd_show ActiveState))"
	[ "$(sd_show NRestarts)" = $((n + 1)) ] || fail "kill -9: NRestarts $(sd_show NRestarts)"
	retry 30 ready "$SD_PORT" || fail "/ready after the restart"
	ok "systemd: kill -9 of the master -> restarted, ready"
}

# WatchdogSec= from a drop-in: pings keep it alive; a hung master dies.
sd_watchdog() {
	local pid n dir=$ROOT/etc/systemd/system/notifyd.service.d
	mkdir -p "$dir"
	printf '[Service]\nWatchdogSec=3\n' >"$dir/watchdog.conf"
	in_ct systemctl daemon-reload
	timeout 120 nsenter -t "$LEADER" -m -u -i -n -p -- systemctl restart notifyd ||
		fail "restart with WatchdogSec=3"
	pid=$(sd_show MainPID)
	n=$(sd_show NRestarts)
	sleep 8
	[ "$(sd_show MainPID)" = "$pid" ] && [ "$(sd_show NRestarts)" = "$n" ] ||
		fail "watchdog: killed a healthy master"
	ok "systemd: WatchdogSec=3, the master pings: alive after 8 s"
	in_ct kill -STOP "$pid"
	retry 40 sd_restarted "$pid" || fail "watchdog: a hung master was not restarted"
	journal_has "Watchdog timeout" ||
		fail "watchdog: no 'Watchdog timeout' in the journal"
	ok "systemd: a hung (SIGSTOPped) master -> watchdog timeout -> restarted"
	rm -r "$dir"
	in_ct systemctl daemon-reload
}

sd_security_and_stop() {
	local level
	level=$(in_ct systemd-analyze security notifyd 2>&1 |
		sed -n 's/.*Overall exposure level for notifyd.service: \([0-9.]*\).*/\1/p')
	[ -n "$level" ] && awk "BEGIN { exit !($level <= 1.2) }" ||
		fail "systemd-analyze security: '$level'"
	ok "systemd: systemd-analyze security exposure $level"
	timeout 60 nsenter -t "$LEADER" -m -u -i -n -p -- systemctl stop notifyd ||
		fail "systemctl stop"
	[ "$(sd_show ActiveState)" = inactive ] && [ "$(sd_show Result)" = success ] &&
		[ "$(sd_show ExecMainStatus)" = 0 ] ||
		fail "stop: $(sd_show ActiveState) $(sd_show Result) status $(sd_show ExecMainStatus)"
	ok "systemd: stop -> inactive, result success, status 0"
}

# A bad configuration: failed, status 78, reason at priority 3, no restart.
sd_bad_config() {
	local n state
	echo "bogus_key = 1;" >>"$ROOT/etc/notifyd/notifyd.conf"
	in_ct systemctl reset-failed notifyd 2>/dev/null || true
	! timeout 60 nsenter -t "$LEADER" -m -u -i -n -p -- systemctl start notifyd \
		2>/dev/null || fail "bad config: systemctl start succeeded"
	n=$(sd_show NRestarts)
	sleep 8			# RestartSec=2: a loop would have restarted by now
	state="$(sd_show ActiveState) $(sd_show Result) $(sd_show ExecMainStatus)"
	[ "$state" = "failed exit-code 78" ] || fail "bad config: '$state', want 'failed exit-code 78'"
	[ "$(sd_show NRestarts)" = "$n" ] ||
		fail "bad config: restarted ($n -> $(sd_show NRestarts) restarts)"
	ok "systemd: bad config -> failed, status 78, no restart in 8 s"
	journal_has "bogus_key" -p err ||
		fail "bad config: the reason is not in journalctl -p err"
	ok "systemd: the reason is logged at priority 3 (journalctl -p err)"
}

# Step 5.
systemd_checks() {
	systemd_rootfs
	nspawn_boot
	sd_start_reload
	sd_kill9
	sd_watchdog
	sd_security_and_stop
	sd_bad_config
	in_ct journalctl -u notifyd --no-pager >"$WORK/journal.log" 2>&1 || true
	nspawn_stop
}

# ---------------------------------------------------------------- main

main() {
	check_host
	WORK=$(mktemp -d /tmp/notifyd-check-ops.XXXXXX)
	chmod 755 "$WORK"
	trap cleanup EXIT
	trap 'exit 1' INT TERM
	say "work dir $WORK, cache $CACHE"
	install_packages
	podman_setup
	base_images
	image_build
	stack_start
	[ "$SKIP" = image ] || image_run
	[ "$SKIP" = systemd ] || systemd_checks
	echo "1..$STEP"
}

main "$@"
