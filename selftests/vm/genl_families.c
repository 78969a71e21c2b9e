// SPDX-License-Identifier: GPL-2.0
/*
 * The three virtz netlink families answer the common commands, count
 * device handles, validate their input with extack messages, and refuse
 * admin commands to unprivileged callers.  Expects the modules loaded.
 */
#include <grp.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "genl.h"
#include "virtz_version.h"
#include "vz_test.h"

struct info {
	char version[64];
	unsigned int api, log_level, handles;
	unsigned long long features;
	int nattrs;
};

static int parse_info(struct nlattr **tb, void *arg)
{
	struct info *in = arg;
	int i;

	for (i = VIRTZ_COMMON_A_VERSION; i <= VIRTZ_COMMON_A_HANDLES; i++)
		in->nattrs += !!tb[i];
	if (tb[VIRTZ_COMMON_A_VERSION])
		snprintf(in->version, sizeof(in->version), "%.*s",
			 nla_len(tb[VIRTZ_COMMON_A_VERSION]),
			 (char *)nla_data(tb[VIRTZ_COMMON_A_VERSION]));
	if (tb[VIRTZ_COMMON_A_API_VERSION])
		in->api = nla_get_u32(tb[VIRTZ_COMMON_A_API_VERSION]);
	if (tb[VIRTZ_COMMON_A_FEATURES])
		in->features = nla_get_u64(tb[VIRTZ_COMMON_A_FEATURES]);
	if (tb[VIRTZ_COMMON_A_LOG_LEVEL])
		in->log_level = nla_get_u32(tb[VIRTZ_COMMON_A_LOG_LEVEL]);
	if (tb[VIRTZ_COMMON_A_HANDLES])
		in->handles = nla_get_u32(tb[VIRTZ_COMMON_A_HANDLES]);
	return 0;
}

static int get_info(struct vz_genl *g, struct info *in)
{
	memset(in, 0, sizeof(*in));
	return vz_genl_do(g, vz_genl_msg(g, VIRTZ_COMMON_CMD_GET_INFO, 0),
			  parse_info, in);
}

/* Sends SET_LOG_LEVEL; level < 0 leaves the attribute out. */
static int set_level(struct vz_genl *g, long long level)
{
	struct nl_msg *msg = vz_genl_msg(g, VIRTZ_COMMON_CMD_SET_LOG_LEVEL, 0);

	if (level >= 0)
		nla_put_u32(msg, VIRTZ_COMMON_A_LOG_LEVEL, level);
	return vz_genl_do(g, msg, NULL, NULL);
}

FIXTURE(fam)
{
	const struct vz_mod *m;
	struct vz_genl g;
	unsigned int saved_level;
};

FIXTURE_VARIANT(fam)
{
	int idx;
};

FIXTURE_VARIANT_ADD(fam, fvm) { .idx = 0 };
FIXTURE_VARIANT_ADD(fam, vsock) { .idx = 1 };
FIXTURE_VARIANT_ADD(fam, wl) { .idx = 2 };

FIXTURE_SETUP(fam)
{
	struct info in;

	self->m = &vz_mods[variant->idx];
	ASSERT_TRUE(vz_mod_loaded(self->m->name)) {
		TH_LOG("%s must be loaded for this test", self->m->name);
	}
	ASSERT_EQ(0, vz_genl_open(&self->g, self->m->family, self->m->maxattr));
	ASSERT_EQ(0, get_info(&self->g, &in));
	self->saved_level = in.log_level;
}

FIXTURE_TEARDOWN(fam)
{
	set_level(&self->g, self->saved_level);
	vz_genl_close(&self->g);
}

TEST_F(fam, get_info_reports_module)
{
	struct info in;

	ASSERT_EQ(0, get_info(&self->g, &in));
	EXPECT_EQ(5, in.nattrs);
	EXPECT_STREQ(VIRTZ_VERSION, in.version);
	EXPECT_EQ(self->m->api, in.api);
	EXPECT_EQ(self->m->min_features, in.features & self->m->min_features);
	EXPECT_EQ(0ULL, in.features & ~self->m->known_features);
	EXPECT_GE(3U, in.log_level);
}

TEST_F(fam, handles_follow_open_and_close)
{
	struct info in;
	unsigned int base;
	int a, b;

	ASSERT_EQ(0, get_info(&self->g, &in));
	base = in.handles;

	a = open(self->m->dev, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, a);
	b = open(self->m->dev, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, b);
	ASSERT_EQ(0, get_info(&self->g, &in));
	EXPECT_EQ(base + 2, in.handles);

	close(a);
	ASSERT_EQ(0, get_info(&self->g, &in));
	EXPECT_EQ(base + 1, in.handles);

	close(b);
	ASSERT_EQ(0, get_info(&self->g, &in));
	EXPECT_EQ(base, in.handles);
}

TEST_F(fam, set_log_level_round_trip)
{
	struct info in;
	int level;

	for (level = VIRTZ_LOG_LEVEL_MAX; level >= 0; level--) {
		ASSERT_EQ(0, set_level(&self->g, level));
		ASSERT_EQ(0, get_info(&self->g, &in));
		EXPECT_EQ((unsigned int)level, in.log_level);
	}
}

TEST_F(fam, set_log_level_out_of_range)
{
	struct info in;

	ASSERT_EQ(0, set_level(&self->g, 1));
	EXPECT_EQ(-ERANGE, set_level(&self->g, VIRTZ_LOG_LEVEL_MAX + 1));
	EXPECT_NE(NULL, strstr(self->g.extack, "out of range")) {
		TH_LOG("extack: '%s'", self->g.extack);
	}
	ASSERT_EQ(0, get_info(&self->g, &in));
	EXPECT_EQ(1U, in.log_level);
}

TEST_F(fam, set_log_level_missing_attribute)
{
	struct info in;

	ASSERT_EQ(0, set_level(&self->g, 2));
	EXPECT_EQ(-EINVAL, set_level(&self->g, -1));
	EXPECT_NE(NULL, strstr(self->g.extack, "log-level")) {
		TH_LOG("extack: '%s'", self->g.extack);
	}
	ASSERT_EQ(0, get_info(&self->g, &in));
	EXPECT_EQ(2U, in.log_level);
}

TEST_F(fam, get_info_rejects_attributes)
{
	struct nl_msg *msg = vz_genl_msg(&self->g, VIRTZ_COMMON_CMD_GET_INFO, 0);

	nla_put_u32(msg, VIRTZ_COMMON_A_LOG_LEVEL, 1);
	EXPECT_EQ(-EINVAL, vz_genl_do(&self->g, msg, NULL, NULL));
}

TEST_F(fam, unknown_command)
{
	struct nl_msg *msg = vz_genl_msg(&self->g, 200, 0);

	EXPECT_EQ(-EOPNOTSUPP, vz_genl_do(&self->g, msg, NULL, NULL));
}

/*
 * As uid/gid 65534 with no capabilities: get-info is allowed, the admin
 * command is refused with EPERM, and nothing changes.
 */
TEST_F(fam, unprivileged_refused_admin)
{
	struct info in;
	int status;
	pid_t pid;

	ASSERT_EQ(0, set_level(&self->g, 1));

	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct vz_genl g;
		struct info ci;

		if (setgroups(0, NULL) || setresgid(65534, 65534, 65534) ||
		    setresuid(65534, 65534, 65534))
			_exit(10);
		if (vz_genl_open(&g, self->m->family, self->m->maxattr))
			_exit(11);
		if (get_info(&g, &ci) || ci.log_level != 1)
			_exit(12);
		if (set_level(&g, 3) != -EPERM)
			_exit(13);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));

	ASSERT_EQ(0, get_info(&self->g, &in));
	EXPECT_EQ(1U, in.log_level);
}

TEST_HARNESS_MAIN
