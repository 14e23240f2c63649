#!/usr/bin/env bash
# System packages the test suite needs that no Python or npm registry provides.
#
#   libgmp-dev  GMP headers: py-libp2p 0.8.1 (the interop peer, tests/peers/pylibp2p.py) depends
#               on fastecdsa==2.3.2, which PyPI ships only as a source package that compiles
#               against gmp.h. gcc and the Python headers are already on the machine.
#
# Idempotent: installs only what `dpkg -s` says is missing, and runs `apt-get update` at most once
# (only when something is missing). Needs root and apt (Debian/Ubuntu).
set -euo pipefail

packages=(libgmp-dev)

missing=()
for pkg in "${packages[@]}"; do
    if ! dpkg -s "$pkg" >/dev/null 2>&1; then
        missing+=("$pkg")
    fi
done

if [ "${#missing[@]}" -eq 0 ]; then
    echo "install-system-deps: already installed: ${packages[*]}"
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg >/dev/null 2>&1; then
    echo "install-system-deps: missing ${missing[*]}, and this is not a Debian/Ubuntu system" \
         "(no apt-get/dpkg). Install the GMP development headers (gmp.h) with your package" \
         "manager, then rerun." >&2
    exit 1
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "install-system-deps: missing ${missing[*]}; installing needs root. Run:" >&2
    echo "  sudo $0" >&2
    echo "or: sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
fi

echo "install-system-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends "${missing[@]}"
