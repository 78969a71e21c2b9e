# SPDX-License-Identifier: GPL-2.0
#
# virtzd's virtio-blk device and its backends (guest disks), their host
# unit test, fuzzer and in-VM tests (selftests/vm/test_vblk_*.py).
# Included by the top-level Makefile.

VIRTZD_SRCS += user/virtzd/virtio_blk.c user/virtzd/blk_req.c \
	user/virtzd/blk_file.c user/virtzd/blk_volatile.c
VIRTZD_LDLIBS += -luring

# Request parsing against hostile descriptor chains.
HOST_TESTS += vblk_req_test
vblk_req_test_SRCS := selftests/host/vblk_req_test.c user/virtzd/blk_req.c

FUZZERS += vblk_req
vblk_req_SRCS := fuzz/vblk_req_fuzz.c user/virtzd/blk_req.c user/virtzd/virtq.c
