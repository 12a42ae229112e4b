#!/bin/sh
# Regenerates the autotools build system (configure, Makefile.in). Nothing else.
set -e
cd "$(dirname "$0")"
autoreconf -fi
