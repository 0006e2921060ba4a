#!/bin/sh
# The Debian packages the test suite needs, installed when missing (as root) or named (otherwise):
#   softhsm2       softhsm2-util and the PKCS#11 module the seal tests sign with
#   poppler-utils  pdfsig (independent signature check), pdftoppm, pdftotext
#   libnss3-tools  certutil (the NSS database in which pdfsig trusts the test root)
#   chromium       the browser the page tests (tests/web, tests/sender) drive with Playwright
# Tests never skip when these are missing: `make test` stops here instead.
set -eu

PACKAGES="softhsm2 poppler-utils libnss3-tools chromium"
COMMANDS="softhsm2-util pdfsig pdftoppm pdftotext certutil chromium"

missing_commands() {
    missing=""
    for command in $COMMANDS; do
        command -v "$command" >/dev/null 2>&1 || missing="$missing $command"
    done
    echo "$missing"
}

missing=$(missing_commands)
[ -z "$missing" ] && exit 0

echo "system-deps: missing:$missing (Debian packages: $PACKAGES)" >&2
if [ "$(id -u)" -ne 0 ]; then
    echo "system-deps: install them, then run make test again:" >&2
    echo "    sudo apt-get install -y $PACKAGES" >&2
    exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "system-deps: no apt-get here; install the equivalents of: $PACKAGES" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# shellcheck disable=SC2086  # one word per package
if ! apt-get install -y --no-install-recommends $PACKAGES; then
    apt-get update
    apt-get install -y --no-install-recommends $PACKAGES
fi

missing=$(missing_commands)
if [ -n "$missing" ]; then
    echo "system-deps: still missing after apt-get install:$missing" >&2
    exit 1
fi
