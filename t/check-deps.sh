#!/bin/sh
# No dependency cycles between the modules of src/ (t/check-deps.py).
exec "${PYTHON3:-python3}" "${NOTIFYD_SRCDIR:-.}/t/check-deps.py" \
    "${NOTIFYD_SRCDIR:-.}/src"
