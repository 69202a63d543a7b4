# podnet.hostgw — the two front-door commands are `make demo` and `make test`.
# Both install what a fresh Debian machine lacks (root: apt-get; a venv with
# pinned Python packages), so they work from a fresh clone.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV      ?= .venv
PYTHON    ?= python3
PY        := $(VENV)/bin/python
BIN       := $(VENV)/bin
INVENTORY ?= inventories/lab
LAB       := $(PY) lab/hostgw_lab.py --inventory $(INVENTORY)
HOST      ?= host1

# Ansible wants a UTF-8 locale; the checkout's ansible.cfg finds the collection.
export LC_ALL := C.UTF-8
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export ANSIBLE_FORCE_COLOR ?= 0
export NO_COLOR ?= 1
export PY_COLORS ?= 0
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

# Debian packages the lab and the modules need: command -> package.
SYSTEM_DEPS := ip:iproute2 ping:iputils-ping nsenter:util-linux unshare:util-linux \
               mount:mount nft:nftables iptables:iptables \
               /usr/lib/cni/bridge:containernetworking-plugins bird:bird2

.PHONY: help deps venv demo demo-down demo-shell lint unit integration molecule test bench clean

help:
	@echo "make demo        build the seed's two-host lab, run site.yml on it, show routes and pings"
	@echo "make demo-down   tear the lab down (leaves nothing behind)"
	@echo "make demo-shell  a shell on a lab host (HOST=host1)"
	@echo "make test        everything the project checks: lint, unit, integration, molecule"
	@echo "make bench       the benchmarks in bench/ (writes BENCHMARKS.md data and plot)"

deps:
	@missing=""; for pair in $(SYSTEM_DEPS); do \
	  cmd=$${pair%%:*}; pkg=$${pair##*:}; \
	  command -v $$cmd >/dev/null 2>&1 || PATH=$$PATH:/usr/sbin:/sbin command -v $$cmd >/dev/null 2>&1 || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

$(VENV)/.installed: requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	@touch $@

venv: $(VENV)/.installed

demo: deps venv
	$(LAB) up
	$(BIN)/ansible-playbook -i $(INVENTORY) site.yml
	$(LAB) attach
	@echo; $(LAB) routes
	@echo "=== pings, every container to every other container"
	$(LAB) ping
	@echo
	@echo "The lab is still up. Next:"
	@echo "  make demo-shell HOST=host1     a shell on host1 (its own network, /etc and hostname)"
	@echo "  $(BIN)/ansible-playbook -i $(INVENTORY) site.yml   run again: changed=0"
	@echo "  make demo-down                 tear it down"

demo-down: venv
	$(LAB) down

demo-shell: venv
	$(LAB) shell $(HOST)

lint: venv
	$(BIN)/ansible-lint --profile production --offline

unit: venv
	$(PY) -m pytest tests/unit -q

integration: deps venv
	$(PY) -m pytest tests/integration -q

molecule: deps venv
	$(BIN)/molecule test --all

# molecule first, pytest last: the run ends on pytest's summary line.
test: deps venv lint
	$(BIN)/molecule test --all
	$(PY) -m pytest tests -q

bench: deps venv
	$(PY) -m pip install -q --disable-pip-version-check -r bench/requirements.txt
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) .pytest_cache
