#!/bin/sh
# Installs what notifyd needs on Debian 12 (when missing) and builds it.
# Sourced by contrib/dev/run-local.sh and t/run-suite; safe to re-run.
set -e

NOTIFYD_PACKAGES="build-essential autoconf automake libtool pkg-config
librdkafka-dev libpq-dev libcurl4-openssl-dev libjansson-dev libconfig-dev
libmicrohttpd-dev libidn2-dev libxml2-dev libssl-dev libopendkim-dev
libcmocka-dev chromium postgresql postgresql-client kcat postfix
python3 python3-aiosmtpd python3-pytest python3-pytest-xdist python3-psycopg2 python3-kafka
python3-yaml python3-dkim python3-websocket wrk groff-base curl ca-certificates openssl strace man-db
docker-compose systemd binutils clang libclang-rt-14-dev llvm"

bootstrap_packages() {
	missing=""
	for p in $NOTIFYD_PACKAGES; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
			missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	if [ "$(id -u)" != 0 ]; then
		echo "missing Debian packages:$missing (run as root to install them)" >&2
		exit 1
	fi
	echo "installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	# postfix asks questions and may try to start; we only want smtp-sink.
	echo "postfix postfix/main_mailer_type select No configuration" |
		debconf-set-selections
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

bootstrap_build() {
	if [ ! -x configure ]; then
		./autogen.sh >/dev/null 2>&1
	fi
	if [ ! -f Makefile ]; then
		./configure --enable-werror ${NOTIFYD_CONFIGURE_FLAGS:-} >/dev/null
	fi
	make -j"$(nproc)" >/dev/null
	make -j"$(nproc)" t/helpers/kmock >/dev/null
}

cd "$(dirname "$0")/../.."
bootstrap_packages
bootstrap_build
