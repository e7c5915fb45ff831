#!/bin/sh
# Bootstraps the autotools build from a git checkout.
set -e
cd "$(dirname "$0")"
autoreconf -fi
