#!/usr/bin/env bash
# Debian's Chromium renders the reports in the browser test. Installed only when missing.
set -eu
if command -v chromium >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "install-chromium: chromium is missing and cannot be installed here (needs root and apt-get);" >&2
    echo "install Debian's chromium package to run the report test." >&2
    exit 0
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
