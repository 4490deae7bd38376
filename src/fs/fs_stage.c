// SPDX-License-Identifier: MIT
#include "fs/fs_stage.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/appfslist.h"
#include "common/util.h"
#include "common/log.h"
#include "fs/freezer.h"
#include "fs/leftover.h"
#include "fs/mountid.h"
#include "fs/plancache.h"

const char *fs_stage_mountinfo_path = "/proc/self/mountinfo";

struct fs_stage {
	struct engine *engine;
	struct freezer *fz;
	const struct fs_policy *policy;
	uint64_t timeout_ms;
	struct fs_plan check_plan;     /* what the last CHECK looked at */
	struct plancache *cache;       /* the last plan, while the mount table stays */
	enum txn_op last_op;
	char *record;                  /* leftover record in the run dir, or NULL */
	void (*settled)(void *arg);    /* a stuck FIFREEZE came back and was thawed */
	void *settled_arg;
};

void fs_stage_set_settled(struct fs_stage *fs, void (*fn)(void *arg), void *arg)
{
	fs->settled = fn;
	fs->settled_arg = arg;
}

void fs_stage_set_guard(struct fs_stage *fs, const struct freezer_guard *guard)
{
	freezer_set_guard(fs->fz, guard);
}

void fs_stage_set_record(struct fs_stage *fs, const char *path)
{
	free(fs->record);
	fs->record = path ? strdup(path) : NULL;
	freezer_set_record(fs->fz, path);
}

bool fs_stage_stuck(const struct fs_stage *fs)
{
	return freezer_stuck(fs->fz);
}

/* A FIFREEZE abandoned at its deadline came back after its freeze had failed, and was
 * thawed: the record, kept for it, has done its job now. */
static void on_freezer_settled(void *arg)
{
	struct fs_stage *fs = arg;
	if (fs->record)
		leftover_clear(fs->record);
	if (fs->settled)
		fs->settled(fs->settled_arg);
}

struct fs_stage *fs_stage_new(struct loop *loop, struct engine *engine,
			      const struct fs_policy *policy, uint64_t timeout_ms)
{
	struct fs_stage *fs = calloc(1, sizeof(*fs));
	if (!fs)
		return NULL;
	fs->fz = freezer_new(loop);
	if (!fs->fz) {
		free(fs);
		return NULL;
	}
	fs->cache = plancache_new(fs_stage_mountinfo_path);
	if (!fs->cache) {
		freezer_free(fs->fz);
		free(fs);
		return NULL;
	}
	freezer_set_settled(fs->fz, on_freezer_settled, fs);
	fs->engine = engine;
	fs->policy = policy;
	fs->timeout_ms = timeout_ms;
	return fs;
}

void fs_stage_free(struct fs_stage *fs)
{
	if (!fs)
		return;
	freezer_free(fs->fz);
	plancache_free(fs->cache);
	fs_plan_free(&fs->check_plan);
	free(fs->record);
	free(fs);
}

static void log_plan(const struct fs_plan *plan)
{
	if (plan->cycle)
		log_warnx("filesystem dependencies form a cycle (a filesystem holding a loop "
			  "image mounted inside it?): loop images go first, mount nesting gives way");
	for (size_t i = 0; i < plan->n; i++)
		log_debug("candidate %s (%s on %s)%s", plan->v[i].mountpoint, plan->v[i].fstype,
			  plan->v[i].source, plan->v[i].n_holders ? " before its holders" : "");
}

static int make_plan(struct fs_stage *fs, const struct txn_request *req, struct fs_plan *plan,
		     char *msg, size_t msglen)
{
	struct mount_table mt;
	struct fs_policy pol = *fs->policy;
	size_t bad = 0;

	if (req && req->mountpoints_set) {
		pol.select = req->mountpoints;
		pol.n_select = req->n_mountpoints;
		pol.select_set = true;
	}
	if (plancache_get(fs->cache, &pol, plan)) {
		log_plan(plan);
		return 0;
	}
	if (mountinfo_read(fs_stage_mountinfo_path, &mt, &bad) < 0) {
		snprintf(msg, msglen, "cannot read %s: %s", fs_stage_mountinfo_path, strerror(errno));
		return -1;
	}
	if (bad)
		log_warnx("%zu lines of %s did not parse; ignored", bad, fs_stage_mountinfo_path);
	if (policy_plan(&mt, &pol, &sysfs_probe, plan) < 0) {
		snprintf(msg, msglen, "cannot plan the freeze: %s", strerror(errno));
		mount_table_free(&mt);
		return -1;
	}
	mount_table_free(&mt);
	log_plan(plan);
	plancache_put(fs->cache, &pol, plan);
	return 0;
}

int fs_stage_plan(struct fs_stage *fs, struct fs_plan *plan, char *msg, size_t msglen)
{
	return make_plan(fs, NULL, plan, msg, msglen);
}

int fs_stage_fs_list(struct fs_stage *fs, struct appwire_fs **out, size_t *n, bool *incomplete,
		     char *msg, size_t msglen)
{
	struct fs_plan plan;
	struct appwire_fs *v;

	memset(&plan, 0, sizeof(plan));
	*out = NULL;
	*n = 0;
	if (fs_stage_plan(fs, &plan, msg, msglen) < 0)
		return -1;
	v = calloc(plan.n ? plan.n : 1, sizeof(*v));
	if (!v) {
		fs_plan_free(&plan);
		snprintf(msg, msglen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < plan.n; i++) {
		const struct fs_candidate *c = &plan.v[i];
		/* A name too long for the frame is left out, and the list marked so. */
		if (strlen(c->fstype) > APPWIRE_FS_TYPE_MAX ||
		    strlen(c->mountpoint) > APPWIRE_FS_PATH_MAX ||
		    strlen(c->source) > APPWIRE_FS_PATH_MAX) {
			*incomplete = true;
			continue;
		}
		v[*n].major = c->major;
		v[*n].minor = c->minor;
		str_copy(v[*n].fstype, c->fstype, sizeof(v[*n].fstype));
		str_copy(v[*n].source, c->source, sizeof(v[*n].source));
		str_copy(v[*n].mountpoint, c->mountpoint, sizeof(v[*n].mountpoint));
		(*n)++;
	}
	fs_plan_free(&plan);
	*out = v;
	return 0;
}

/* CHECK: everything short of freezing. Each candidate must open as the mount we
 * planned, and be of a type the kernel can freeze. */
static bool check_plan(struct fs_plan *plan, char *msg, size_t msglen)
{
	for (size_t i = 0; i < plan->n; i++) {
		const struct fs_candidate *c = &plan->v[i];
		int fd, id;
		if (policy_type_unfreezable(c->fstype)) {
			snprintf(msg, msglen, "%s cannot be frozen: %s does not support it",
				 c->mountpoint, c->fstype);
			return false;
		}
		fd = open(c->mountpoint, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOCTTY);
		if (fd < 0) {
			snprintf(msg, msglen, "failed to open %s: %s", c->mountpoint, strerror(errno));
			return false;
		}
		if (fd_mount_id(fd, &id) == 0 && id != c->mount_id) {
			snprintf(msg, msglen, "%s cannot be reached: something is mounted over it, or it was unmounted", c->mountpoint);
			close(fd);
			return false;
		}
		close(fd);
	}
	return true;
}

/* Every requested mountpoint must be a candidate; say why one is not. */
static bool check_selection(const struct fs_plan *plan, const struct txn_request *req, char *msg,
			    size_t msglen)
{
	for (size_t k = 0; k < req->n_mountpoints; k++) {
		const char *mp = req->mountpoints[k];
		const char *why = "not a mountpoint, or outside the scope";
		bool found = false;
		for (size_t i = 0; i < plan->n && !found; i++)
			found = strcmp(plan->v[i].mountpoint, mp) == 0;
		if (found)
			continue;
		for (size_t i = 0; i < plan->n_skipped; i++)
			if (strcmp(plan->skipped[i].mountpoint, mp) == 0)
				why = plan->skipped[i].reason;
		snprintf(msg, msglen, "%s is not a filesystem quiesced can freeze: %s", mp, why);
		return false;
	}
	return true;
}

static void on_freezer_done(void *arg, bool ok)
{
	struct fs_stage *fs = arg;
	/* A failed freeze may have found the mounts not as planned: plan afresh. */
	if (!ok)
		plancache_drop(fs->cache);
	/* All thawed (or never frozen): the record has done its job. */
	if (fs->record && !freezer_active(fs->fz))
		leftover_clear(fs->record);
	engine_stage_done(fs->engine, ok, ok ? "" : freezer_error(fs->fz));
}

static enum stage_rc fs_start(void *self, enum txn_op op, const struct txn_request *req, bool *ok,
			      char *msg, size_t msglen)
{
	struct fs_stage *fs = self;
	struct fs_plan plan;
	int r;

	fs->last_op = op;
	*ok = false;
	switch (op) {
	case TXN_CHECK:
		fs_plan_free(&fs->check_plan);
		if (make_plan(fs, req, &fs->check_plan, msg, msglen) < 0)
			return STAGE_DONE;
		*ok = check_plan(&fs->check_plan, msg, msglen);
		return STAGE_DONE;
	case TXN_FREEZE:
		/* The plan is made now, after apps and hooks have run (as qemu-ga does):
		 * they may have mounted or unmounted something. */
		/* A freeze that fails before the freezer has a set of its own: the report
		 * and the counts must not show the last one's filesystems. */
		if (make_plan(fs, req, &plan, msg, msglen) < 0) {
			freezer_forget(fs->fz);
			return STAGE_DONE;
		}
		if (req->mountpoints_set && req->strict_mountpoints &&
		    !check_selection(&plan, req, msg, msglen)) {
			fs_plan_free(&plan);
			freezer_forget(fs->fz);
			return STAGE_DONE;
		}
		/* Before the first FIFREEZE, while writing is still safe. Not while an
		 * earlier FIFREEZE is stuck (the freezer refuses this freeze as busy): the
		 * record names that one, and a restart must still thaw it. */
		if (fs->record && plan.n && !freezer_stuck(fs->fz) && !freezer_active(fs->fz) &&
		    leftover_save(fs->record, &plan) < 0)
			log_warn("cannot record the freeze in %s (a restart could not undo it)",
				 fs->record);
		r = freezer_freeze(fs->fz, &plan, fs->timeout_ms, on_freezer_done, fs);
		break;
	case TXN_THAW:
		r = freezer_thaw(fs->fz, on_freezer_done, fs);
		break;
	default:
		abort();
	}
	if (r == 0)
		return STAGE_PENDING;
	if (r < 0) {
		if (errno == EBUSY)
			snprintf(msg, msglen, "busy: an earlier freeze is still stuck in the kernel");
		else
			snprintf(msg, msglen, "cannot %s: %s", engine_op_name(op), strerror(errno));
		return STAGE_DONE;
	}
	*ok = true;
	return STAGE_DONE;
}

static void add_fs_array(struct json_object *out, const struct fs_node *nodes, size_t n)
{
	struct json_object *arr = json_object_new_array();
	for (size_t i = 0; i < n; i++) {
		const struct fs_node *nd = &nodes[i];
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "mountpoint", json_object_new_string(nd->cand->mountpoint));
		json_object_object_add(o, "source", json_object_new_string(nd->cand->source));
		json_object_object_add(o, "type", json_object_new_string(nd->cand->fstype));
		json_object_object_add(o, "state", json_object_new_string(fs_state_name(nd->state)));
		if (nd->freeze_ns) {
			json_object_object_add(o, "freeze_ms",
					       json_object_new_double(ns_to_ms(nd->freeze_ns)));
			json_object_object_add(o, "freeze_start_ms",
					       json_object_new_double(ns_to_ms(nd->freeze_start_ns)));
			json_object_object_add(o, "freeze_end_ms",
					       json_object_new_double(ns_to_ms(nd->freeze_end_ns)));
		}
		if (nd->thaw_ns) {
			json_object_object_add(o, "thaw_ms",
					       json_object_new_double(ns_to_ms(nd->thaw_ns)));
			json_object_object_add(o, "thaw_start_ms",
					       json_object_new_double(ns_to_ms(nd->thaw_start_ns)));
			json_object_object_add(o, "thaw_end_ms",
					       json_object_new_double(ns_to_ms(nd->thaw_end_ns)));
		}
		if (nd->failed_step) {
			char err[256];
			snprintf(err, sizeof(err), "%s: %s", nd->failed_step, strerror(nd->err));
			json_object_object_add(o, "error", json_object_new_string(err));
			json_object_object_add(o, "errno", json_object_new_int(nd->err));
		}
		if (nd->thawed_by_other)
			json_object_object_add(o, "thawed_by_other", json_object_new_boolean(true));
		json_object_array_add(arr, o);
	}
	json_object_object_add(out, "filesystems", arr);
}

static void fs_report(void *self, struct json_object *out)
{
	struct fs_stage *fs = self;
	size_t n;
	const struct fs_node *nodes = freezer_nodes(fs->fz, &n);

	if (fs->last_op == TXN_CHECK) {
		struct json_object *arr = json_object_new_array(), *sk = json_object_new_array();
		for (size_t i = 0; i < fs->check_plan.n; i++) {
			struct json_object *o = json_object_new_object();
			const struct fs_candidate *c = &fs->check_plan.v[i];
			json_object_object_add(o, "mountpoint", json_object_new_string(c->mountpoint));
			json_object_object_add(o, "source", json_object_new_string(c->source));
			json_object_object_add(o, "type", json_object_new_string(c->fstype));
			json_object_array_add(arr, o);
		}
		for (size_t i = 0; i < fs->check_plan.n_skipped; i++) {
			struct json_object *o = json_object_new_object();
			json_object_object_add(o, "mountpoint",
					       json_object_new_string(fs->check_plan.skipped[i].mountpoint));
			json_object_object_add(o, "reason",
					       json_object_new_string(fs->check_plan.skipped[i].reason));
			json_object_array_add(sk, o);
		}
		json_object_object_add(out, "filesystems", arr);
		json_object_object_add(out, "skipped", sk);
		return;
	}
	add_fs_array(out, nodes, n);
}

static unsigned fs_count(void *self, enum txn_op op)
{
	struct fs_stage *fs = self;
	size_t n, c = 0;
	const struct fs_node *nodes = freezer_nodes(fs->fz, &n);
	for (size_t i = 0; i < n; i++) {
		if (op == TXN_FREEZE && nodes[i].state == FS_FROZEN)
			c++;
		/* qemu-ga counts a thaw only if its FITHAW succeeded. */
		if (op == TXN_THAW && nodes[i].state == FS_THAWED && !nodes[i].thawed_by_other)
			c++;
	}
	return (unsigned)c;
}

static bool fs_active(void *self)
{
	return freezer_active(((struct fs_stage *)self)->fz);
}

const struct stage_ops fs_stage_ops = {
	.name = "filesystems",
	.filesystems = true,
	.start = fs_start,
	.cancel = NULL, /* the freezer bounds itself with its deadline */
	.report = fs_report,
	.count = fs_count,
	.active = fs_active,
};
