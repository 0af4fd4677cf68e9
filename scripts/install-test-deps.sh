#!/usr/bin/env bash
# Installs the real peers the test suite talks to (Debian packages). Idempotent.
set -euo pipefail
PACKAGES=(ffmpeg nginx microsocks tinyproxy prometheus systemd wrk nghttp2-client openssl curl chromium)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# Package post-install scripts may start daemons; the tests start their own on loopback.
for svc in nginx tinyproxy prometheus; do
  (command -v systemctl >/dev/null && systemctl stop "$svc" 2>/dev/null) || true
done
