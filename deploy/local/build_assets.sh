#!/bin/sh
# Build the gateway's front-end assets (GOV.UK Frontend 6.3.0 compiled to the city's brand)
# into gateway/guichet_gateway/static/dist/. Fast no-op when nothing changed.
#
# Brand, read at build time: GUICHET_CITY_NAME, GUICHET_BRAND_PRIMARY, GUICHET_BRAND_SECONDARY,
# GUICHET_BRAND_FONT (an installed @fontsource/<id>), GUICHET_BRAND_LOGO (.svg or .png path).
# GUICHET_ASSETS_FORCE=1 rebuilds even when the stamp matches.
set -eu
ROOT=$(CDPATH= cd -- "$(dirname -- "$0")/../.." && pwd)
FRONTEND="$ROOT/gateway/frontend"
command -v node >/dev/null 2>&1 || { echo "build_assets: node (>= 20) is required" >&2; exit 1; }
cd "$FRONTEND"
# (Re)install when node_modules is missing or older than the lock file.
if [ ! -d node_modules ] || [ ! -f node_modules/.package-lock.json ] \
   || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --ignore-scripts
fi
exec node build.mjs
