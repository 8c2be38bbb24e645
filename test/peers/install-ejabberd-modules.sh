#!/usr/bin/env bash
# VOXnet's ejabberd modules (config/ejabberd-modules/, e.g. mod_voxnet_fanout),
# compiled with erlc against the installed ejabberd's headers into
# .voxnet/ejabberd-modules/ebin. Idempotent (only changed sources are rebuilt);
# the test helper (broker-component/servers/ejabberd.ts) runs the same build on demand.
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! command -v erlc >/dev/null || ! ls -d /usr/lib/*/ejabberd-*/include >/dev/null 2>&1; then
  echo "ejabberd modules: ejabberd or erlc not installed, skipped"
  exit 0
fi
bash config/ejabberd-modules/build.sh
