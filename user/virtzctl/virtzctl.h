/* SPDX-License-Identifier: GPL-2.0 */
/*
 * virtzctl: shared state and the contract every subcommand file follows.
 *
 * Each object ("fvm", "module", ...) lives in its own cmd_<object>.c and
 * registers one entry point with CTL_COMMAND(), called with argv[0] being
 * the verb (or argc == 0 when none was given).  It returns the process exit status.  Errors are
 * printed to stderr as "virtzctl: <object>: <what went wrong>".
 */
#ifndef VIRTZCTL_H
#define VIRTZCTL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "../lib/json.h"

struct ctl {
	bool json;	/* -j: one JSON document on stdout */
	bool verbose;	/* -v */
};

struct ctl_cmd {
	const char *name;
	int (*run)(struct ctl *ctl, int argc, char **argv);
	const char *summary;
	struct ctl_cmd *next;
};

/* Links @cmd into the object table; CTL_COMMAND() calls it at start-up. */
void ctl_register(struct ctl_cmd *cmd);

/*
 * Fuchsia's block DeviceFlags (VIRTZ_BLOCK_DEV_*) by name: a JSON array
 * @key of names, or " name name" (" none") on stdout.  cmd_block.c.
 */
void ctl_json_dev_flags(struct jw *w, const char *key, uint32_t flags);
void ctl_print_dev_flags(uint32_t flags);

/*
 * Each cmd_<object>.c names its object once, at file scope:
 *
 *	CTL_COMMAND(module, cmd_module, "kernel modules: info, set-log-level");
 *
 * and main.c never changes when an object is added.
 */
#define CTL_COMMAND(obj, fn, text)					\
	static struct ctl_cmd ctl_cmd_##obj = {				\
		.name = #obj, .run = fn, .summary = text,		\
	};								\
	__attribute__((constructor)) static void ctl_reg_##obj(void)	\
	{								\
		ctl_register(&ctl_cmd_##obj);				\
	}

/* Exit statuses shared by all subcommands. */
enum {
	CTL_OK = 0,
	CTL_ERR = 1,		/* operation failed */
	CTL_USAGE = 2,		/* bad command line */
};


/* True when s is "-h", "--help" or "help". */
bool ctl_is_help(const char *s);

/* Prints "virtzctl: <obj>: <fmt>" to stderr; returns CTL_ERR. */
int ctl_err(const char *obj, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Prints a usage error and returns CTL_USAGE. */
int ctl_usage_err(const char *obj, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
