/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Client side of dm-fvm, shared by `virtzctl pool` and `virtzctl volume`:
 * the "virtz_fvm" genetlink queries, and the few libdevmapper calls that
 * create, reload, rename and remove /dev/mapper devices.
 *
 * Errors are negative errnos; a kernel reason is left in g->extack.
 */
#ifndef VIRTZ_VZDM_H
#define VIRTZ_VZDM_H

#include <stdbool.h>
#include <stdint.h>

#include <stddef.h>

#include "genl.h"
#include "json.h"

struct vzdm_pool {
	char name[128];
	uint64_t slice_size;
	uint64_t slice_count;
	uint64_t assigned;
	uint64_t max_slices;
	uint64_t max_vslice;
	uint64_t generation;
	uint32_t partitions;
};

struct vzdm_part {
	struct vzdm_pool pool;
	uint32_t index;
	char name[25];
	uint8_t type[16];
	uint8_t guid[16];
	uint32_t flags;
	uint64_t slices;
	uint64_t limit;
	uint32_t mapped;
	/* Block.GetInfo (BlockInfo) */
	uint64_t block_count;
	uint32_t block_size;
	uint32_t max_transfer;
	uint32_t block_flags;	/* VIRTZ_BLOCK_DEV_* */
};

int vzdm_open(struct vz_genl *g);

int vzdm_pool_get(struct vz_genl *g, const char *pool, struct vzdm_pool *p);
/* Every pool, or just @pool; fn is called once per pool. */
int vzdm_pool_list(struct vz_genl *g,
		   int (*fn)(const struct vzdm_pool *p, void *arg), void *arg);

/* @part: name or instance GUID text. */
int vzdm_part_get(struct vz_genl *g, const char *pool, const char *part,
		  struct vzdm_part *p);
/* Every partition of @pool (NULL: of every pool). */
int vzdm_part_list(struct vz_genl *g, const char *pool,
		   int (*fn)(const struct vzdm_part *p, void *arg), void *arg);

int vzdm_query(struct vz_genl *g, const char *pool, const char *part,
	       uint64_t start, bool *allocated, uint64_t *count);
/* One past the last mapped vslice (0 when none is). */
int vzdm_part_end(struct vz_genl *g, const char *pool, const char *part,
		  uint64_t *end);

/* Fills the request attributes shared by most commands. */
int vzdm_put_target(struct nl_msg *msg, const char *pool, const char *part);

/* Mallocs arrays of every pool / every partition (of @pool, or all). */
int vzdm_pool_collect(struct vz_genl *g, struct vzdm_pool **v, size_t *n);
int vzdm_part_collect(struct vz_genl *g, const char *pool,
		      struct vzdm_part **v, size_t *n);

/* ---- For virtzctl pool/volume ---------------------------------------------- */

/* "virtzctl: OBJ: WHAT: <extack> (<strerror>)"; returns 1. */
int vzdm_report(const char *obj, const char *what, const struct vz_genl *g,
		int err);
/* /dev/mapper name of a volume: POOL-NAME, or POOL-GUID when unnamed. */
void vzdm_volume_devname(const char *pool, const struct vzdm_part *p,
			 char *buf, size_t len);
/*
 * Creates (or reloads, like lvextend) the volume's device, sized to its
 * last mapped vslice.  Prints why on failure; returns 0 or 1.
 */
int vzdm_volume_map(struct vz_genl *g, const char *pool,
		    const struct vzdm_part *p, bool reload, const char *obj);
void vzdm_json_part(struct jw *w, const struct vzdm_part *p);
void vzdm_print_part(const struct vzdm_part *p, const char *indent);

/* ---- libdevmapper -------------------------------------------------------- */

/* One-target table: 0 @sectors @target @params. */
int vzdm_dm_create(const char *name, uint64_t sectors, const char *target,
		   const char *params);
/* Loads a new table and resumes (like lvextend). */
int vzdm_dm_reload(const char *name, uint64_t sectors, const char *target,
		   const char *params);
int vzdm_dm_remove(const char *name);
int vzdm_dm_rename(const char *name, const char *newname);
bool vzdm_dm_exists(const char *name);
/* Open count of a dm device, or -errno. */
int vzdm_dm_open_count(const char *name);

#endif
