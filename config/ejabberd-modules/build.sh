#!/usr/bin/env bash
# Build VOXnet's ejabberd modules (mod_voxnet_fanout) against the installed
# ejabberd: erlc with ejabberd's and p1_xmpp's include directories (both in
# Debian's ejabberd packages; erlc is in erlang-base). Idempotent: rebuilds only
# when a source is newer than its .beam.
#   config/ejabberd-modules/build.sh [OUTDIR]   (default: .voxnet/ejabberd-modules/ebin)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
out="${1:-$repo/.voxnet/ejabberd-modules/ebin}"
command -v erlc >/dev/null || { echo "erlc not found (apt-get install erlang-base)" >&2; exit 1; }
ejinc=$(ls -d /usr/lib/*/ejabberd-*/include /usr/lib/erlang/lib/ejabberd-*/include /opt/ejabberd*/lib/ejabberd-*/include 2>/dev/null | head -1 || true)
xmppinc=$(ls -d /usr/lib/erlang/lib/p1_xmpp-*/include /usr/lib/erlang/lib/xmpp-*/include /opt/ejabberd*/lib/xmpp-*/include 2>/dev/null | head -1 || true)
fxmlinc=$(ls -d /usr/lib/erlang/lib/p1_xml-*/include /usr/lib/erlang/lib/fast_xml-*/include /opt/ejabberd*/lib/fast_xml-*/include 2>/dev/null | head -1 || true)
ejebin="${ejinc%/include}/ebin"
[ -n "$ejinc" ] && [ -n "$xmppinc" ] || { echo "ejabberd's include files not found (apt-get install ejabberd)" >&2; exit 1; }
mkdir -p "$out"
for src in "$here"/*.erl; do
  beam="$out/$(basename "${src%.erl}").beam"
  if [ ! -e "$beam" ] || [ "$src" -nt "$beam" ]; then
    erlc -o "$out" -pa "$ejebin" -I "$ejinc" -I "$xmppinc" ${fxmlinc:+-I "$fxmlinc"} +warn_unused_vars "$src"
    echo "built $beam"
  fi
done
