// SPDX-License-Identifier: GPL-2.0
/*
 * virtz_vsock registry: environments with labels and ids, and the guest
 * instances in them with their CIDs.
 *
 * An instance is registered by its VMM through INSTANCE_NEW naming the
 * VMM's own open /dev/virtz-vsock descriptor; the entry is tied to that
 * struct file and removed in its release(), so it lives exactly as long
 * as the VMM holds the file, and a VMM killed by SIGKILL leaves nothing
 * behind.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/file.h>
#include <linux/idr.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/virtz.h>

#include "registry.h"

struct virtz_env {
	u32 id;
	char label[VIRTZ_LABEL_MAX];
	struct list_head instances;	/* of virtz_instance.node */
	unsigned int n_instances;
};

struct virtz_instance {
	u32 cid;
	pid_t pid;
	char label[VIRTZ_LABEL_MAX];
	struct virtz_env *env;
	struct list_head node;		/* in env->instances */
};

/*
 * registry_lock protects everything in this file: both IDRs, every
 * environment and its instance list, and virtz_vsock_file.inst.  It is a
 * mutex because the netlink handlers and release() run in process
 * context and allocate under it.
 */
static DEFINE_MUTEX(registry_lock);
static DEFINE_IDR(env_idr);	/* env id -> virtz_env, ids from 1 */
static DEFINE_IDR(cid_idr);	/* CID -> virtz_instance, CIDs from 3 */

int virtz_registry_env_new(struct sk_buff *skb, struct genl_info *info)
{
	struct virtz_env *env;
	struct sk_buff *msg;
	void *hdr;
	int id, err;

	if (GENL_REQ_ATTR_CHECK(info, VIRTZ_A_ENV_LABEL)) {
		GENL_SET_ERR_MSG(info, "env-label is required");
		return -EINVAL;
	}

	env = kzalloc(sizeof(*env), GFP_KERNEL);
	if (!env)
		return -ENOMEM;
	nla_strscpy(env->label, info->attrs[VIRTZ_A_ENV_LABEL],
		    sizeof(env->label));
	INIT_LIST_HEAD(&env->instances);

	msg = genlmsg_new(NLMSG_GOODSIZE, GFP_KERNEL);
	if (!msg) {
		err = -ENOMEM;
		goto err_free_env;
	}
	hdr = genlmsg_put_reply(msg, info, &virtz_family, 0, VIRTZ_CMD_ENV_NEW);
	if (!hdr) {
		err = -EMSGSIZE;
		goto err_free_msg;
	}

	mutex_lock(&registry_lock);
	id = idr_alloc(&env_idr, env, 1, INT_MAX, GFP_KERNEL);
	if (id < 0) {
		mutex_unlock(&registry_lock);
		GENL_SET_ERR_MSG(info, "no environment id left");
		err = id;
		goto err_free_msg;
	}
	env->id = id;
	mutex_unlock(&registry_lock);

	if (nla_put_u32(msg, VIRTZ_A_ENV_ID, id) ||
	    nla_put_string(msg, VIRTZ_A_ENV_LABEL, env->label)) {
		err = -EMSGSIZE;
		goto err_remove;
	}
	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);

err_remove:
	mutex_lock(&registry_lock);
	idr_remove(&env_idr, id);
	mutex_unlock(&registry_lock);
err_free_msg:
	nlmsg_free(msg);
err_free_env:
	kfree(env);
	return err;
}

int virtz_registry_env_del(struct sk_buff *skb, struct genl_info *info)
{
	struct virtz_env *env;
	u32 id;

	if (GENL_REQ_ATTR_CHECK(info, VIRTZ_A_ENV_ID)) {
		GENL_SET_ERR_MSG(info, "env-id is required");
		return -EINVAL;
	}
	id = nla_get_u32(info->attrs[VIRTZ_A_ENV_ID]);

	mutex_lock(&registry_lock);
	env = id <= INT_MAX ? idr_find(&env_idr, id) : NULL;
	if (!env) {
		mutex_unlock(&registry_lock);
		NL_SET_ERR_MSG_ATTR_FMT(info->extack,
					info->attrs[VIRTZ_A_ENV_ID],
					"no environment with id %u", id);
		return -ENOENT;
	}
	if (env->n_instances) {
		unsigned int n = env->n_instances;

		mutex_unlock(&registry_lock);
		NL_SET_ERR_MSG_FMT(info->extack,
				   "environment %u still has %u instance(s)",
				   id, n);
		return -EBUSY;
	}
	idr_remove(&env_idr, id);
	mutex_unlock(&registry_lock);
	kfree(env);
	return 0;
}

static int fill_env(struct sk_buff *skb, struct netlink_callback *cb,
		    struct virtz_env *env)
{
	struct virtz_instance *inst;
	struct nlattr *nest;
	void *hdr;

	hdr = genlmsg_put(skb, NETLINK_CB(cb->skb).portid, cb->nlh->nlmsg_seq,
			  &virtz_family, NLM_F_MULTI, VIRTZ_CMD_ENV_GET);
	if (!hdr)
		return -EMSGSIZE;
	if (nla_put_u32(skb, VIRTZ_A_ENV_ID, env->id) ||
	    nla_put_string(skb, VIRTZ_A_ENV_LABEL, env->label))
		goto cancel;
	list_for_each_entry(inst, &env->instances, node) {
		nest = nla_nest_start(skb, VIRTZ_A_INSTANCE);
		if (!nest)
			goto cancel;
		if (nla_put_u32(skb, VIRTZ_INSTANCE_A_CID, inst->cid) ||
		    nla_put_string(skb, VIRTZ_INSTANCE_A_LABEL, inst->label) ||
		    nla_put_u32(skb, VIRTZ_INSTANCE_A_PID, inst->pid)) {
			nla_nest_cancel(skb, nest);
			goto cancel;
		}
		nla_nest_end(skb, nest);
	}
	genlmsg_end(skb, hdr);
	return 0;

cancel:
	genlmsg_cancel(skb, hdr);
	return -EMSGSIZE;
}

/* cb->args[0]: the id of the next environment to report. */
int virtz_registry_env_dump(struct sk_buff *skb, struct netlink_callback *cb)
{
	struct virtz_env *env;
	int id = cb->args[0] ? cb->args[0] : 1;
	int err = 0;

	mutex_lock(&registry_lock);
	for (env = idr_get_next(&env_idr, &id); env;
	     id++, env = idr_get_next(&env_idr, &id)) {
		err = fill_env(skb, cb, env);
		if (err)
			break;
	}
	mutex_unlock(&registry_lock);
	cb->args[0] = id;

	/* An environment too big for an empty message can never be sent. */
	if (err && !skb->len)
		return err;
	return skb->len;
}

int virtz_registry_instance_new(struct sk_buff *skb, struct genl_info *info)
{
	struct virtz_instance *inst;
	struct virtz_vsock_file *vf;
	struct virtz_env *env;
	struct sk_buff *msg;
	struct file *file;
	u32 env_id, fd;
	void *hdr;
	int cid, err;

	if (GENL_REQ_ATTR_CHECK(info, VIRTZ_A_ENV_ID) ||
	    GENL_REQ_ATTR_CHECK(info, VIRTZ_A_DEV_FD)) {
		GENL_SET_ERR_MSG(info, "env-id and dev-fd are required");
		return -EINVAL;
	}
	env_id = nla_get_u32(info->attrs[VIRTZ_A_ENV_ID]);
	fd = nla_get_u32(info->attrs[VIRTZ_A_DEV_FD]);

	inst = kzalloc(sizeof(*inst), GFP_KERNEL);
	if (!inst)
		return -ENOMEM;
	if (info->attrs[VIRTZ_A_INSTANCE_LABEL])
		nla_strscpy(inst->label, info->attrs[VIRTZ_A_INSTANCE_LABEL],
			    sizeof(inst->label));
	inst->pid = task_tgid_nr(current);

	msg = genlmsg_new(NLMSG_GOODSIZE, GFP_KERNEL);
	if (!msg) {
		err = -ENOMEM;
		goto err_free_inst;
	}
	hdr = genlmsg_put_reply(msg, info, &virtz_family, 0,
				VIRTZ_CMD_INSTANCE_NEW);
	if (!hdr) {
		err = -EMSGSIZE;
		goto err_free_msg;
	}

	/* The sender's own descriptor table: doit runs in its context. */
	file = fget(fd);
	if (!file) {
		NL_SET_ERR_MSG_ATTR_FMT(info->extack, info->attrs[VIRTZ_A_DEV_FD],
					"dev-fd %u is not an open file", fd);
		err = -EBADF;
		goto err_free_msg;
	}
	if (file->f_op != &virtz_vsock_dev_fops) {
		NL_SET_ERR_MSG_ATTR(info->extack, info->attrs[VIRTZ_A_DEV_FD],
				    "dev-fd is not an open /dev/" VIRTZ_VSOCK_DEV_NAME);
		err = -EINVAL;
		goto err_fput;
	}
	vf = file->private_data;

	mutex_lock(&registry_lock);
	if (vf->inst) {
		NL_SET_ERR_MSG_FMT(info->extack,
				   "this file already holds instance CID %u",
				   vf->inst->cid);
		err = -EBUSY;
		goto err_unlock;
	}
	env = env_id <= INT_MAX ? idr_find(&env_idr, env_id) : NULL;
	if (!env) {
		NL_SET_ERR_MSG_ATTR_FMT(info->extack,
					info->attrs[VIRTZ_A_ENV_ID],
					"no environment with id %u", env_id);
		err = -ENOENT;
		goto err_unlock;
	}
	cid = idr_alloc(&cid_idr, inst, VIRTZ_FIRST_GUEST_CID, INT_MAX,
			GFP_KERNEL);
	if (cid < 0) {
		GENL_SET_ERR_MSG(info, "no CID left");
		err = cid;
		goto err_unlock;
	}
	inst->cid = cid;
	inst->env = env;
	list_add_tail(&inst->node, &env->instances);
	env->n_instances++;
	vf->inst = inst;
	mutex_unlock(&registry_lock);
	fput(file);

	/*
	 * The instance stands even if the reply cannot be sent: the caller
	 * sees the error, closes its file and so removes it.
	 */
	if (nla_put_u32(msg, VIRTZ_A_INSTANCE_CID, cid) ||
	    nla_put_u32(msg, VIRTZ_A_ENV_ID, env_id)) {
		nlmsg_free(msg);
		return -EMSGSIZE;
	}
	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);

err_unlock:
	mutex_unlock(&registry_lock);
err_fput:
	fput(file);
err_free_msg:
	nlmsg_free(msg);
err_free_inst:
	kfree(inst);
	return err;
}

void virtz_registry_file_release(struct virtz_vsock_file *vf)
{
	struct virtz_instance *inst;

	mutex_lock(&registry_lock);
	inst = vf->inst;
	if (inst) {
		idr_remove(&cid_idr, inst->cid);
		list_del(&inst->node);
		inst->env->n_instances--;
		vf->inst = NULL;
	}
	mutex_unlock(&registry_lock);
	kfree(inst);
}

void virtz_registry_exit(void)
{
	struct virtz_env *env;
	int id;

	mutex_lock(&registry_lock);
	idr_for_each_entry(&env_idr, env, id)
		kfree(env);
	idr_destroy(&env_idr);
	idr_destroy(&cid_idr);
	mutex_unlock(&registry_lock);
}
