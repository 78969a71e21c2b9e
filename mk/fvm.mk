# SPDX-License-Identifier: GPL-2.0
#
# FVM format library, `virtzctl fvm`, its host tests and its fuzzer.
# Included by the top-level Makefile.

FVM_LIB_SRC := kmod/virtz_fvm/fvm_format.c

VIRTZCTL_SRCS += user/virtzctl/cmd_fvm.c $(FVM_LIB_SRC)
VIRTZCTL_LDLIBS += -lcrypto

HOST_TESTS += fvm_format
fvm_format_SRCS := selftests/host/fvm_format_test.c $(FVM_LIB_SRC)
fvm_format_LDLIBS := -lcrypto

HOST_SCRIPTS += selftests/host/fvm_cli_test.sh

FUZZERS += fvm_load
fvm_load_SRCS := fuzz/fvm_load_fuzz.c $(FVM_LIB_SRC)
fvm_load_LDLIBS := -lcrypto
