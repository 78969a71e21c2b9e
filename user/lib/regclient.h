/* SPDX-License-Identifier: GPL-2.0 */
/* Client of the virtz_vsock registry ("virtz" family), for virtzctl. */
#ifndef VIRTZ_REGCLIENT_H
#define VIRTZ_REGCLIENT_H

#include <stdint.h>
#include <linux/virtz.h>

#include "genl.h"

struct reg_inst {
	uint32_t cid, pid;
	char label[VIRTZ_LABEL_MAX];
};

struct reg_env {
	uint32_t id;
	char label[VIRTZ_LABEL_MAX];
	struct reg_inst *inst;
	int n_inst;
};

/* Opens the family; prints "virtzctl: OBJ: ..." and fails if absent. */
int reg_open(struct vz_genl *g, const char *obj);
/* Prints the kernel's extack text when there is one. */
void reg_report(struct vz_genl *g, const char *obj, const char *verb, int err);
int reg_env_create(struct vz_genl *g, const char *label, uint32_t *id);
int reg_env_delete(struct vz_genl *g, uint32_t id);
/* Returns the number of environments in *envs, or -errno. */
int reg_env_list(struct vz_genl *g, struct reg_env **envs);
void reg_env_free(struct reg_env *envs, int n);

#endif
