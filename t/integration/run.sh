#!/bin/sh
# Runs the pytest integration suite against the built daemon.
# Debian's python3 has pytest, psycopg2 and aiosmtpd; a pyenv python3 on
# PATH may not, hence the explicit path.
PY=${PYTHON3:-/usr/bin/python3}
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
src=${NOTIFYD_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$src" || exit 1
for mod in pytest psycopg2 aiosmtpd kafka; do
	if ! "$PY" -c "import $mod" 2>/dev/null; then
		echo "missing Python module $mod for $PY: apt-get install python3-${mod}" >&2
		exit 1
	fi
done
exec "$PY" -m pytest -p no:cacheprovider -ra --durations=15 \
	--junitxml="${NOTIFYD_BUILDDIR:-.}/t/integration/results.xml" \
	${NOTIFYD_PYTEST_ARGS:-} t/integration
