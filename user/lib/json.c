// SPDX-License-Identifier: GPL-2.0
#include <string.h>

#include "json.h"

void jw_init(struct jw *w, FILE *out)
{
	memset(w, 0, sizeof(*w));
	w->out = out;
}

static void put_escaped(FILE *out, const char *s, size_t len)
{
	size_t i;

	fputc('"', out);
	for (i = 0; i < len && s[i]; i++) {
		unsigned char c = (unsigned char)s[i];

		switch (c) {
		case '"':
			fputs("\\\"", out);
			break;
		case '\\':
			fputs("\\\\", out);
			break;
		case '\n':
			fputs("\\n", out);
			break;
		case '\t':
			fputs("\\t", out);
			break;
		case '\r':
			fputs("\\r", out);
			break;
		default:
			if (c < 0x20 || c == 0x7f)
				fprintf(out, "\\u%04x", c);
			else
				fputc(c, out);
		}
	}
	fputc('"', out);
}

/* Separator and key for the next value at the current level. */
static void begin_value(struct jw *w, const char *key)
{
	if (w->need_comma[w->depth])
		fputc(',', w->out);
	w->need_comma[w->depth] = true;
	if (key) {
		put_escaped(w->out, key, strlen(key));
		fputc(':', w->out);
	}
}

static void open_level(struct jw *w, const char *key, char c)
{
	begin_value(w, key);
	fputc(c, w->out);
	if (w->depth < JW_MAX_DEPTH - 1)
		w->depth++;
	w->need_comma[w->depth] = false;
}

static void close_level(struct jw *w, char c)
{
	if (w->depth > 0)
		w->depth--;
	fputc(c, w->out);
}

void jw_obj_open(struct jw *w, const char *key)
{
	open_level(w, key, '{');
}

void jw_obj_close(struct jw *w)
{
	close_level(w, '}');
}

void jw_arr_open(struct jw *w, const char *key)
{
	open_level(w, key, '[');
}

void jw_arr_close(struct jw *w)
{
	close_level(w, ']');
}

void jw_strn(struct jw *w, const char *key, const char *val, size_t len)
{
	begin_value(w, key);
	put_escaped(w->out, val, len);
}

void jw_str(struct jw *w, const char *key, const char *val)
{
	jw_strn(w, key, val, strlen(val));
}

void jw_u64(struct jw *w, const char *key, uint64_t val)
{
	begin_value(w, key);
	fprintf(w->out, "%llu", (unsigned long long)val);
}

void jw_s64(struct jw *w, const char *key, int64_t val)
{
	begin_value(w, key);
	fprintf(w->out, "%lld", (long long)val);
}

void jw_bool(struct jw *w, const char *key, bool val)
{
	begin_value(w, key);
	fputs(val ? "true" : "false", w->out);
}

void jw_null(struct jw *w, const char *key)
{
	begin_value(w, key);
	fputs("null", w->out);
}

void jw_end(struct jw *w)
{
	fputc('\n', w->out);
	fflush(w->out);
}
