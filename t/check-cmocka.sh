#!/bin/sh
# Fails loudly when the unit tests could not be built: a missing cmocka
# must not turn into a silently shorter test run.
if [ "$NOTIFYD_HAVE_CMOCKA" != "" ]; then
	echo "cmocka was not found at configure time: install libcmocka-dev and re-run configure" >&2
	exit 1
fi
exit 0
