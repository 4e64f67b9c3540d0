#!/usr/bin/env bash
# Debian packages the stack and its tests need: libmagic (content sniffing), Node.js/npm
# (front-end build), Chromium (browser tests). Installed only when missing.
set -euo pipefail
need=()
[ -e /usr/lib/x86_64-linux-gnu/libmagic.so.1 ] || [ -e /usr/lib/aarch64-linux-gnu/libmagic.so.1 ] || need+=(libmagic1)
command -v npm >/dev/null 2>&1 || need+=(nodejs npm)
if [ "${GUICHET_BROWSER_TESTS:-1}" = 1 ] && [ "${1:-}" != "--no-browser" ]; then
  command -v chromium >/dev/null 2>&1 || need+=(chromium)
fi
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then echo "Missing Debian packages: ${need[*]} (install them as root)" >&2; exit 1; fi
  echo "Installing Debian packages: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi
