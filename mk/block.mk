# SPDX-License-Identifier: GPL-2.0
#
# Block FIFO sessions (/dev/virtz-block): the client library, `virtzctl
# block`, and their in-VM selftests.  Included by the top-level Makefile.

VZBLOCK_LIB := user/lib/vzblock.c

VM_TESTS += block_session
block_session_SRCS := selftests/vm/block_util.c $(VZBLOCK_LIB)

VM_TESTS += block_order
block_order_SRCS := selftests/vm/block_util.c $(VZBLOCK_LIB)

VM_TESTS += block_zstd
block_zstd_SRCS := selftests/vm/block_util.c $(VZBLOCK_LIB)

VM_TESTS += block_model
block_model_SRCS := selftests/vm/block_util.c $(VZBLOCK_LIB)
block_model_LDLIBS := -lpthread

VIRTZCTL_SRCS += user/virtzctl/cmd_block.c $(VZBLOCK_LIB)

# Benchmark (not a test): `make block-bench` runs bench/block_bench.sh,
# which boots the test VM and compares sessions with io_uring there.
$(BUILD)/bench/block_uring: bench/block_uring.c $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(USER_CPPFLAGS) $(USER_CFLAGS) -o $@ $< -luring

.PHONY: block-bench
block-bench: all $(BUILD)/bench/block_uring
	$(TOP)/bench/block_bench.sh
