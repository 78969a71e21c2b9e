# SPDX-License-Identifier: GPL-2.0
#
# virtz top-level Makefile.
#
#   make              modules + userspace
#   make modules      the three kernel modules (Kbuild, against $(KDIR))
#   make user         virtzctl, virtzd
#   make host-test    host unit tests under ASan/UBSan (no kernel needed)
#   make fuzz         every libFuzzer target for FUZZ_SECONDS each
#   make lint         checkpatch --strict + sparse on the kernel code
#   make vm-test      boot Debian's 6.12 kernel in QEMU, load the modules, run selftests
#   make vm-shell     the same guest, interactive, modules loaded
#   make test         everything above that tests, ending in "N passed, N failed"
#   make deps         install the Debian packages (idempotent)

TOP := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
BUILD := $(TOP)/build
CACHE := $(TOP)/.cache

# Kernel tree to build against: the running kernel's when it has headers,
# else the newest installed Debian 6.12 headers.
KDIR ?= $(firstword $(wildcard /lib/modules/$(shell uname -r)/build) \
	  $(lastword $(sort $(wildcard /usr/src/linux-headers-6.12*-amd64))))
KVER = $(shell sed -n 's/^\#define UTS_RELEASE "\(.*\)"/\1/p' $(KDIR)/include/generated/utsrelease.h 2>/dev/null)

CC ?= gcc
CLANG ?= clang
PKG_CONFIG ?= pkg-config
FUZZ_SECONDS ?= 30

DEPS_STAMP := $(CACHE)/deps.stamp
LINUX_SRC := $(CACHE)/linux
LINUX_SRC_STAMP := $(LINUX_SRC)/.stamp
HARNESS_DIR := $(LINUX_SRC)/tools/testing/selftests

LIBNL_CFLAGS = $(shell $(PKG_CONFIG) --cflags libnl-genl-3.0)
LIBNL_LIBS = $(shell $(PKG_CONFIG) --libs libnl-genl-3.0)

USER_WARN := -Wall -Wextra -Werror -Wno-unused-parameter -Wshadow -Wformat=2 \
	-Wmissing-prototypes -Wstrict-prototypes
USER_CPPFLAGS := -I$(TOP)/include/uapi -I$(TOP)/user/lib -I$(TOP)/kmod/include -D_GNU_SOURCE
USER_CFLAGS := -std=gnu11 -O2 -g $(USER_WARN)
# The kselftest harness defines functions without prototypes.
TEST_CFLAGS := $(USER_CFLAGS) -O1 -Wno-missing-prototypes
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

.PHONY: all modules user host-test fuzz lint vm-test vm-shell test clean deps \
	harness selftests demo
.DEFAULT_GOAL := all

all: modules user

# --- dependencies -----------------------------------------------------------

deps: $(DEPS_STAMP)
$(DEPS_STAMP): $(TOP)/scripts/install-deps.sh
	$(TOP)/scripts/install-deps.sh
	@mkdir -p $(CACHE) && touch $@

# Only what we use from Debian's linux-source tarball, extracted at build
# time and never committed: the selftest harness, checkpatch and ynl.
$(LINUX_SRC_STAMP): $(DEPS_STAMP)
	$(TOP)/scripts/extract-linux-src.sh $(LINUX_SRC)
	@touch $@
harness: $(LINUX_SRC_STAMP)

# --- kernel modules -----------------------------------------------------------

modules: $(DEPS_STAMP)
	@test -d "$(KDIR)" || { echo "KDIR not found: install linux-headers-6.12-amd64 or pass KDIR=" >&2; exit 1; }
	$(MAKE) -C $(KDIR) M=$(TOP) W=1 modules

# --- userspace ----------------------------------------------------------------

VIRTZCTL_SRCS := user/virtzctl/main.c user/virtzctl/cmd_module.c \
	user/lib/json.c user/lib/genl.c
VIRTZCTL_LDLIBS = $(LIBNL_LIBS)
VIRTZD_SRCS := user/virtzd/main.c user/lib/json.c
VIRTZD_LDLIBS = $(LIBNL_LIBS)

# Host unit tests and fuzzers register themselves from fragments:
#   HOST_TESTS += name;  name_SRCS := ...;  name_LDLIBS := ...
#   FUZZERS += name;     name_SRCS := ...;  name_LDLIBS := ...
HOST_TESTS :=
HOST_SCRIPTS :=
FUZZERS :=
VM_TESTS :=
-include $(sort $(wildcard $(TOP)/mk/*.mk))

user: $(BUILD)/virtzctl $(BUILD)/virtzd

$(BUILD)/virtzctl: $(VIRTZCTL_SRCS) $(wildcard user/lib/*.h user/virtzctl/*.h include/uapi/linux/*.h kmod/include/*.h kmod/virtz_fvm/*.h) $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(USER_CPPFLAGS) $(LIBNL_CFLAGS) $(USER_CFLAGS) -o $@ $(VIRTZCTL_SRCS) $(VIRTZCTL_LDLIBS)

$(BUILD)/virtzd: $(VIRTZD_SRCS) $(wildcard user/lib/*.h user/virtzd/*.h include/uapi/linux/*.h kmod/include/*.h) $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(USER_CPPFLAGS) $(LIBNL_CFLAGS) $(USER_CFLAGS) -o $@ $(VIRTZD_SRCS) $(VIRTZD_LDLIBS)

# --- host unit tests (ASan/UBSan) ---------------------------------------------

define host_test_rule
$(BUILD)/host/$(1): $$($(1)_SRCS) $(wildcard user/lib/*.h kmod/include/*.h kmod/virtz_fvm/*.h include/uapi/linux/*.h) $(LINUX_SRC_STAMP)
	@mkdir -p $$(dir $$@)
	$(CC) $(USER_CPPFLAGS) -I$(HARNESS_DIR) $(TEST_CFLAGS) $(SAN_FLAGS) -o $$@ $$($(1)_SRCS) $$($(1)_LDLIBS)
endef
$(foreach t,$(HOST_TESTS),$(eval $(call host_test_rule,$(t))))

host-test: $(addprefix $(BUILD)/host/,$(HOST_TESTS)) $(BUILD)/virtzctl
	@mkdir -p $(BUILD)/results
	VIRTZCTL=$(BUILD)/virtzctl VIRTZ_TOP=$(TOP) $(TOP)/scripts/run-host-tests.sh \
		$(BUILD)/results/host $(addprefix $(BUILD)/host/,$(HOST_TESTS)) \
		$(addprefix $(TOP)/,$(HOST_SCRIPTS))

# --- fuzzers (clang, libFuzzer + ASan/UBSan) ----------------------------------

define fuzzer_rule
$(BUILD)/fuzz/$(1): $$($(1)_SRCS) $(wildcard user/lib/*.h kmod/include/*.h kmod/virtz_fvm/*.h include/uapi/linux/*.h) $(DEPS_STAMP)
	@mkdir -p $$(dir $$@)
	$(CLANG) $(USER_CPPFLAGS) -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=all -o $$@ $$($(1)_SRCS) $$($(1)_LDLIBS)
endef
$(foreach f,$(FUZZERS),$(eval $(call fuzzer_rule,$(f))))

fuzz: $(addprefix $(BUILD)/fuzz/,$(FUZZERS))
	@mkdir -p $(BUILD)/results
	$(TOP)/scripts/run-fuzzers.sh $(FUZZ_SECONDS) $(BUILD)/results/fuzz $(addprefix $(BUILD)/fuzz/,$(FUZZERS))

# --- in-VM selftests ------------------------------------------------------------

VM_TESTS += module_lifecycle genl_families
VM_TEST_SRCS_COMMON := user/lib/genl.c
VM_TEST_BINS := $(addprefix $(BUILD)/vm-tests/,$(VM_TESTS))

# A test NAME may add NAME_SRCS and NAME_LDLIBS (from a mk/*.mk fragment).
.SECONDEXPANSION:
$(BUILD)/vm-tests/%: selftests/vm/%.c $(VM_TEST_SRCS_COMMON) $$($$*_SRCS) selftests/vm/vz_test.h $(wildcard user/lib/*.h include/uapi/linux/*.h kmod/virtz_fvm/*.h) $(LINUX_SRC_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(USER_CPPFLAGS) -I$(HARNESS_DIR) $(LIBNL_CFLAGS) $(TEST_CFLAGS) $(SAN_FLAGS) \
		-o $@ $< $(VM_TEST_SRCS_COMMON) $($*_SRCS) $(LIBNL_LIBS) $($*_LDLIBS)

selftests: $(VM_TEST_BINS)

VM_RUN := $(TOP)/scripts/vm/run.sh
VM_TIMEOUT ?= 1800

# The guest run fails on a boot failure, timeout or kernel splat; the
# summary then fails on any failed test.
vm-test: all selftests $(LINUX_SRC_STAMP)
	$(VM_RUN) --timeout $(VM_TIMEOUT) --results $(BUILD)/vm -- $(TOP)/selftests/vm/run.sh
	@python3 $(TOP)/scripts/tap-summary.py $(BUILD)/results/vm

vm-shell: all selftests
	$(VM_RUN) --shell -- source $(TOP)/scripts/vm-shell-init.sh

# --- lint ---------------------------------------------------------------------------

lint: $(LINUX_SRC_STAMP)
	@mkdir -p $(BUILD)/results
	$(TOP)/scripts/lint-tap.sh $(BUILD)/results/lint $(TOP) $(KDIR) $(LINUX_SRC)

# --- everything ----------------------------------------------------------------

test: $(DEPS_STAMP)
	$(TOP)/scripts/test-all.sh

clean:
	-$(MAKE) -C $(KDIR) M=$(TOP) clean 2>/dev/null
	rm -rf $(BUILD)
