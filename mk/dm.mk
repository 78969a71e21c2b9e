# SPDX-License-Identifier: GPL-2.0
#
# dm-fvm: `virtzctl pool` and `virtzctl volume` (netlink + libdevmapper).
# The targets themselves build through kmod/virtz_fvm/dm.kbuild; their
# in-VM tests are the selftests/vm/test_dm_*.{sh,py} scripts.

VIRTZCTL_SRCS += user/virtzctl/cmd_pool.c user/virtzctl/cmd_volume.c \
	user/lib/vzdm.c
VIRTZCTL_LDLIBS += -ldevmapper
