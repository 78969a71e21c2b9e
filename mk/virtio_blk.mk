# SPDX-License-Identifier: GPL-2.0
#
# virtzd's virtio-blk device and its backends (guest disks), their host
# unit test, fuzzer and in-VM tests (selftests/vm/test_vblk_*.py).
# Included by the top-level Makefile.

VIRTZD_SRCS += user/virtzd/virtio_blk.c user/virtzd/blk_req.c \
	user/virtzd/blk_file.c user/virtzd/blk_volatile.c \
	user/virtzd/blk_session.c user/lib/vzblock.c \
	user/virtzd/blk_qcow2.c user/lib/qcow2.c
VIRTZD_LDLIBS += -luring -lz -lzstd

# Request parsing against hostile descriptor chains.
HOST_TESTS += vblk_req_test
vblk_req_test_SRCS := selftests/host/vblk_req_test.c user/virtzd/blk_req.c

# The io_uring file backend on a scratch file: O_DIRECT, bounce buffers.
HOST_TESTS += vblk_file_test
vblk_file_test_SRCS := selftests/host/vblk_file_test.c user/virtzd/blk_file.c \
	user/virtzd/blk_req.c
vblk_file_test_LDLIBS := -luring

FUZZERS += vblk_req
vblk_req_SRCS := fuzz/vblk_req_fuzz.c user/virtzd/blk_req.c user/virtzd/virtq.c

# Benchmark (not a test): `make vblk-bench` runs bench/vblk_bench.sh, which
# boots the test VM and compares virtzd (session, io_uring) with QEMU.
$(BUILD)/bench/vblk_guestio: bench/vblk_guestio.c
	@mkdir -p $(dir $@)
	$(CC) $(USER_CFLAGS) -static -o $@ $<

.PHONY: vblk-bench
vblk-bench: user $(BUILD)/bench/vblk_guestio
	$(TOP)/bench/vblk_bench.sh
