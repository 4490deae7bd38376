// SPDX-License-Identifier: MIT
/* The app registry as the rest of the daemon sees it (apps/registry.h): made and
 * freed, its socket file, the stage table, and the list for quiescectl apps. The
 * pieces are in registry_int.h's list. */
#include <errno.h>
#include <grp.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "apps/registry_int.h"
#include "common/jsonput.h"
#include "common/util.h"

const struct stage_ops registry_stage_ops = {
	.name = "apps",
	.filesystems = false,
	.start = appstage_start,
	.cancel = appstage_cancel,
	.report = appstage_report,
	.count = appstage_count,
	.active = appstage_active,
};

/* ------------------------------------------------------------ setup */

static int resolve_group(const char *name, gid_t *gid)
{
	char buf[16384], *end;
	struct group gr, *res = NULL;
	unsigned long v;

	if (getgrnam_r(name, &gr, buf, sizeof(buf), &res) == 0 && res) {
		*gid = res->gr_gid;
		return 0;
	}
	errno = 0;
	v = strtoul(name, &end, 10);
	if (*name && !*end && !errno && v < (gid_t)-1) {
		*gid = (gid_t)v;
		return 0;
	}
	return -1;
}

/* 1000 apps are 1000 fds: take what the hard limit allows. */
static void raise_fd_limit(unsigned max_apps)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			log_warn("apps: cannot raise the open-file limit");
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (rlim_t)max_apps + MAX_HELLO + 64)
		log_warnx("apps: the open-file limit is %llu: fewer than --max-apps %u apps may be "
			  "able to connect", (unsigned long long)rl.rlim_cur, max_apps);
}

/* The member table is sized for --max-apps at start (no allocation during a phase), and
 * mostly never used. calloc() would clear it if it comes out of the heap (~100 KB
 * resident for the default 1024, all of it at start); anonymous pages from mmap() are
 * zero already and cost nothing until an app is there. */
static void *table_alloc(size_t n, size_t size)
{
	void *p;
	if (n > SIZE_MAX / size) {
		errno = ENOMEM;
		return NULL;
	}
	p = mmap(NULL, n * size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

static void table_free(void *p, size_t n, size_t size)
{
	if (p)
		munmap(p, n * size);
}

/* What registry_new allocates, and the registry itself. */
static void release(struct registry *r)
{
	free(r->hash);
	table_free(r->members, r->max_apps, sizeof(*r->members));
	free(r->path);
	free(r);
}

/* The registry and its tables, not listening yet. */
static struct registry *alloc_registry(struct loop *loop, struct engine *engine,
				       const struct registry_config *cfg)
{
	struct registry *r = calloc(1, sizeof(*r));
	size_t hs = 16;

	if (!r)
		return NULL;
	r->lfd = -1;
	r->loop = loop;
	r->engine = engine;
	r->max_apps = cfg->max_apps ? cfg->max_apps : 1;
	r->rate = cfg->connect_rate;
	admit_init(&r->adm, r->max_apps, r->rate, now_ms());
	r->default_timeout_ms = cfg->default_timeout_ms;
	r->max_timeout_ms = cfg->max_timeout_ms;
	if (cfg->group) {
		if (resolve_group(cfg->group, &r->gid) < 0) {
			log_warnx("app socket group %s: no such group", cfg->group);
			release(r);
			return NULL;
		}
		r->group_set = true;
	}
	while (hs < 2 * (size_t)r->max_apps)
		hs *= 2;
	r->hash = calloc(hs, sizeof(*r->hash));
	r->hash_mask = hs - 1;
	r->members = table_alloc(r->max_apps, sizeof(*r->members));
	r->path = strdup(cfg->socket_path);
	if (!r->hash || !r->members || !r->path) {
		release(r);
		return NULL;
	}
	return r;
}

/* The socket file at sa, with the configured mode and group, and accepting. */
static int listen_on(struct registry *r, const struct sockaddr_un *sa,
		     const struct registry_config *cfg)
{
	mode_t old;

	r->lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (r->lfd < 0) {
		log_warn("apps: socket");
		return -1;
	}
	if (unix_socket_answers(sa, SOCK_SEQPACKET)) {
		log_warnx("another quiesced is already running (it answers on %s)", r->path);
		return -1;
	}
	unlink(r->path);   /* stale: nobody answered above */
	/* Created 0600 and widened only once its group is set: no moment where it is
	 * reachable by more than configured. */
	old = umask(0177);
	if (bind(r->lfd, (const struct sockaddr *)sa, sizeof(*sa)) < 0) {
		umask(old);
		log_warn("apps: bind %s", r->path);
		return -1;
	}
	umask(old);
	if ((r->group_set && chown(r->path, (uid_t)-1, r->gid) < 0) ||
	    chmod(r->path, cfg->mode & 0777) < 0 || listen(r->lfd, SOMAXCONN) < 0 ||
	    loop_add_fd(r->loop, r->lfd, EPOLLIN, appaccept_on_accept, r) < 0) {
		log_warn("apps: %s", r->path);
		unlink(r->path);
		return -1;
	}
	return 0;
}

struct registry *registry_new(struct loop *loop, struct engine *engine,
			      const struct registry_config *cfg)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct registry *r;

	if (strlen(cfg->socket_path) >= sizeof(sa.sun_path)) {
		log_warnx("app socket path too long: %s", cfg->socket_path);
		return NULL;
	}
	str_copy(sa.sun_path, cfg->socket_path, sizeof(sa.sun_path));
	r = alloc_registry(loop, engine, cfg);
	if (!r)
		return NULL;
	raise_fd_limit(r->max_apps);
	if (listen_on(r, &sa, cfg) < 0) {
		if (r->lfd >= 0)
			close(r->lfd);
		release(r);
		return NULL;
	}
	log_info("apps: listening on %s (mode %04o%s%s), at most %u apps", r->path,
		 cfg->mode & 0777, r->group_set ? ", group " : "", r->group_set ? cfg->group : "",
		 r->max_apps);
	return r;
}

void registry_set_fs(struct registry *r, const struct appext_fs_source *src)
{
	if (r)
		r->fs_source = *src;
}

void registry_free(struct registry *r)
{
	if (!r)
		return;
	/* The filesystems are thawed by now (engine_shutdown); apps take the close as a
	 * disconnect and thaw themselves if they still hold anything. */
	r->running = false;
	while (r->hello)
		appconn_gone(r->hello);
	while (r->head)
		appconn_gone(r->head);
	loop_timer_disarm(r->loop, &r->done_timer);
	loop_timer_disarm(r->loop, &r->accept_timer);
	loop_del_fd(r->loop, r->lfd);
	close(r->lfd);
	unlink(r->path);
	release(r);
}

/* ------------------------------------------------------------ listing */

static const char *state_name(const struct app *a)
{
	switch (a->state) {
	case APP_HELLO: return "hello";
	case APP_IDLE: return a->frozen ? "frozen" : "idle";
	case APP_WAITING: return "asked";
	case APP_LATE: return "late";
	}
	return "?";
}

/* The last answer (or timeout) of a, for quiescectl apps. */
/* Each NULL if out of memory (never an entry with members left out). */
static struct json_object *list_last(const struct app *a)
{
	struct json_object *l = json_object_new_object();
	bool ok = jput(l, "op", json_object_new_string(appwire_op_name(a->last_op))) &&
		jput(l, "result", json_object_new_string(a->last_result)) &&
		(!strcmp(a->last_result, "timeout") ||
		 jput(l, "ms", json_object_new_double(ns_to_ms(a->last_latency_ns)))) &&
		jput(l, "at", json_object_new_int64((int64_t)a->last_at_wall)) &&
		(!a->last_detail[0] || jput(l, "detail", json_object_new_string(a->last_detail)));

	if (!ok) {
		json_object_put(l);
		return NULL;
	}
	return l;
}

static struct json_object *list_app(const struct app *a, uint64_t now)
{
	struct json_object *o = json_object_new_object();
	bool asked = a->state == APP_WAITING || a->state == APP_LATE;
	bool ok = jput(o, "name", json_object_new_string(a->name)) &&
		jput(o, "id", json_object_new_int64(a->id)) &&
		jput(o, "pid", json_object_new_int64(a->pid)) &&
		jput(o, "uid", json_object_new_int64(a->uid)) &&
		jput(o, "required", json_object_new_boolean(!a->optional)) &&
		jput(o, "protocol", json_object_new_int64(a->version)) &&
		jput(o, "timeout_ms", json_object_new_int64(a->timeout_ms)) &&
		jput(o, "state", json_object_new_string(state_name(a))) &&
		(!asked || (jput(o, "asked", json_object_new_string(appwire_op_name(a->out.opt))) &&
			    jput(o, "asked_ms",
				 json_object_new_double(ns_to_ms(now_ns() - a->sent_ns))))) &&
		jput(o, "connected_at", json_object_new_int64((int64_t)a->connected_wall)) &&
		jput(o, "connected_ms", json_object_new_int64((int64_t)(now - a->connected_wall))) &&
		(!a->last_result || jput(o, "last", list_last(a)));

	if (!ok) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

int registry_list(struct registry *r, struct json_object *out)
{
	struct json_object *arr = json_object_new_array_ext((int)r->n_apps);
	uint64_t now = wall_ms();

	for (struct app *a = r->head; arr && a; a = a->next)
		if (!jappend(arr, list_app(a, now))) {
			json_object_put(arr);
			arr = NULL;
		}
	return jput(out, "apps", arr) && jput(out, "count", json_object_new_int64(r->n_apps)) &&
	       jput(out, "max", json_object_new_int64(r->max_apps)) &&
	       jput(out, "socket", json_object_new_string(r->path)) ? 0 : -1;
}
