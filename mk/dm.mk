# SPDX-License-Identifier: GPL-2.0
#
# dm-fvm: `virtzctl pool` and `virtzctl volume` (netlink + libdevmapper).
# The targets themselves build through kmod/virtz_fvm/dm.kbuild; their
# in-VM tests are the selftests/vm/test_dm_*.{sh,py} scripts.

VIRTZCTL_SRCS += user/virtzctl/cmd_pool.c user/virtzctl/cmd_volume.c \
	user/lib/vzdm.c
VIRTZCTL_LDLIBS += -ldevmapper

# The crash test's log replayer (not a test itself, so not in
# build/vm-tests): built with the selftests.
$(BUILD)/dm-replay: selftests/vm/dm_replay_tool.c $(FVM_LIB_SRC) user/lib/json.c \
		$(wildcard kmod/virtz_fvm/*.h user/lib/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(USER_CPPFLAGS) $(USER_CFLAGS) -o $@ $< $(FVM_LIB_SRC) user/lib/json.c -lcrypto
selftests: $(BUILD)/dm-replay
