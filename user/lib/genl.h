/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Generic netlink client helpers over libnl, shared by virtzctl and virtzd.
 *
 * One request at a time: build with vz_genl_msg(), send with
 * vz_genl_do() or vz_genl_dump().  Errors come back as negative errnos,
 * and any extack message the kernel attached is left in g->extack.
 */
#ifndef VIRTZ_GENL_H
#define VIRTZ_GENL_H

#include <stdbool.h>
#include <stdint.h>
#include <netlink/attr.h>
#include <netlink/msg.h>

struct vz_genl {
	struct nl_sock *sk;
	int family_id;
	const char *family;
	int maxattr;
	bool no_family;		/* open failed: family not registered */
	char extack[256];	/* kernel's error text for the last request */
};

/*
 * Connects to @family.  Returns 0, or -ENOENT when the family is not
 * registered (its module is not loaded), or another -errno.
 */
int vz_genl_open(struct vz_genl *g, const char *family, int maxattr);
void vz_genl_close(struct vz_genl *g);

/* A request message for @cmd, or NULL when out of memory. */
struct nl_msg *vz_genl_msg(struct vz_genl *g, uint8_t cmd, int flags);

/*
 * Called once per reply message with its attributes parsed into
 * tb[0..maxattr].  Returning non-zero stops the walk and becomes the
 * result of vz_genl_do()/vz_genl_dump().
 */
typedef int (*vz_genl_reply_fn)(struct nlattr **tb, void *arg);

/*
 * For replies that repeat an attribute (which tb[] cannot show): called
 * once per reply message with its whole attribute stream.
 */
typedef int (*vz_genl_raw_fn)(struct nlattr *head, int len, void *arg);

/* Sends @msg (consumed), waits for the reply and the ack. */
int vz_genl_do(struct vz_genl *g, struct nl_msg *msg, vz_genl_reply_fn fn,
	       void *arg);
/* Sends @msg (consumed) as a dump request and walks every reply. */
int vz_genl_dump(struct vz_genl *g, struct nl_msg *msg, vz_genl_reply_fn fn,
		 void *arg);
/* vz_genl_dump() with a raw callback. */
int vz_genl_dump_raw(struct vz_genl *g, struct nl_msg *msg, vz_genl_raw_fn fn,
		     void *arg);

#endif
