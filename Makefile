# certaudit — developer entry points. `make demo` and `make test` work on a fresh clone.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
TESTS ?=
PYTEST_ARGS ?=
# Fleet sizes for the fleet-scale part of `make bench` (tools/bench_fleet.py).
BENCH_HOSTS ?= 100 300 1000

# Debian packages the lab and the tests need (sshd in namespaces, nginx, chromium, busybox;
# certbot for its real timer, service and cron files, which the renewal lab hosts see).
DEB_PACKAGES := openssh-server openssh-client iproute2 util-linux nginx-light chromium busybox openssl dash tcsh procps e2fsprogs gawk certbot

.PHONY: dev sysdeps ansible-venv lint test demo bench docs clean

$(VENV)/.stamp: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

dev: $(VENV)/.stamp

# ansible-core for the parity suite (tests/parity), in a virtual environment of its own;
# certaudit never imports it. The .gitignore inside keeps it out of git.
ANSIBLE_VENV := .venv-ansible
ANSIBLE_CORE := ansible-core==2.19.14

$(ANSIBLE_VENV)/.stamp-$(ANSIBLE_CORE):
	$(PY) -m venv $(ANSIBLE_VENV)
	echo '*' > $(ANSIBLE_VENV)/.gitignore
	$(ANSIBLE_VENV)/bin/pip install -q --upgrade pip
	$(ANSIBLE_VENV)/bin/pip install -q '$(ANSIBLE_CORE)'
	touch '$@'

ansible-venv: $(ANSIBLE_VENV)/.stamp-$(ANSIBLE_CORE)

# Installs missing Debian packages when run as root; otherwise says what is missing.
sysdeps:
	@missing=""; for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else echo "missing Debian packages (install as root):$$missing"; exit 1; fi; \
	fi

lint: dev
	$(BIN)/ruff format --check audit tests tools
	$(BIN)/ruff check audit tests tools
	$(BIN)/mypy audit
	$(BIN)/lint-imports

test: dev sysdeps ansible-venv
	$(BIN)/pytest $(if $(TESTS),-k '$(TESTS)') $(PYTEST_ARGS)

demo: dev sysdeps
	$(BIN)/python -m tools.demo --out reports/demo

# Micro-benchmarks, then certaudit vs a bare floor vs Ansible at $(BENCH_HOSTS) hosts (root).
bench: dev sysdeps
	$(BIN)/python -m tools.bench
	$(BIN)/python -m tools.bench_fleet --hosts $(BENCH_HOSTS) --ansible install

# docs/FINDINGS.md from the rule registry (a test fails when it is stale).
docs: dev
	$(BIN)/python -m tools.findings_doc

clean:
	rm -rf $(VENV) reports .pytest_cache .mypy_cache .ruff_cache
