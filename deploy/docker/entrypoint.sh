#!/bin/sh
# Entry point of the Guichet images (services and gateway): create the secrets a fresh
# deployment lacks, then run the command.
#
# - Wallet: the master key file GUICHET_MASTER_KEY_FILE (on the `wallet-keys` volume in
#   docker-compose.yml), unless GUICHET_MASTER_KEY is set.
# - Gateway (command gunicorn): its cookie-signing key in var/secrets/gateway_secret_key
#   (on the `gateway-secrets` volume), unless GUICHET_SECRET_KEY is set. Made here, once,
#   before gunicorn forks its workers, so that every worker and replica signs with the
#   same key and sessions survive re-deployments.
#
# So `docker compose up` works with no preparation. Creation is race-free when several
# replicas start together (they all end up with the same secret); an existing file is
# never replaced (an operator who brings a key keeps it); a path that cannot be written
# fails the start rather than running without a key.
set -eu

MAKE_SECRET=/usr/local/lib/guichet/make_secret.py

if [ -n "${GUICHET_MASTER_KEY_FILE:-}" ] && [ -z "${GUICHET_MASTER_KEY:-}" ] \
        && [ ! -s "${GUICHET_MASTER_KEY_FILE}" ]; then
    python "$MAKE_SECRET" master-key "${GUICHET_MASTER_KEY_FILE}"
fi

if [ "${1:-}" = "gunicorn" ] && [ -z "${GUICHET_SECRET_KEY:-}" ]; then
    python "$MAKE_SECRET" token "${GUICHET_VAR_DIR:-/app/var}/secrets/gateway_secret_key"
fi

exec "$@"
