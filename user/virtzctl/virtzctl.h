/* SPDX-License-Identifier: GPL-2.0 */
/*
 * virtzctl: shared state and the contract every subcommand file follows.
 *
 * Each object ("fvm", "module", ...) lives in its own cmd_<object>.c and
 * exports one entry point, called with argv[0] being the verb (or argc == 0
 * when none was given).  It returns the process exit status.  Errors are
 * printed to stderr as "virtzctl: <object>: <what went wrong>".
 */
#ifndef VIRTZCTL_H
#define VIRTZCTL_H

#include <stdbool.h>
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
};

/* Exit statuses shared by all subcommands. */
enum {
	CTL_OK = 0,
	CTL_ERR = 1,		/* operation failed */
	CTL_USAGE = 2,		/* bad command line */
};

int cmd_module(struct ctl *ctl, int argc, char **argv);
int cmd_fvm(struct ctl *ctl, int argc, char **argv);

/* True when s is "-h", "--help" or "help". */
bool ctl_is_help(const char *s);

/* Prints "virtzctl: <obj>: <fmt>" to stderr; returns CTL_ERR. */
int ctl_err(const char *obj, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Prints a usage error and returns CTL_USAGE. */
int ctl_usage_err(const char *obj, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
