#!/usr/bin/env bash
# Installs the real peers the test suite talks to (Debian packages), then checks that every
# program the tests run is there: a missing peer fails here, not as a skipped test. Idempotent.
set -euo pipefail
PACKAGES=(ffmpeg nginx microsocks tinyproxy prometheus systemd wrk nghttp2-client openssl curl chromium bsdutils tar redis-server)
# The programs the tests (and benches) run, from the packages above: ffmpeg/ffprobe (ffmpeg),
# promtool (prometheus), systemd-analyze (systemd), h2load (nghttp2-client), script (bsdutils).
COMMANDS=(ffmpeg ffprobe nginx microsocks tinyproxy promtool systemd-analyze wrk h2load openssl curl chromium script tar redis-server)
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
for svc in nginx tinyproxy prometheus redis-server; do
  (command -v systemctl >/dev/null && systemctl stop "$svc" 2>/dev/null) || true
done
absent=()
for c in "${COMMANDS[@]}"; do
  PATH="$PATH:/usr/sbin:/sbin" command -v "$c" >/dev/null 2>&1 || absent+=("$c")
done
if [ ${#absent[@]} -gt 0 ]; then
  echo "install-test-deps: missing after install: ${absent[*]}" >&2
  exit 1
fi
