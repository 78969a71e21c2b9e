/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Minimal streaming JSON writer for virtzctl's -j output.
 *
 * Values are written as they are produced; the writer only remembers
 * whether a comma is due at each nesting level.  Inside an object every
 * value needs a key; inside an array keys must be NULL.
 */
#ifndef VIRTZ_JSON_H
#define VIRTZ_JSON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define JW_MAX_DEPTH 32

struct jw {
	FILE *out;
	int depth;
	bool need_comma[JW_MAX_DEPTH];
};

void jw_init(struct jw *w, FILE *out);
void jw_obj_open(struct jw *w, const char *key);
void jw_obj_close(struct jw *w);
void jw_arr_open(struct jw *w, const char *key);
void jw_arr_close(struct jw *w);
void jw_str(struct jw *w, const char *key, const char *val);
/* Writes at most len bytes of val, stopping early at a NUL. */
void jw_strn(struct jw *w, const char *key, const char *val, size_t len);
void jw_u64(struct jw *w, const char *key, uint64_t val);
void jw_s64(struct jw *w, const char *key, int64_t val);
void jw_bool(struct jw *w, const char *key, bool val);
void jw_null(struct jw *w, const char *key);
/* Ends the document with a newline; depth must be back to zero. */
void jw_end(struct jw *w);

#endif
