/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The error convention of virtzd's setup code: a function that fails
 * writes a message into the caller's err[errlen] and returns -errno.
 */
#ifndef VZ_ERR_H
#define VZ_ERR_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

/* Formats the message into @err (@len bytes) and returns @ret. */
static inline int vz_fail(char *err, size_t len, int ret, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static inline int vz_fail(char *err, size_t len, int ret, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
	return ret;
}

#endif
