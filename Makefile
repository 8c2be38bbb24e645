# VOXnet quick start:  `make up` (local network)  and  `make test` (the test suite).
# Both install what they need on a Debian machine first.

SHELL := /bin/bash
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
DEBS := prosody lua-dbi-sqlite3 python3-slixmpp python3-healpy python3-numpy ejabberd openssl lua5.4 make g++ python3 python3-venv default-jre-headless maven chromium lua-unbound postgresql libpq-dev

.PHONY: deps debs node peers up test bench

deps: debs node

# Tests and benchmarks start their own Prosody/ejabberd on free loopback ports;
# the system services the packages start on installation are stopped.
# (`service ejabberd stop` runs ejabberdctl, which itself starts an epmd when no
# ejabberd runs: only call it when one does. `epmd -kill` is refused while an
# Erlang node is still registered.)
debs:
	@missing=""; for p in $(DEBS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi; \
	$(SUDO) service prosody stop >/dev/null 2>&1 || true; \
	if pgrep -u prosody -f /usr/bin/prosody >/dev/null 2>&1; then $(SUDO) prosodyctl stop >/dev/null 2>&1 || true; fi; \
	if ! command -v pgrep >/dev/null || pgrep -u ejabberd -x beam.smp >/dev/null 2>&1; then \
	  $(SUDO) service ejabberd stop >/dev/null 2>&1 || $(SUDO) ejabberdctl stop >/dev/null 2>&1 || true; \
	fi; \
	if pgrep -u ejabberd -x epmd >/dev/null 2>&1; then epmd -kill >/dev/null 2>&1 || true; fi

node: node_modules/.voxnet-installed

# Native modules (better-sqlite3, libxmljs2) build from source against the local Node headers.
node_modules/.voxnet-installed: package.json package-lock.json
	@if [ -z "$$npm_config_nodedir" ] && [ -f /usr/include/node/common.gypi ]; then export npm_config_nodedir=/usr; fi; \
	npm ci --no-audit --no-fund
	@touch $@

up: deps
	node bin/voxnet.js devnet

# Test peers we did not write (Kafka, Python clients, ...): one idempotent installer
# per peer in test/peers/install-*.sh, run in name order.
peers: deps
	@for f in test/peers/install-*.sh; do [ -e "$$f" ] || continue; echo "peer: $$f"; bash "$$f" || exit 1; done

# Types first (a few seconds): the whole tree must type-check; then the tests
# (test/architecture.test.ts keeps the imports to ARCHITECTURE.md's room table).
test: deps peers
	npx tsc --noEmit -p .
	npx vitest run

# Benchmarks (not tests): each runs ours side by side with the reference and prints ratios.
bench: deps
	npx tsx bench/voevent.ts
	npx tsx bench/sky-crossmatch.ts
	npx tsx bench/telescope.ts
	npx tsx bench/store.ts
	npx tsx bench/fanout.ts --subscribers 100,1000 --targets ours,ours-mc,prosody
	bash test/peers/install-comet.sh && npx tsx bench/gateway-vtp.ts
