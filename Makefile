# VOXnet quick start:  `make up` (local network)  and  `make test` (the test suite).
# Both install what they need on a Debian machine first.

SHELL := /bin/bash
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
DEBS := prosody python3-slixmpp python3-healpy python3-numpy ejabberd openssl lua5.4 make g++ python3

.PHONY: deps debs node up test bench

deps: debs node

debs:
	@missing=""; for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi; \
	for svc in prosody ejabberd; do $(SUDO) service $$svc stop >/dev/null 2>&1 || true; done

node: node_modules/.voxnet-installed

node_modules/.voxnet-installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

up: deps
	node bin/voxnet.js devnet

test: deps
	npx vitest run

bench: deps
	node bin/voxnet.js bench
