# contrail-mesos
#
#   make build | release | test | test-real-api | validate | man | install | demo | deb | rpm
#   make bench-cni | bench-manager | bench-status | bench-vip | bench-smoke
#   make real-api-kit   upstream's real config API server for the real-server tier (see below)
#   make schema   regenerate tests/sim/src/config_api/schema.txt, the Contrail API schema the config
#                 API emulator checks requests against, from upstream's contrail-api-client
#                 2005 sdist (pip download, sha256-checked; SCHEMA_SDIST=FILE to use a copy)
#
# PREFIX/DESTDIR as usual; CNI_BIN_DIR is where the Mesos agent looks for plugins
# (--network_cni_plugins_dir; DC/OS uses /opt/mesosphere/active/cni).

PREFIX      ?= /usr/local
DESTDIR     ?=
BINDIR      ?= $(PREFIX)/bin
MANDIR      ?= $(PREFIX)/share/man
SYSCONFDIR  ?= /etc
CNI_BIN_DIR ?= /opt/cni/bin
CARGO       ?= cargo
LOCKED      ?= --locked
TARGET      ?= x86_64-unknown-linux-gnu
BIN          = contrail-mesos
STATIC_BIN   = target/$(TARGET)/release/$(BIN)
APPLETS      = cni manager fip sg status
VERSION     := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)

.PHONY: all build release static test test-real-api real-api-kit validate man deps install \
        uninstall demo bench-cni bench-manager bench-status bench-vip bench bench-smoke fuzz deb \
        clean schema

all: build

build:
	$(CARGO) build $(LOCKED)

# A standard static release build: glibc linked statically (crt-static) and not
# position-independent, so there is nothing to relocate at start-up; stripped, LTO (Cargo.toml's
# release profile). cargo decides what to rebuild.
release static:
	RUSTFLAGS="-C target-feature=+crt-static -C relocation-model=static" \
	  $(CARGO) build $(LOCKED) --release --target $(TARGET) --bin $(BIN)

# Upstream's real config API server (vnc_cfg_api_server, its schema transformer and
# svc-monitor) as tools/contrail-api-server/launch.py runs it: a venv and upstream's packages in
# CONTRAIL_API_KIT. Taken from ../shared/contrail-api-server (prebuilt, setup.sh) when that is
# beside the repository, else built from upstream's sources (tools/contrail-api-server/build.sh;
# TF_CONTROLLER_SRC, TF_API_CLIENT_SRC, TF_COMMON_SRC name local copies, else it clones them).
CONTRAIL_API_KIT ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/contrail-api-server
export CONTRAIL_API_KIT
SHARED_KIT = $(CURDIR)/../shared/contrail-api-server

# The tests and the demo need root (network namespaces, links, packages). As root they run
# directly; as another user, `make test`, `make test-real-api` and `make demo` run themselves
# again through sudo, keeping PATH, the cargo and rustup homes (rustup's toolchain) and the
# real-server kit, and building in target/root, so the user's own target/ never holds files
# owned by root.
ifeq ($(shell id -u),0)
AS_ROOT :=
else
AS_ROOT := sudo env "PATH=$(PATH)" "CARGO_HOME=$(or $(CARGO_HOME),$(HOME)/.cargo)" \
  "RUSTUP_HOME=$(or $(RUSTUP_HOME),$(HOME)/.rustup)" "CARGO_TARGET_DIR=$(CURDIR)/target/root" \
  "CONTRAIL_API_KIT=$(CONTRAIL_API_KIT)" $(if $(CI),"CI=$(CI)") \
  $(if $(CONTRAIL_API),"CONTRAIL_API=$(CONTRAIL_API)")
endif

# Where cargo builds (target/root for the root half of a user's run).
TARGET_DIR = $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)

deps:
	@mkdir -p target
	$(AS_ROOT) .ci/deps

real-api-kit:
	@if [ -x "$(CONTRAIL_API_KIT)/venv311/bin/python" ] && \
	    [ -d "$(CONTRAIL_API_KIT)/pylib/vnc_cfg_api_server" ] && \
	    [ -d "$(CONTRAIL_API_KIT)/daemons/pylib/svc_monitor" ]; then \
	  echo "upstream's config API server kit: $(CONTRAIL_API_KIT)"; \
	elif [ -x "$(SHARED_KIT)/setup.sh" ]; then \
	  CONTRAIL_API_ROOT="$(CONTRAIL_API_KIT)" "$(SHARED_KIT)/setup.sh"; \
	else \
	  tools/contrail-api-server/build.sh "$(CONTRAIL_API_KIT)"; \
	fi

# Unit tests, real-netns tests (root), integration tests on the emulators and on upstream's
# real config API server (the real-server tier), cnitool tests, the demo script on both. Tests
# that need root print why they skip when not root; real-server tests skip when the kit cannot
# be had (under CI=1 both fail instead).
ifeq ($(AS_ROOT),)
test: deps
	$(MAKE) real-api-kit || [ -z "$$CI" ]
	CNITOOL=$(TARGET_DIR)/tools/cnitool $(CARGO) test $(LOCKED) --workspace --lib --bins --tests -- --test-threads=4
	tests/demo/demo.sh --quiet
	if [ -d "$(CONTRAIL_API_KIT)/pylib/vnc_cfg_api_server" ] || [ -n "$$CI" ]; then \
	  CONTRAIL_API=real tests/demo/demo.sh --quiet; \
	else echo "skipped: CONTRAIL_API=real demo: no kit at $(CONTRAIL_API_KIT)"; fi

# The real-server tier alone: every test named real_api (the manager, provisioning with the
# schema transformer, VIPs with svc-monitor, reconciliation, the CLIs and status, the CNI
# plugin, the config API's answers) and the demo, on upstream's server.
test-real-api: deps real-api-kit
	$(CARGO) test $(LOCKED) --workspace --tests real_api -- --test-threads=4
	CONTRAIL_API=real tests/demo/demo.sh --quiet
else
test test-real-api:
	@mkdir -p target
	$(MAKE) real-api-kit || [ -z "$$CI" ]
	$(AS_ROOT) $(MAKE) --no-print-directory $@
endif

validate:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy $(LOCKED) --workspace --all-targets -- -D warnings
	$(CARGO) test $(LOCKED) --test man_pages

man:
	UPDATE_MAN=1 $(CARGO) test $(LOCKED) --test man_pages

# vnc_api/gen/resource_common.py and resource_xsd.py of PyPI contrail-api-client 2005 ->
# the table in tests/sim/src/config_api/schema.txt (Python 3, standard library only).
SCHEMA_SDIST ?=
schema:
	python3 tools/gen-contrail-schema.py $(if $(SCHEMA_SDIST),--sdist $(SCHEMA_SDIST))

install: release
	install -D -m 0755 $(STATIC_BIN) $(DESTDIR)$(BINDIR)/$(BIN)
	for a in $(APPLETS); do ln -sf $(BIN) $(DESTDIR)$(BINDIR)/$(BIN)-$$a; done
	install -d $(DESTDIR)$(CNI_BIN_DIR)
	ln -sf $(BINDIR)/$(BIN) $(DESTDIR)$(CNI_BIN_DIR)/contrail-cni-plugin
	for p in man/*.1; do install -D -m 0644 $$p $(DESTDIR)$(MANDIR)/man1/$$(basename $$p); done
	for p in man/*.8; do install -D -m 0644 $$p $(DESTDIR)$(MANDIR)/man8/$$(basename $$p); done
	install -D -m 0644 packaging/contrail-mesos.conf $(DESTDIR)$(SYSCONFDIR)/contrail/contrail-mesos.conf
	install -D -m 0644 packaging/contrail-mesos-manager.service $(DESTDIR)/lib/systemd/system/contrail-mesos-manager.service
	install -D -m 0644 packaging/contrail-cni-plugin.conf $(DESTDIR)$(PREFIX)/share/contrail-mesos/contrail-cni-plugin.conf

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/$(BIN) $(foreach a,$(APPLETS),$(DESTDIR)$(BINDIR)/$(BIN)-$(a))
	rm -f $(DESTDIR)$(CNI_BIN_DIR)/contrail-cni-plugin
	rm -f $(foreach p,$(wildcard man/*.1),$(DESTDIR)$(MANDIR)/man1/$(notdir $(p)))
	rm -f $(foreach p,$(wildcard man/*.8),$(DESTDIR)$(MANDIR)/man8/$(notdir $(p)))
	rm -f $(DESTDIR)/lib/systemd/system/contrail-mesos-manager.service

# The whole path on the emulators and a real network namespace (root); CONTRAIL_API=real: on
# upstream's config API server, schema transformer and svc-monitor instead of the emulator.
ifeq ($(AS_ROOT),)
demo: deps
	$(if $(filter real,$(CONTRAIL_API)),$(MAKE) real-api-kit)
	tests/demo/demo.sh
else
demo: $(if $(filter real,$(CONTRAIL_API)),real-api-kit)
	@mkdir -p target
	$(AS_ROOT) $(MAKE) --no-print-directory demo
endif

bench-cni: deps
	tests/bench/cni.sh

bench-manager:
	$(MAKE) real-api-kit || [ -z "$$CI" ]
	$(CARGO) bench $(LOCKED) --bench manager

bench-status:
	$(CARGO) bench $(LOCKED) --bench status

bench-vip:
	$(CARGO) bench $(LOCKED) --bench vip

bench: bench-cni bench-manager bench-status bench-vip

# Every benchmark with short runs and no targets to meet: CI runs it so a broken benchmark is
# seen at once. The full runs are the bench-* targets above.
bench-smoke: deps
	CYCLES=6 RSS_CYCLES=2 DELAY_MS=20 tests/bench/cni.sh
	BENCH_SMOKE=1 $(CARGO) bench $(LOCKED) --bench manager --bench status --bench vip

# libFuzzer on the label parser, the CNI config parser and the HTTP request reader (stable toolchain: coverage
# instrumentation without sanitizers). FUZZ_SECONDS per target.
FUZZ_SECONDS ?= 60
FUZZ_FLAGS = -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
	-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
	-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks
fuzz:
	cd fuzz && RUSTFLAGS="$(FUZZ_FLAGS)" CARGO_TARGET_DIR=$(CURDIR)/target/fuzz $(CARGO) build --release --target $(TARGET) --bins
	for t in labels cni_config http_request; do mkdir -p target/fuzz/corpus/$$t && \
	  target/fuzz/$(TARGET)/release/$$t -max_total_time=$(FUZZ_SECONDS) target/fuzz/corpus/$$t || exit 1; done

deb: release
	packaging/deb/build.sh $(STATIC_BIN) $(VERSION)

clean:
	$(CARGO) clean
