#!/usr/bin/env bash
# Comet (https://comet.transientskp.org/, PyPI `comet`): the reference VOEvent
# Transport Protocol broker and subscriber, used by the VTP gateway tests
# (test/gateway-vtp*.test.ts) and bench/gateway-vtp.ts.
#
# Installs into a virtual environment of its own, .voxnet/peers/comet, built from
# Debian's /usr/bin/python3 (package python3-venv). Idempotent: a second run only
# checks that `twistd comet` still loads.
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV=.voxnet/peers/comet
VERSION=3.1.0
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3)

if [ -x "$VENV/bin/twistd" ] && "$VENV/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('comet') != '$VERSION')" 2>/dev/null; then
  exit 0
fi
# A half-made environment (an interrupted run) is rebuilt from scratch.
rm -rf "$VENV"
"$PY" -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check --use-pep517 "comet==$VERSION"
"$VENV/bin/twistd" comet --help >/dev/null
echo "comet $VERSION installed in $VENV"
