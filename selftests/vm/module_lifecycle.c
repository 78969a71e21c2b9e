// SPDX-License-Identifier: GPL-2.0
/*
 * Each virtz module loads and unloads cleanly, many times in a row, and
 * leaves nothing behind (netlink family, /dev node); a module whose
 * device is open cannot be unloaded.
 *
 * Runs before the other VM tests load the modules for good.
 */
#include "kselftest_harness.h"
#include "genl.h"
#include "vz_test.h"

#define CYCLES 20

static bool family_present(const struct vz_mod *m)
{
	struct vz_genl g;
	int err = vz_genl_open(&g, m->family, m->maxattr);

	if (!err)
		vz_genl_close(&g);
	return err == 0;
}

FIXTURE(mod)
{
	const struct vz_mod *m;
};

FIXTURE_VARIANT(mod)
{
	int idx;
};

FIXTURE_VARIANT_ADD(mod, fvm) { .idx = 0 };
FIXTURE_VARIANT_ADD(mod, vsock) { .idx = 1 };
FIXTURE_VARIANT_ADD(mod, wl) { .idx = 2 };

FIXTURE_SETUP(mod)
{
	self->m = &vz_mods[variant->idx];
	/* Start from unloaded; the runner loads modules after this test. */
	if (vz_mod_loaded(self->m->name))
		ASSERT_EQ(0, vz_mod_unload(self->m->name));
	ASSERT_FALSE(vz_mod_loaded(self->m->name));
}

FIXTURE_TEARDOWN(mod)
{
	if (vz_mod_loaded(self->m->name))
		vz_mod_unload(self->m->name);
}

/* 20 cycles under TCG on a loaded host can exceed the default 30 s. */
TEST_F_TIMEOUT(mod, load_unload_20_times, 300)
{
	struct stat st;
	int i;

	for (i = 0; i < CYCLES; i++) {
		ASSERT_EQ(0, vz_mod_load(self->m->name)) {
			TH_LOG("cycle %d: load failed", i);
		}
		ASSERT_TRUE(vz_mod_loaded(self->m->name));
		ASSERT_TRUE(family_present(self->m));
		ASSERT_EQ(0, stat(self->m->dev, &st)) {
			TH_LOG("cycle %d: %s missing", i, self->m->dev);
		}
		ASSERT_TRUE(S_ISCHR(st.st_mode));

		ASSERT_EQ(0, vz_mod_unload(self->m->name)) {
			TH_LOG("cycle %d: unload failed", i);
		}
		ASSERT_FALSE(vz_mod_loaded(self->m->name));
		ASSERT_FALSE(family_present(self->m));
		ASSERT_NE(0, stat(self->m->dev, &st));
	}
}

TEST_F(mod, load_twice_is_eexist)
{
	ASSERT_EQ(0, vz_mod_load(self->m->name));
	ASSERT_EQ(-EEXIST, vz_mod_load(self->m->name));
	ASSERT_EQ(0, vz_mod_unload(self->m->name));
}

TEST_F(mod, busy_while_device_open)
{
	int fd;

	ASSERT_EQ(0, vz_mod_load(self->m->name));
	fd = open(self->m->dev, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, fd);

	/* An open handle pins the module: unload is refused, not queued. */
	ASSERT_EQ(-EWOULDBLOCK, vz_mod_unload(self->m->name));
	ASSERT_TRUE(vz_mod_loaded(self->m->name));
	ASSERT_TRUE(family_present(self->m));

	close(fd);
	ASSERT_EQ(0, vz_mod_unload(self->m->name));
	ASSERT_FALSE(vz_mod_loaded(self->m->name));
}

TEST_HARNESS_MAIN
