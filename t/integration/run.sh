#!/bin/sh
# Runs the pytest integration suite against the built daemon.
# Debian's python3 has pytest, psycopg2 and aiosmtpd; a pyenv python3 on
# PATH may not, hence the explicit path.
PY=${PYTHON3:-/usr/bin/python3}
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
src=${NOTIFYD_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$src" || exit 1
for mod in pytest xdist psycopg2 aiosmtpd kafka; do
	if ! "$PY" -c "import $mod" 2>/dev/null; then
		pkg=python3-$mod
		[ "$mod" = xdist ] && pkg=python3-pytest-xdist
		echo "missing Python module $mod for $PY: apt-get install $pkg" >&2
		exit 1
	fi
done
# Two test processes: a test spends most of its time waiting on its own
# daemons, PostgreSQL database, mock broker and SMTP sink (the machine
# stays ~75% idle at -n 2), and every fixture is per test or per worker
# (each worker starts its own PostgreSQL).  NOTIFYD_TEST_JOBS=0: serial.
jobs=${NOTIFYD_TEST_JOBS:-2}
par="-n $jobs"
[ "$jobs" = 0 ] && par=
exec "$PY" -m pytest -p no:cacheprovider -ra --durations=15 $par \
	--junitxml="${NOTIFYD_BUILDDIR:-.}/t/integration/results.xml" \
	${NOTIFYD_PYTEST_ARGS:-} t/integration
