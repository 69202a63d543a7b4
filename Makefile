# podnet.hostgw — the two front-door commands are `make demo` and `make test`.
# Both install what a fresh Debian machine lacks (root: apt-get; a venv with
# the pinned development tools of requirements-dev.txt), so they work from a
# fresh clone.  ansible-test installs its own test requirements into its own
# virtual environments (under ~/.ansible/test and the temporary tree).

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
export PATH := $(abspath $(BIN)):$(PATH)

# Debian packages the lab and the modules need: command -> package.
SYSTEM_DEPS := ip:iproute2 ping:iputils-ping nsenter:util-linux unshare:util-linux \
               mount:mount nft:nftables iptables:iptables \
               /usr/lib/cni/bridge:containernetworking-plugins bird:bird2 \
               podman:podman busybox:busybox-static
# ...and the checks: ansible-test's shellcheck sanity test skips without it.
TEST_DEPS := shellcheck:shellcheck

# ansible-test: the controller Python we test with.  The Pythons the modules
# claim on managed hosts are tests/config.yml's (sanity-module-pythons).
ANSIBLE_TEST_PYTHON := 3.11
ANSIBLE_TEST        := VENV_BIN=$(abspath $(BIN)) .ci/ansible-test

.PHONY: help deps venv demo demo-down demo-shell lint sanity sanity-module-pythons changelog \
        units unit integration molecule test build bench bench-plan bench-nexthop bench-reconcile bench-fleet clean

help:
	@echo "make demo        build the seed's two-host lab, run site.yml on it, show routes and pings"
	@echo "make demo-down   tear the lab down (leaves nothing behind)"
	@echo "make demo-shell  a shell on a lab host (HOST=host1)"
	@echo "make test        everything the project checks: lint, sanity, changelog, units, molecule, pytest"
	@echo "make sanity      ansible-test sanity on a temporary ansible_collections tree, and"
	@echo "                 the modules compiled and imported on every Python they claim"
	@echo "make units       ansible-test units (tests/unit) on that tree"
	@echo "make changelog   lint the changelog fragments and check CHANGELOG.md is generated"
	@echo "make build       build the collection tarball (podnet-hostgw-VERSION.tar.gz)"
	@echo "make bench       ip_route against raw ip -batch (its BENCHMARKS.md section and plot; about 10 min)"
	@echo "make bench-plan  cluster.plan and every host's route list at 100 to 10 000 hosts, against a naive Jinja loop (its section)"
	@echo "make bench-nexthop  plain routes against nexthop objects on the kernel, 10 to 10 000 routes (its section)"
	@echo "make bench-reconcile  the reconcile command against ip -batch and a flannel-style check (its BENCHMARKS.md section)"
	@echo "make bench-fleet      site.yml's re-run on 5, 20 and 50 lab hosts against a one-task play (its BENCHMARKS.md section)"

deps:
	@missing=""; for pair in $(SYSTEM_DEPS) $(TEST_DEPS); do \
	  cmd=$${pair%%:*}; pkg=$${pair##*:}; \
	  command -v $$cmd >/dev/null 2>&1 || PATH=$$PATH:/usr/sbin:/sbin command -v $$cmd >/dev/null 2>&1 || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

$(VENV)/.installed: requirements-dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
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

# The full set of ansible-test sanity tests on the controller Python, then
# the modules and module_utils compiled and imported on every Python
# tests/config.yml claims for managed hosts (grammar only where a Python is
# not installed; the script says which).  Running ansible-test's compile and
# import tests once per Python instead costs minutes each; for one Python by
# hand: PATH=<dir of pythonX.Y>:$PATH .ci/ansible-test sanity --python X.Y \
#   --requirements --test compile --test import plugins/
sanity: venv
	$(ANSIBLE_TEST) sanity --python $(ANSIBLE_TEST_PYTHON) --requirements
	$(MAKE) --no-print-directory sanity-module-pythons

sanity-module-pythons: venv
	$(PY) .ci/check_module_python.py

changelog: venv
	$(BIN)/antsibull-changelog lint
	$(BIN)/antsibull-changelog lint-changelog-yaml changelogs/changelog.yaml
	@out=$$(mktemp); trap 'rm -f "$$out"' EXIT; \
	$(BIN)/antsibull-changelog generate --output "$$out" --output-format md 2>/dev/null; \
	diff -u CHANGELOG.md "$$out" || { echo "CHANGELOG.md is not what changelogs/changelog.yaml generates: run antsibull-changelog generate"; exit 1; }

# --venv: ansible-test puts its unit-test requirements into a virtual
# environment of its own, not into $(VENV).
units: venv
	$(ANSIBLE_TEST) units --venv --python $(ANSIBLE_TEST_PYTHON) --requirements

# The same tests with the venv's pytest: quicker while editing.
unit: venv
	$(PY) -m pytest tests/unit -q

integration: deps venv
	$(PY) -m pytest tests/integration -q

molecule: deps venv
	$(BIN)/molecule test --all

# Fast checks first (lint, changelog, sanity, units), then molecule; pytest
# last: the run ends on pytest's summary line.
test: deps venv lint changelog sanity units
	$(BIN)/molecule test --all
	$(PY) -m pytest tests -q

build: venv
	$(BIN)/ansible-galaxy collection build --force

bench: deps venv
	$(PY) -m pip install -q --disable-pip-version-check -r bench/requirements.txt
	$(PY) bench/run.py

# Each bench target writes its own section of BENCHMARKS.md and its rows of the summary on top
# (bench/benchmarks_md.py); none is part of `make test`.
bench-plan: venv
	$(PY) bench/plan_bench.py

bench-nexthop: deps venv
	$(PY) bench/nexthop_bench.py

# About 10 minutes, a lab of its own.
bench-reconcile: deps venv
	$(PY) bench/reconcile_bench.py

# Not part of `make bench` or `make test`: about 15 minutes, labs of its own
# (5, 20 and 50 hosts, one after the other).
bench-fleet: deps venv
	$(PY) -m pip install -q --disable-pip-version-check -r bench/requirements.txt
	$(PY) bench/fleet_bench.py

clean:
	rm -rf $(VENV) .pytest_cache
