#!/usr/bin/env bash
# Install Debian's chromium package for the report's headless browser test (idempotent).
# Exit 0 when chromium is already on PATH or the install succeeded; non-zero otherwise.
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
    echo "chromium already installed: $(command -v chromium)"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "chromium is missing and this user cannot install packages (not root, no sudo)" >&2
        exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends chromium fonts-noto-cjk
command -v chromium >/dev/null 2>&1
echo "chromium installed: $(command -v chromium)"
