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
