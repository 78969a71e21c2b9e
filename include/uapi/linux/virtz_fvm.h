/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * virtz_fvm: Fuchsia FVM volume manager for Linux.
 *
 * Generic netlink family "virtz_fvm"; described for ynl by
 * Documentation/netlink/specs/virtz_fvm.yaml.
 */
#ifndef _UAPI_LINUX_VIRTZ_FVM_H
#define _UAPI_LINUX_VIRTZ_FVM_H

#include <linux/virtz_common.h>
#include <linux/virtz_block.h>	/* VIRTZ_BLOCK_DEV_*: A_BLOCK_FLAGS */

#define VIRTZ_FVM_GENL_NAME	"virtz_fvm"
#define VIRTZ_FVM_GENL_VERSION	1

/* Character device for block FIFO sessions. */
#define VIRTZ_BLOCK_DEV_NAME	"virtz-block"

/* VIRTZ_COMMON_A_FEATURES bits. */
#define VIRTZ_FVM_F_FORMAT_V1		(1ULL << 0)	/* FVM v1 metadata code */
#define VIRTZ_FVM_F_BLOCK_SESSIONS	(1ULL << 1)	/* /dev/virtz-block sessions */
#define VIRTZ_FVM_F_DM_TARGETS		(1ULL << 2)	/* dm fvm-pool and fvm */
#define VIRTZ_FVM_F_ALL			(VIRTZ_FVM_F_FORMAT_V1 |		\
					 VIRTZ_FVM_F_BLOCK_SESSIONS |	\
					 VIRTZ_FVM_F_DM_TARGETS)

enum {
	VIRTZ_FVM_CMD_GET_INFO = VIRTZ_COMMON_CMD_GET_INFO,
	VIRTZ_FVM_CMD_SET_LOG_LEVEL = VIRTZ_COMMON_CMD_SET_LOG_LEVEL,

	/*
	 * Volume manager of one fvm-pool (A_POOL: its dm name); a dump
	 * without A_POOL lists every pool.  Fuchsia's VolumeManager.GetInfo.
	 */
	VIRTZ_FVM_CMD_POOL_GET = VIRTZ_COMMON_CMD_FIRST_FAMILY,
	/*
	 * One partition (A_POOL + A_PART), or a dump of a pool's partitions:
	 * GetVolumeInfo, GetName, GetTypeGuid, GetInstanceGuid,
	 * GetPartitionLimit, and the volume's Block.GetInfo (A_BLOCK_*).
	 */
	VIRTZ_FVM_CMD_PART_GET,
	/* Admin: AllocatePartition.  Replies A_INDEX and A_INSTANCE_GUID. */
	VIRTZ_FVM_CMD_ALLOCATE,
	/* Admin: Extend / Shrink vslices [A_OFFSET, A_OFFSET + A_SLICES). */
	VIRTZ_FVM_CMD_EXTEND,
	VIRTZ_FVM_CMD_SHRINK,
	/* Admin: Destroy. */
	VIRTZ_FVM_CMD_DESTROY,
	/* Admin: Activate(A_INSTANCE_GUID old, A_NEW_GUID new). */
	VIRTZ_FVM_CMD_ACTIVATE,
	/* Admin: SetPartitionName (A_NAME). */
	VIRTZ_FVM_CMD_SET_NAME,
	/* Admin: SetPartitionLimit (A_LIMIT bytes, 0 = none; memory only). */
	VIRTZ_FVM_CMD_SET_LIMIT,
	/*
	 * QuerySlices: up to 16 A_START_SLICE; replies one A_RANGE per start
	 * (allocated or not, and how many vslices from there are alike).
	 */
	VIRTZ_FVM_CMD_QUERY_SLICES,

	__VIRTZ_FVM_CMD_MAX,
	VIRTZ_FVM_CMD_MAX = __VIRTZ_FVM_CMD_MAX - 1,
};

enum {
	VIRTZ_FVM_A_PAD = VIRTZ_COMMON_A_PAD,
	VIRTZ_FVM_A_VERSION = VIRTZ_COMMON_A_VERSION,
	VIRTZ_FVM_A_API_VERSION = VIRTZ_COMMON_A_API_VERSION,
	VIRTZ_FVM_A_FEATURES = VIRTZ_COMMON_A_FEATURES,
	VIRTZ_FVM_A_LOG_LEVEL = VIRTZ_COMMON_A_LOG_LEVEL,
	VIRTZ_FVM_A_HANDLES = VIRTZ_COMMON_A_HANDLES,

	VIRTZ_FVM_A_POOL = VIRTZ_COMMON_A_FIRST_FAMILY,	/* string: dm name */
	VIRTZ_FVM_A_PART,		/* string: partition name or instance GUID */
	VIRTZ_FVM_A_INDEX,		/* u32: partition table entry */
	VIRTZ_FVM_A_NAME,		/* string, <= 24 bytes */
	VIRTZ_FVM_A_TYPE_GUID,		/* binary, 16 bytes (on-disk order) */
	VIRTZ_FVM_A_INSTANCE_GUID,	/* binary, 16 bytes */
	VIRTZ_FVM_A_NEW_GUID,		/* binary, 16 bytes: Activate's new */
	VIRTZ_FVM_A_FLAGS,		/* u32: VIRTZ_FVM_PART_F_* */
	VIRTZ_FVM_A_SLICES,		/* u64: slice count */
	VIRTZ_FVM_A_OFFSET,		/* u64: first vslice */
	VIRTZ_FVM_A_LIMIT,		/* u64: partition limit in bytes */
	VIRTZ_FVM_A_SLICE_SIZE,		/* u64: bytes */
	VIRTZ_FVM_A_SLICE_COUNT,	/* u64: physical slices */
	VIRTZ_FVM_A_ASSIGNED_SLICES,	/* u64: of those, allocated */
	VIRTZ_FVM_A_MAX_SLICES,		/* u64: slice_count the table allows */
	VIRTZ_FVM_A_MAX_VSLICE,		/* u64: vslices per partition */
	VIRTZ_FVM_A_GENERATION,		/* u64: metadata generation */
	VIRTZ_FVM_A_PARTITIONS,		/* u32: allocated partitions */
	VIRTZ_FVM_A_MAPPED,		/* u32: fvm targets using the partition */
	VIRTZ_FVM_A_START_SLICE,	/* u64, repeated: QuerySlices input */
	VIRTZ_FVM_A_RANGE,		/* nest VIRTZ_FVM_RANGE_A_*, repeated */
	/* Block.GetInfo of a partition (BlockInfo), in PART_GET replies. */
	VIRTZ_FVM_A_BLOCK_COUNT,	/* u64: blocks in the partition's slices */
	VIRTZ_FVM_A_BLOCK_SIZE,		/* u32: bytes */
	VIRTZ_FVM_A_MAX_TRANSFER,	/* u32: bytes, or ..._UNBOUNDED */
	VIRTZ_FVM_A_BLOCK_FLAGS,	/* u32: VIRTZ_BLOCK_DEV_* (DeviceFlag) */

	__VIRTZ_FVM_A_MAX,
	VIRTZ_FVM_A_MAX = __VIRTZ_FVM_A_MAX - 1,
};

/* QuerySlices reply: one run of vslices. */
enum {
	VIRTZ_FVM_RANGE_A_UNSPEC,
	VIRTZ_FVM_RANGE_A_PAD,
	VIRTZ_FVM_RANGE_A_ALLOCATED,	/* u8: 1 mapped, 0 not */
	VIRTZ_FVM_RANGE_A_COUNT,	/* u64: vslices in the run */

	__VIRTZ_FVM_RANGE_A_MAX,
	VIRTZ_FVM_RANGE_A_MAX = __VIRTZ_FVM_RANGE_A_MAX - 1,
};

#define VIRTZ_FVM_PART_F_INACTIVE	0x1	/* A_FLAGS: Fuchsia's INACTIVE */
#define VIRTZ_FVM_MAX_QUERY		16	/* A_START_SLICE per request */

#endif /* _UAPI_LINUX_VIRTZ_FVM_H */
