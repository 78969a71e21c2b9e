/* SPDX-License-Identifier: GPL-2.0 */
/*
 * virtio-blk (device id 2): Fuchsia's LaunchInfo.block_devices.  Each
 * disk has an id (served as the serial), a mode, a format and a backing;
 * see Documentation/admin-guide/guest-disks.rst.
 */
#ifndef VIRTZD_VIRTIO_BLK_H
#define VIRTZD_VIRTIO_BLK_H

#include <stddef.h>

#include "blk_req.h"
#include "vm.h"

#define VBLK_MAX_DISKS	6	/* PCI slots left after the bridge and balloon */

enum vblk_mode { VBLK_RW, VBLK_RO, VBLK_VOLATILE };
enum vblk_format { VBLK_RAW, VBLK_QCOW2 };
enum vblk_backend_kind { VBLK_AUTO, VBLK_FILE, VBLK_SESSION };
/* cache=: DEFAULT (not given) is NONE where the backend can choose. */
enum vblk_cache { VBLK_CACHE_DEFAULT, VBLK_CACHE_NONE, VBLK_CACHE_WRITEBACK };

struct vblk_spec {
	char id[VIRTIO_BLK_ID_BYTES + 1];
	const char *file;
	enum vblk_mode mode;
	enum vblk_format format;
	enum vblk_backend_kind backend;
	enum vblk_cache cache;
};

struct vblk;

/*
 * Parses "id=ID,file=PATH[,mode=rw|ro|volatile][,format=raw|qcow2]
 * [,backend=auto|file|session][,cache=none|writeback]".  @s must outlive
 * @spec (file points into it).  0, or -EINVAL with @err set.
 */
int vblk_parse_spec(char *s, struct vblk_spec *spec, char *err,
		    size_t errlen);
/* Opens the backing and puts the disk on @vm's PCI bus; NULL, @err set. */
struct vblk *vblk_create(struct vm *vm, const struct vblk_spec *spec,
			 char *err, size_t errlen);
/*
 * Stops the disk's I/O thread and closes its backing (flushing it).  The
 * device stays on the bus, answering nothing more; its memory is the
 * process's until exit, as every virtio device's is.
 */
void vblk_shutdown(struct vblk *v);

struct vz_ctl_disk_info;
/* Fills @di (the control protocol's GUEST_GET_DISK answer) for @v. */
void vblk_describe(const struct vblk *v, struct vz_ctl_disk_info *di);

const char *vblk_mode_name(enum vblk_mode m);
const char *vblk_format_name(enum vblk_format f);

#endif
