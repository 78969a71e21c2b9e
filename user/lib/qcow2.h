/* SPDX-License-Identifier: GPL-2.0 */
/*
 * qcow2: a synchronous QCOW2 (versions 2 and 3) image engine over a file
 * descriptor, for virtzd's virtio-blk backends and for tools.
 *
 * Every function returns 0 on success and a negative errno on failure,
 * and prints nothing.  Open failures also fill the caller's error buffer
 * with one line naming the reason, e.g.
 *   "qcow2: encrypted images are not supported (crypt_method 1)".
 *
 * Thread safety: one mutex per open image.  Every call on a struct qcow2
 * takes it for the whole call, so several I/O threads may share one image
 * and requests are simply serialised.  The backing chain belongs to the
 * top image and is only touched under the top image's mutex.
 *
 * See Documentation/admin-guide/qcow2.rst.
 */
#ifndef VIRTZ_QCOW2_H
#define VIRTZ_QCOW2_H

#include <stddef.h>
#include <stdint.h>

struct qcow2;

/* Open flags. */
#define QCOW2_O_RDWR		(1u << 0)	/* else read-only */
/*
 * Do not open the backing file: unallocated clusters read as zeros.
 * For tools and fuzzing; with QCOW2_O_RDWR, copy-on-write then copies
 * zeros, so never combine them on a real image.
 */
#define QCOW2_O_NO_BACKING	(1u << 1)
/*
 * Take a shared flock(2) on every backing file, without waiting: one that
 * somebody holds exclusively (a READ_WRITE guest disk) fails the open
 * with -EBUSY and a message naming it.  The locks go with the image.
 */
#define QCOW2_O_LOCK_BACKING	(1u << 2)

/* Implementation limits (see qcow2.rst). */
#define QCOW2_MAX_L1_BYTES	(32u << 20)	/* 4 Mi L1 entries */
#define QCOW2_MAX_REFTABLE_BYTES (8u << 20)
#define QCOW2_MAX_CHAIN		16		/* backing files below the top */
#define QCOW2_MAX_BACKING_NAME	1023

struct qcow2_info {
	uint32_t version;		/* 2 or 3 */
	uint32_t cluster_size;
	uint64_t virtual_size;
	uint32_t refcount_bits;
	uint32_t nb_snapshots;
	uint64_t incompatible_features;
	uint64_t compatible_features;
	uint64_t autoclear_features;	/* as found at open */
	int writable;
	int dirty;			/* lazy refcounts left the image dirty */
	int backing_depth;		/* images below this one that are open */
	const char *compression;	/* "deflate" or "zstd" */
	char backing_file[QCOW2_MAX_BACKING_NAME + 1];	/* as stored; "" */
	char backing_format[32];	/* from the header extension; "" */
};

/* 1 if @fd starts with the qcow2 magic, 0 if not, -errno on I/O error. */
int qcow2_probe(int fd);

/*
 * Opens the image at @path (read-only unless QCOW2_O_RDWR).  A relative
 * backing file name is resolved against @path's directory.
 */
int qcow2_open(const char *path, unsigned int flags, struct qcow2 **out,
	       char *err, size_t errlen);

/*
 * The same over an open @fd, which stays the caller's (it must outlive
 * the image and be writable for QCOW2_O_RDWR).  @base_dir resolves a
 * relative backing file name ("." when NULL).
 */
int qcow2_open_fd(int fd, const char *base_dir, unsigned int flags,
		  struct qcow2 **out, char *err, size_t errlen);

/*
 * Closes the image and its backing chain.  A writable image is flushed
 * first; the flush's result is returned.
 */
int qcow2_close(struct qcow2 *q);

uint64_t qcow2_virtual_size(const struct qcow2 *q);
uint32_t qcow2_cluster_size(const struct qcow2 *q);
void qcow2_get_info(struct qcow2 *q, struct qcow2_info *info);

/*
 * Guest I/O at any byte offset and length within the virtual size
 * (-EINVAL beyond it).  All of @len is transferred or an error returned.
 * -EIO means the image is corrupt (or the host I/O failed); after a
 * metadata error the image refuses further writes with -EIO.
 */
int qcow2_pread(struct qcow2 *q, void *buf, size_t len, uint64_t off);
int qcow2_pwrite(struct qcow2 *q, const void *buf, size_t len, uint64_t off);
/*
 * Makes every completed write durable: writes the cached L2 changes back
 * and fdatasyncs.  Until then another open of the file may not see them.
 */
int qcow2_flush(struct qcow2 *q);

/*
 * Version 3 only (-EOPNOTSUPP on version 2 or read-only images).
 * write_zeroes: the range reads as zeros afterwards; whole clusters become
 * zero clusters (their host clusters freed), partial ones are written.
 * discard: whole clusters become zero clusters and their host clusters are
 * freed and punched; partial clusters are left alone.
 */
int qcow2_write_zeroes(struct qcow2 *q, uint64_t off, uint64_t len);
int qcow2_discard(struct qcow2 *q, uint64_t off, uint64_t len);

#endif /* VIRTZ_QCOW2_H */
