#!/usr/bin/env bash
# Make sure PostgreSQL server binaries (initdb, pg_ctl) are present for the end-to-end tests.
# Installs Debian's `postgresql` package when they are missing (needs root, as on CI); the tests
# create and start their own throwaway cluster, so no system service is used or left running.
set -euo pipefail

if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1; then
    echo "PostgreSQL server binaries present: $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | tail -1)"
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "PostgreSQL server binaries (initdb, pg_ctl) are missing and this is not root:" >&2
    echo "install them (Debian: apt-get install postgresql) and re-run." >&2
    exit 1
fi
echo "Installing Debian's postgresql package for the end-to-end tests"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends postgresql >/dev/null
ls /usr/lib/postgresql/*/bin/initdb
