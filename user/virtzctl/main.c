// SPDX-License-Identifier: GPL-2.0
/*
 * virtzctl: the one command-line tool for virtz.
 *
 *   virtzctl [OPTIONS] OBJECT VERB [ARGS...]
 *
 * Each OBJECT is one cmd_<object>.c; this file parses the global options
 * and dispatches.
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "virtz_version.h"
#include "virtzctl.h"

/* Objects, kept sorted by name; filled by CTL_COMMAND() constructors. */
static struct ctl_cmd *commands;

void ctl_register(struct ctl_cmd *cmd)
{
	struct ctl_cmd **pos = &commands;

	while (*pos && strcmp((*pos)->name, cmd->name) < 0)
		pos = &(*pos)->next;
	cmd->next = *pos;
	*pos = cmd;
}

bool ctl_is_help(const char *s)
{
	return !strcmp(s, "-h") || !strcmp(s, "--help") || !strcmp(s, "help");
}

static int vreport(const char *obj, const char *fmt, va_list ap)
{
	fprintf(stderr, "virtzctl: %s: ", obj);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	return 0;
}

int ctl_err(const char *obj, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(obj, fmt, ap);
	va_end(ap);
	return CTL_ERR;
}

int ctl_usage_err(const char *obj, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(obj, fmt, ap);
	va_end(ap);
	fprintf(stderr, "Try 'virtzctl %s --help'.\n", obj);
	return CTL_USAGE;
}

static void usage(FILE *out)
{
	const struct ctl_cmd *cmd;

	fprintf(out,
		"Usage: virtzctl [OPTIONS] OBJECT VERB [ARGS...]\n"
		"\n"
		"Options:\n"
		"  -j, --json      print one JSON document on stdout\n"
		"  -v, --verbose   say more\n"
		"  -V, --version   print the version and exit\n"
		"  -h, --help      this text; 'virtzctl OBJECT --help' for an object\n"
		"\n"
		"Objects:\n");
	for (cmd = commands; cmd; cmd = cmd->next)
		fprintf(out, "  %-8s %s\n", cmd->name, cmd->summary);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const struct ctl_cmd *cmd;
	struct ctl ctl = { 0 };
	int c;

	/* '+': options end at the object, which parses its own. */
	while ((c = getopt_long(argc, argv, "+jvVh", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			ctl.json = true;
			break;
		case 'v':
			ctl.verbose = true;
			break;
		case 'V':
			printf("virtzctl %s\n", VIRTZ_VERSION);
			return CTL_OK;
		case 'h':
			usage(stdout);
			return CTL_OK;
		default:
			usage(stderr);
			return CTL_USAGE;
		}
	}

	if (optind >= argc) {
		usage(stderr);
		return CTL_USAGE;
	}

	for (cmd = commands; cmd; cmd = cmd->next)
		if (!strcmp(argv[optind], cmd->name))
			return cmd->run(&ctl, argc - optind - 1,
					argv + optind + 1);

	fprintf(stderr, "virtzctl: unknown object '%s'\n", argv[optind]);
	usage(stderr);
	return CTL_USAGE;
}
