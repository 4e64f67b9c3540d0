#!/usr/bin/env bash
# Make sure a RabbitMQ broker answers on 127.0.0.1:5672 with its management API (the
# tests create vhosts through it). Installs Debian's rabbitmq-server when missing and
# starts it with a raised open-file limit, dropped to the rabbitmq user so the limit holds
# (started as root it keeps ~1024 handles and stops answering past ~900 queues).
set -euo pipefail

answers() { (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null; }

if [ -n "${GUICHET_AMQP_URI:-}" ]; then exit 0; fi   # an operator's own broker

if ! answers 5672; then
  if ! command -v rabbitmq-server >/dev/null 2>&1; then
    echo "Installing rabbitmq-server (Debian package)…"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq rabbitmq-server >/dev/null
  fi
  echo "Starting RabbitMQ…"
  ulimit -n 65536 || true
  mkdir -p /var/lib/rabbitmq /var/log/rabbitmq
  chown -R rabbitmq:rabbitmq /var/lib/rabbitmq /var/log/rabbitmq 2>/dev/null || true
  if id rabbitmq >/dev/null 2>&1 && command -v setpriv >/dev/null 2>&1; then
    HOME=/var/lib/rabbitmq setpriv --reuid=rabbitmq --regid=rabbitmq --init-groups \
      rabbitmq-server -detached >/dev/null 2>&1 || true
  else
    rabbitmq-server -detached >/dev/null 2>&1 || true
  fi
  for _ in $(seq 1 90); do answers 5672 && break; sleep 1; done
  answers 5672 || { echo "RabbitMQ did not start" >&2; exit 1; }
fi

if ! answers 15672; then
  rabbitmq-plugins enable rabbitmq_management >/dev/null 2>&1 || true
  for _ in $(seq 1 60); do answers 15672 && break; sleep 1; done
fi
