# SPDX-License-Identifier: GPL-2.0
#
# qcow2 image engine (user/lib/qcow2.c) for virtzd's virtio-blk backends:
# its host unit tests, its QEMU interop test and its fuzzer.
# Included by the top-level Makefile.

QCOW2_LIB_SRC := user/lib/qcow2.c
QCOW2_LIB_LDLIBS := -lz -lzstd -lpthread

HOST_TESTS += qcow2_unit
qcow2_unit_SRCS := selftests/host/qcow2_unit_test.c $(QCOW2_LIB_SRC)
qcow2_unit_LDLIBS := $(QCOW2_LIB_LDLIBS)

# Builds selftests/host/qcow2_tool.c into build/host itself.
HOST_SCRIPTS += selftests/host/test_qcow2_interop.sh

FUZZERS += qcow2_open
qcow2_open_SRCS := fuzz/qcow2_open_fuzz.c $(QCOW2_LIB_SRC)
qcow2_open_LDLIBS := $(QCOW2_LIB_LDLIBS)

# virtzd links the engine through mk/virtio_blk.mk.
