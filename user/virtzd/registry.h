/* SPDX-License-Identifier: GPL-2.0 */
/* Registration of this instance with the virtz_vsock Manager registry. */
#ifndef VIRTZD_REGISTRY_H
#define VIRTZD_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

/*
 * Opens /dev/virtz-vsock and registers it in environment @env_id under
 * @label.  On success stores the CID and returns the device fd, which
 * must stay open for as long as the instance exists; returns -errno and
 * a message in @err otherwise.
 */
int registry_register(uint32_t env_id, const char *label, uint32_t *cid,
		      char *err, size_t errlen);

#endif
