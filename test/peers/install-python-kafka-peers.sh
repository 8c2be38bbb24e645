#!/usr/bin/env bash
# Kafka peers written by others, for the gateway tests: hop-client (SCiMMA's Hopskotch client;
# it imports six without declaring it) and gcn-kafka with confluent-kafka (GCN's own Python client),
# in a virtualenv under .voxnet/peers/kafka-python. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=.voxnet/peers/kafka-python
marker="$venv/.installed-1"
[ -e "$marker" ] && exit 0
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3)
if ! "$PY" -m venv --help >/dev/null 2>&1 || ! "$PY" -c 'import ensurepip' >/dev/null 2>&1; then
  echo "install-python-kafka-peers: python3-venv is needed" >&2; exit 1
fi
rm -rf "$venv"
"$PY" -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check 'hop-client==0.13.0' six 'gcn-kafka' 'confluent-kafka'
"$venv/bin/hop" --version >/dev/null
"$venv/bin/python" -c 'import gcn_kafka, confluent_kafka'
touch "$marker"
echo "install-python-kafka-peers: hop-client, gcn-kafka, confluent-kafka in $venv"
