#include "apps/registry.h"

#include <errno.h>
#include <grp.h>
#include <json-c/json.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "apps/admit.h"
#include "common/appwire.h"
#include "apps/appext.h"
#include "common/util.h"
#include "common/log.h"
#include "common/loop.h"

/* docs/protocol.md §3: the first frame must come within 5 s. */
#define HELLO_TIMEOUT_MS 5000
/* Connections that have not said hello yet (apps/admit.h): beyond ADMIT_PENDING we
 * stop accepting and let the kernel's listen backlog hold the rest (libquiesce
 * retries a full backlog). */
#define MAX_HELLO ADMIT_PENDING
/* More than APPWIRE_MAX_FRAME, so that an oversize frame shows as such. */
#define RECV_BUF 256
/* Refusals logged per second; a flood of them is summarised. */
#define REFUSAL_LOGS_PER_S 20
#define MSG_LEN 512

enum app_state {
	APP_HELLO,      /* connected, no valid hello yet */
	APP_IDLE,       /* registered, nothing outstanding */
	APP_WAITING,    /* one request outstanding, before its deadline */
	APP_LATE,       /* past the deadline: one more timeout for a late answer */
};

/* What became of one app in one phase. */
enum member_result {
	M_PENDING,
	M_OK,
	M_FAILED,       /* answered failure (a veto, for CHECK and FREEZE) */
	M_TIMEOUT,      /* no answer before its deadline */
	M_BUSY,         /* still busy with an earlier request: timed out at once */
	M_GONE,         /* disconnected or dropped before answering */
	M_CANCELLED,    /* the engine stopped waiting (a THAW overtook the FREEZE, watchdog) */
	M_NOT_ASKED,    /* the phase had already failed */
};

static const char *const result_names[] = {
	[M_PENDING] = "pending",     [M_OK] = "ok",           [M_FAILED] = "failed",
	[M_TIMEOUT] = "timeout",     [M_BUSY] = "busy",       [M_GONE] = "disconnected",
	[M_CANCELLED] = "cancelled", [M_NOT_ASKED] = "not asked",
};

struct app;

/* An app's part in the current (or last) phase. The name is copied so that the
 * report still names an app that has gone. */
struct member {
	struct app *app;        /* NULL once the app has gone */
	uint32_t id;
	bool optional;
	uint8_t result;
	uint64_t msgid;
	uint64_t latency_ns;
	char name[APPWIRE_NAME_FIELD];
	char detail[APPWIRE_DETAIL_FIELD];      /* v2: what the app said with its answer */
};

struct app {
	struct registry *reg;
	int fd;
	enum app_state state;
	uint32_t id;                    /* 0 until registered */
	char name[APPWIRE_NAME_FIELD];
	pid_t pid;
	uid_t uid;
	gid_t gid;
	bool allowed;                   /* credentials pass the policy */
	bool over_rate;                 /* connected beyond the connection rate */
	bool optional;
	bool frozen;                    /* answered FREEZE with success, not sent THAW yet */
	uint16_t version;               /* of its hello; 0 before one decoded */
	uint32_t timeout_ms;
	uint64_t connected_wall;
	/* The outstanding request (WAITING, LATE). */
	struct appwire_msg out;
	uint64_t sent_ns;
	unsigned out_gen;               /* phase it belongs to; 0: none (an owed THAW) */
	size_t out_member;              /* its index in reg->members */
	struct loop_timer timer;        /* hello timeout, deadline, late window */
	/* For quiescectl apps. */
	uint32_t last_op;
	const char *last_result;
	uint64_t last_latency_ns;
	uint64_t last_at_wall;
	char last_detail[APPWIRE_DETAIL_FIELD];
	/* Registration order (or the list of connections in HELLO), and the name hash. */
	struct app *prev, *next;
	struct app *hnext;
};

struct registry {
	struct loop *loop;
	struct engine *engine;
	char *path;
	unsigned max_apps;
	unsigned rate;
	uint32_t default_timeout_ms, max_timeout_ms;
	gid_t gid;
	bool group_set;
	struct appext_fs_source fs_source;  /* answers the v2 filesystem query */

	int lfd;
	bool accept_paused;
	struct loop_timer accept_timer;     /* resume after EMFILE and the like */
	struct app *head, *tail;            /* registered, in registration order */
	struct app *hello;                  /* not registered yet */
	unsigned n_apps, n_hello, n_frozen;
	struct app **hash;
	size_t hash_mask;
	uint32_t next_id;
	uint64_t next_msgid;
	struct admit adm;                   /* who may connect and register */
	uint64_t refusal_window_ms;
	unsigned refusals_logged, refusals_suppressed;

	/* The phase under way (running) or the last one. */
	enum txn_op op;
	bool running;
	bool in_start;
	bool held;          /* between our FREEZE start and our THAW start: a late FREEZE
			     * success waits for the transaction's THAW */
	unsigned gen;
	struct member *members;     /* capacity max_apps: no allocation during a phase */
	size_t n_members;
	size_t pending;
	uint64_t t0;
	uint64_t phase_ns;
	bool ok;
	char msg[MSG_LEN];
	struct loop_timer done_timer;
};

static const char *op_word(enum txn_op op)
{
	return op == TXN_CHECK ? "check" : op == TXN_FREEZE ? "freeze" : "thaw";
}

static uint32_t wire_op(enum txn_op op)
{
	return op == TXN_CHECK ? APPWIRE_OP_CHECK : op == TXN_FREEZE ? APPWIRE_OP_FREEZE
								 : APPWIRE_OP_THAW;
}

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

/* ------------------------------------------------------------ names */

static size_t name_hash(const char *s)
{
	uint32_t h = 2166136261u;   /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

static struct app *find_name(struct registry *r, const char *name)
{
	for (struct app *a = r->hash[name_hash(name) & r->hash_mask]; a; a = a->hnext)
		if (strcmp(a->name, name) == 0)
			return a;
	return NULL;
}

static void hash_add(struct registry *r, struct app *a)
{
	struct app **b = &r->hash[name_hash(a->name) & r->hash_mask];
	a->hnext = *b;
	*b = a;
}

static void hash_del(struct registry *r, struct app *a)
{
	for (struct app **p = &r->hash[name_hash(a->name) & r->hash_mask]; *p; p = &(*p)->hnext) {
		if (*p == a) {
			*p = a->hnext;
			return;
		}
	}
}

/* ------------------------------------------------------------ lists */

static void list_unlink(struct registry *r, struct app *a)
{
	if (a->state == APP_HELLO) {
		if (a->prev)
			a->prev->next = a->next;
		else
			r->hello = a->next;
		if (a->next)
			a->next->prev = a->prev;
		r->n_hello--;
		admit_pending_done(&r->adm, a->uid);
		return;
	}
	if (a->prev)
		a->prev->next = a->next;
	else
		r->head = a->next;
	if (a->next)
		a->next->prev = a->prev;
	else
		r->tail = a->prev;
	hash_del(r, a);
	r->n_apps--;
	admit_unregister(&r->adm, a->uid);
}

static void set_frozen(struct registry *r, struct app *a, bool frozen)
{
	if (a->frozen == frozen)
		return;
	a->frozen = frozen;
	if (frozen)
		r->n_frozen++;
	else
		r->n_frozen--;
}

/* ------------------------------------------------------------ phase bookkeeping */

static void finish_phase(struct registry *r);

static bool failure(enum member_result res)
{
	return res != M_OK && res != M_PENDING;
}

/* What happened to a member, as the predicate of "app NAME (id N) ...". */
static const char *reason(const struct member *m, const struct registry *r, char *buf, size_t len)
{
	const struct app *a = m->app;
	const char *op = op_word(r->op);
	switch (m->result) {
	case M_FAILED:
		if (r->op == TXN_THAW)
			snprintf(buf, len, "answered the thaw with failure");
		else
			snprintf(buf, len, "vetoed the %s", op);
		if (m->detail[0])
			snprintf(buf + strlen(buf), len - strlen(buf), ": %s", m->detail);
		break;
	case M_TIMEOUT:
		snprintf(buf, len, "did not answer the %s within %u ms", op, a ? a->timeout_ms : 0);
		break;
	case M_BUSY:
		snprintf(buf, len, "was still busy with msgid %llu of an earlier request",
			 (unsigned long long)(a ? a->out.msgid : m->msgid));
		break;
	case M_GONE:
		snprintf(buf, len, "disconnected before answering the %s", op);
		break;
	case M_CANCELLED:
		snprintf(buf, len, "had not answered the %s when the engine stopped waiting", op);
		break;
	default:
		snprintf(buf, len, "%s", result_names[m->result]);
	}
	return buf;
}

/* One member's result is in. May finish the phase: when a required app fails a CHECK
 * or FREEZE (nothing is gained by waiting for the others), or when none is pending. */
static void member_done(struct registry *r, size_t idx, enum member_result res, uint64_t latency)
{
	struct member *m = &r->members[idx];
	char why[256];

	if (!r->running || m->result != M_PENDING)
		return;
	m->result = (uint8_t)res;
	m->latency_ns = latency;
	r->pending--;
	if (failure(res)) {
		reason(m, r, why, sizeof(why));
		if (r->op == TXN_THAW) {
			log_warnx("app %s (id %u) %s; it counts as thawed", m->name, m->id, why);
		} else if (m->optional) {
			log_warnx("app %s (id %u, optional) %s; going on without it", m->name, m->id,
				  why);
		} else {
			log_warnx("app %s (id %u) %s", m->name, m->id, why);
			if (r->ok) {
				r->ok = false;
				snprintf(r->msg, sizeof(r->msg), "app %s (id %u) %s", m->name, m->id, why);
			}
			finish_phase(r);
			return;
		}
	}
	if (r->pending == 0 && !r->in_start)
		finish_phase(r);
}

static void on_done_timer(struct loop *loop, void *arg)
{
	struct registry *r = arg;
	(void)loop;
	engine_stage_done(r->engine, r->ok, r->msg);
}

/* The phase is over: say so, here (inside start) or from the loop (a timer, so the
 * engine never runs inside one of our fd callbacks). */
static void finish_phase(struct registry *r)
{
	size_t counts[M_NOT_ASKED + 1] = { 0 };

	if (!r->running)
		return;
	r->running = false;
	r->phase_ns = now_ns() - r->t0;
	for (size_t i = 0; i < r->n_members; i++) {
		if (r->members[i].result == M_PENDING) {
			/* A required app failed first: stop waiting for these. Their requests
			 * stay outstanding; a late FREEZE success is owed a THAW (§4.4). */
			r->members[i].result = M_NOT_ASKED;
			if (r->members[i].app && r->members[i].app->state != APP_IDLE)
				r->members[i].result = M_CANCELLED;
		}
		counts[r->members[i].result]++;
	}
	if (r->op == TXN_THAW) {
		size_t bad = r->n_members - counts[M_OK];
		/* A THAW failure does not fail the thaw: the app counts as thawed (§4.4),
		 * and the filesystems are thawed already. The report says what happened. */
		r->ok = true;
		if (bad)
			snprintf(r->msg, sizeof(r->msg),
				 "%zu of %zu apps did not thaw cleanly (they count as thawed)", bad,
				 r->n_members);
	} else if (r->ok && r->n_members > counts[M_OK]) {
		snprintf(r->msg, sizeof(r->msg), "%zu optional app%s did not take part",
			 r->n_members - counts[M_OK], r->n_members - counts[M_OK] == 1 ? "" : "s");
	}
	if (r->n_members)
		log_info("apps: %s: %zu asked, %zu ok, %zu failed, %zu timed out, %zu gone in %.1f ms",
			 op_word(r->op), r->n_members - counts[M_NOT_ASKED], counts[M_OK], counts[M_FAILED],
			 counts[M_TIMEOUT] + counts[M_BUSY] + counts[M_CANCELLED], counts[M_GONE],
			 ns_to_ms(r->phase_ns));
	if (!r->in_start)
		loop_timer_arm(r->loop, &r->done_timer, 0, on_done_timer, r);
}

/* ------------------------------------------------------------ connections */

static void accept_resume(struct registry *r);

static void note_last(struct app *a, uint32_t op, const char *result, uint64_t latency)
{
	a->last_op = op;
	a->last_result = result;
	a->last_latency_ns = latency;
	a->last_at_wall = wall_ms();
}

/* The app is gone (hang-up or dropped): §4.5 of the protocol. Frees it. */
static void app_gone(struct app *a)
{
	struct registry *r = a->reg;
	bool in_phase = (a->state == APP_WAITING || a->state == APP_LATE) && r->running &&
			a->out_gen == r->gen;

	loop_timer_disarm(r->loop, &a->timer);
	loop_del_fd(r->loop, a->fd);
	close(a->fd);
	a->fd = -1;
	if (a->state != APP_HELLO && a->out_gen == r->gen && a->out_member < r->n_members &&
	    r->members[a->out_member].app == a)
		r->members[a->out_member].app = NULL;
	list_unlink(r, a);
	if (a->frozen) {
		/* It holds nothing any more: a frozen app thaws itself on a lost connection. */
		set_frozen(r, a, false);
		log_info("app %s (id %u): disconnected while frozen; it counts as thawed", a->name,
			 a->id);
	}
	if (in_phase)
		member_done(r, a->out_member, M_GONE, now_ns() - a->sent_ns);
	free(a);
	accept_resume(r);
}

static void app_drop(struct app *a, const char *fmt, ...) LOG_PRINTF(2, 3);

static void app_drop(struct app *a, const char *fmt, ...)
{
	char why[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (a->state == APP_HELLO)
		log_warnx("app connection (pid %d, uid %u): %s; closed", (int)a->pid, a->uid, why);
	else
		log_warnx("app %s (id %u, pid %d): %s; dropped", a->name, a->id, (int)a->pid, why);
	app_gone(a);
}

static void app_hangup(struct app *a, int err)
{
	bool busy = a->state == APP_WAITING || a->state == APP_LATE;
	if (a->state == APP_HELLO) {
		log_debug("app connection (pid %d) closed before registering", (int)a->pid);
	} else if (busy || a->frozen) {
		log_warnx("app %s (id %u, pid %d) disconnected%s%s%s", a->name, a->id, (int)a->pid,
			  busy ? " with " : "", busy ? appwire_op_name(a->out.opt) : "",
			  busy ? " outstanding" : " while frozen");
	} else {
		log_info("app %s (id %u, pid %d) disconnected%s%s", a->name, a->id, (int)a->pid,
			 err ? ": " : "", err ? strerror(err) : "");
	}
	app_gone(a);
}

static void on_app_timer(struct loop *loop, void *arg);

/* Send one frame. SEQPACKET sends whole records; EAGAIN cannot happen with a live app
 * (one frame in flight) and counts as a hang-up, as any other failure does. */
static int send_frame(struct app *a, const void *buf, size_t len)
{
	ssize_t n = send(a->fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
	return n == (ssize_t)len ? 0 : -1;
}

/* Send a request; on failure the app is gone (freed) and -1 returned. */
static int send_request(struct app *a, enum txn_op op, unsigned gen, size_t member)
{
	struct registry *r = a->reg;
	uint8_t buf[APPWIRE_MSG_SIZE];

	a->out.opt = wire_op(op);
	a->out.status = APPWIRE_STATUS_SUCCESS;
	a->out.msgid = ++r->next_msgid;
	a->out_gen = gen;
	a->out_member = member;
	a->sent_ns = now_ns();
	if (gen)
		r->members[member].msgid = a->out.msgid;
	appwire_encode_msg(buf, &a->out);
	if (op == TXN_THAW)
		set_frozen(r, a, false);   /* FROZEN is cleared by sending THAW */
	a->state = APP_WAITING;
	if (send_frame(a, buf, sizeof(buf)) < 0) {
		app_hangup(a, errno == EAGAIN ? 0 : errno);
		return -1;
	}
	loop_timer_arm(r->loop, &a->timer, a->timeout_ms, on_app_timer, a);
	log_debug("app %s (id %u): %s msgid %llu sent", a->name, a->id,
		  appwire_op_name(a->out.opt), (unsigned long long)a->out.msgid);
	return 0;
}

/* A FREEZE success that arrived after its phase: the app holds its writes and is owed
 * a THAW (§4.4). With the transaction's THAW if it is still to come, else now: by then
 * no filesystem is frozen, since the apps stage thaws last. */
static void owe_thaw(struct app *a)
{
	struct registry *r = a->reg;
	set_frozen(r, a, true);
	if (r->held) {
		log_info("app %s (id %u): frozen late; it gets THAW with the transaction's thaw",
			 a->name, a->id);
		return;
	}
	log_info("app %s (id %u): frozen after its freeze was over; sending THAW now", a->name,
		 a->id);
	send_request(a, TXN_THAW, 0, 0);
}

static void on_reply(struct app *a, const uint8_t *buf, size_t len)
{
	struct registry *r = a->reg;
	struct appwire_msg rep;
	char detail[APPWIRE_DETAIL_FIELD] = "";
	enum appwire_err e;
	bool late = a->state == APP_LATE, in_phase, owed = a->out_gen == 0;
	bool success;
	uint64_t latency;
	size_t member;

	if (len != APPWIRE_MSG_SIZE && !(len == APPWIRE_DETAIL_SIZE && a->version >= 2)) {
		app_drop(a, "wrong frame size %zu", len);
		return;
	}
	e = len == APPWIRE_MSG_SIZE ? appwire_decode_reply(buf, len, &rep)
				    : appwire_decode_reply_detail(buf, len, &rep, detail);
	if (e != APPWIRE_OK) {
		app_drop(a, "bad reply: %s", appwire_strerror(e));
		return;
	}
	if (appwire_reply_matches(&a->out, &rep) != APPWIRE_OK) {
		app_drop(a, "reply does not match the request (got %s msgid %llu, asked %s msgid %llu)",
			 appwire_op_name(rep.opt), (unsigned long long)rep.msgid,
			 appwire_op_name(a->out.opt), (unsigned long long)a->out.msgid);
		return;
	}
	success = rep.status == APPWIRE_STATUS_SUCCESS;
	latency = now_ns() - a->sent_ns;
	loop_timer_disarm(r->loop, &a->timer);
	a->state = APP_IDLE;
	in_phase = !late && !owed && r->running && a->out_gen == r->gen &&
		   a->out_member < r->n_members && r->members[a->out_member].result == M_PENDING;
	member = a->out_member;
	a->out_gen = 0;
	appext_note_detail(a->name, a->id, rep.opt, detail, a->last_detail,
			   in_phase ? r->members[member].detail : NULL);
	if (in_phase) {
		note_last(a, rep.opt, success ? "ok" : "failed", latency);
		log_debug("app %s (id %u): %s %s in %.2f ms", a->name, a->id,
			  appwire_op_name(rep.opt), success ? "ok" : "failed", ns_to_ms(latency));
	} else if (late) {
		note_last(a, rep.opt, success ? "late ok" : "late failed", latency);
		log_info("app %s (id %u): late %s answer to %s msgid %llu after %.1f ms (timeout %u ms)",
			 a->name, a->id, success ? "success" : "failure", appwire_op_name(rep.opt),
			 (unsigned long long)rep.msgid, ns_to_ms(latency), a->timeout_ms);
	} else if (owed) {
		/* The answer to a THAW sent outside a phase (owed after a late freeze). */
		note_last(a, rep.opt, success ? "ok" : "failed", latency);
		log_info("app %s (id %u): %s %s in %.1f ms", a->name, a->id,
			 appwire_op_name(rep.opt), success ? "ok" : "failed", ns_to_ms(latency));
	} else {
		/* In time, but its phase had already ended (a required app failed first). */
		note_last(a, rep.opt, success ? "ok" : "failed", latency);
		log_info("app %s (id %u): %s answer to %s msgid %llu came after the %s was over",
			 a->name, a->id, success ? "success" : "failure", appwire_op_name(rep.opt),
			 (unsigned long long)rep.msgid, rep.opt == APPWIRE_OP_CHECK ? "check" :
			 rep.opt == APPWIRE_OP_FREEZE ? "freeze" : "thaw");
	}
	if (rep.opt == APPWIRE_OP_THAW && !success && !in_phase)
		log_warnx("app %s (id %u): THAW failed; it counts as thawed", a->name, a->id);
	if (in_phase) {
		if (rep.opt == APPWIRE_OP_FREEZE && success)
			set_frozen(r, a, true);
		member_done(r, member, success ? M_OK : M_FAILED, latency);
	} else if (rep.opt == APPWIRE_OP_FREEZE && success) {
		owe_thaw(a);   /* may drop a: do not touch it after this */
	}
}

/* ------------------------------------------------------------ registration */

static void refusal_log(struct registry *r, struct app *a, const char *why)
{
	uint64_t now = now_ms();
	if (now - r->refusal_window_ms >= 1000) {
		if (r->refusals_suppressed)
			log_warnx("apps: %u more refusals not logged", r->refusals_suppressed);
		r->refusal_window_ms = now;
		r->refusals_logged = 0;
		r->refusals_suppressed = 0;
	}
	if (r->refusals_logged++ < REFUSAL_LOGS_PER_S)
		log_warnx("app connection (pid %d, uid %u): %s", (int)a->pid, a->uid, why);
	else
		r->refusals_suppressed++;
}

static void refuse(struct app *a, enum appwire_result res, const char *fmt, ...) LOG_PRINTF(3, 4);

static void refuse(struct app *a, enum appwire_result res, const char *fmt, ...)
{
	/* The hello's version if it decoded (a version 1 app must read the refusal),
	 * our highest for a version we do not speak, else 1, which everyone reads. */
	struct appwire_welcome w = {
		.version = res == APPWIRE_REFUSED_VERSION ? APPWIRE_VERSION
			   : a->version ? a->version : APPWIRE_VERSION_MIN,
		.result = (uint16_t)res };
	uint8_t buf[APPWIRE_WELCOME_SIZE];
	char why[256], line[320];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	snprintf(line, sizeof(line), "refused (%s): %s", appwire_result_name(res), why);
	refusal_log(a->reg, a, line);
	appwire_encode_welcome(buf, &w);
	(void)send_frame(a, buf, sizeof(buf));   /* best effort: we close anyway */
	app_gone(a);
}

/* A holder of the name that has already hung up (a restarted app may reconnect before
 * we read the old connection's EOF) is reaped rather than refusing the newcomer. */
static bool holder_gone(struct app *h)
{
	struct pollfd p = { .fd = h->fd, .events = POLLIN | POLLRDHUP };
	if (poll(&p, 1, 0) < 0)
		return false;
	return (p.revents & (POLLHUP | POLLRDHUP | POLLERR)) != 0;
}

static void on_hello(struct app *a, const uint8_t *buf, size_t len)
{
	struct registry *r = a->reg;
	struct appwire_hello h;
	struct appwire_welcome w = { .version = APPWIRE_VERSION, .result = APPWIRE_ACCEPTED };
	uint8_t out[APPWIRE_WELCOME_SIZE];
	enum appwire_err e;
	struct app *holder;

	e = appwire_decode_hello(buf, len, &h);
	if (e != APPWIRE_OK) {
		refuse(a, appwire_refusal_for(e), "bad hello (%zu bytes): %s", len,
		       appwire_strerror(e));
		return;
	}
	a->version = h.version;
	w.version = h.version;
	if (!a->allowed) {
		refuse(a, APPWIRE_REFUSED_PERMISSION, "uid %u gid %u may not register %s", a->uid,
		       a->gid, h.name);
		return;
	}
	/* Not a check, housekeeping: a dead holder of the name must not count against
	 * the limit either. */
	holder = find_name(r, h.name);
	if (holder && holder_gone(holder)) {
		log_info("app %s (id %u): its connection is closed; making way for a new one",
			 holder->name, holder->id);
		app_hangup(holder, 0);
	}
	if (admit_may_register(&r->adm, a->uid) != SLOTS_OK) {
		refuse(a, APPWIRE_REFUSED_TOO_MANY, "%u apps registered already (--max-apps%s)",
		       r->n_apps, r->n_apps < r->max_apps ? "; the rest are kept for root's" : "");
		return;
	}
	if (a->over_rate) {
		refuse(a, APPWIRE_REFUSED_TOO_MANY, "more than %u connections per second "
		       "(--app-connect-rate)", r->rate);
		return;
	}
	holder = find_name(r, h.name);
	if (holder) {
		refuse(a, APPWIRE_REFUSED_NAME_TAKEN, "%s is registered already (id %u, pid %d)",
		       h.name, holder->id, (int)holder->pid);
		return;
	}

	loop_timer_disarm(r->loop, &a->timer);
	list_unlink(r, a);                    /* out of the HELLO list */
	str_copy(a->name, h.name, sizeof(a->name));
	a->optional = (h.flags & APPWIRE_F_OPTIONAL) != 0;
	a->timeout_ms = appwire_effective_timeout(h.timeout_ms, r->default_timeout_ms,
						  r->max_timeout_ms);
	a->id = ++r->next_id;
	a->state = APP_IDLE;
	a->prev = r->tail;
	a->next = NULL;
	if (r->tail)
		r->tail->next = a;
	else
		r->head = a;
	r->tail = a;
	r->n_apps++;
	admit_registered(&r->adm, a->uid);
	hash_add(r, a);

	w.app_id = a->id;
	w.timeout_ms = a->timeout_ms;
	w.flags = a->optional ? APPWIRE_F_OPTIONAL : 0;
	appwire_encode_welcome(out, &w);
	if (send_frame(a, out, sizeof(out)) < 0) {
		app_hangup(a, errno);
		return;
	}
	/* Registered now; it takes part from the next transaction on (§4.6). */
	log_info("app %s registered: id %u, pid %d, uid %u, %s, timeout %u ms%s", a->name, a->id,
		 (int)a->pid, a->uid, a->optional ? "optional" : "required", a->timeout_ms,
		 r->running ? "; joins from the next transaction" : "");
	accept_resume(r);
}

/* ------------------------------------------------------------ events */

static void on_app_timer(struct loop *loop, void *arg)
{
	struct app *a = arg;
	struct registry *r = a->reg;
	(void)loop;

	switch (a->state) {
	case APP_HELLO:
		log_warnx("app connection (pid %d, uid %u): no hello within %d s; closed",
			  (int)a->pid, a->uid, HELLO_TIMEOUT_MS / 1000);
		app_gone(a);
		return;
	case APP_WAITING: {
		bool in_phase = r->running && a->out_gen == r->gen && a->out_gen != 0 &&
				a->out_member < r->n_members &&
				r->members[a->out_member].result == M_PENDING;
		/* The late window: one more timeout for an answer (§3). */
		a->state = APP_LATE;
		note_last(a, a->out.opt, "timeout", 0);
		loop_timer_arm(r->loop, &a->timer, a->timeout_ms, on_app_timer, a);
		if (in_phase)
			member_done(r, a->out_member, M_TIMEOUT, now_ns() - a->sent_ns);
		else
			log_warnx("app %s (id %u): no answer to %s msgid %llu within %u ms", a->name,
				  a->id, appwire_op_name(a->out.opt),
				  (unsigned long long)a->out.msgid, a->timeout_ms);
		return;
	}
	case APP_LATE:
		app_drop(a, "hung: no answer to %s msgid %llu within twice its timeout (%u ms)",
			 appwire_op_name(a->out.opt), (unsigned long long)a->out.msgid,
			 2 * a->timeout_ms);
		return;
	case APP_IDLE:
		return;
	}
}

static void on_query(struct app *a, const uint8_t *buf, size_t len);

static void on_app_event(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct app *a = arg;
	uint8_t buf[RECV_BUF];
	struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;
	(void)loop;
	(void)events;

	/* One frame per wakeup: a chatty app cannot starve the others. */
	n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		app_hangup(a, errno == ECONNRESET ? 0 : errno);
		return;
	}
	if (n == 0) {
		app_hangup(a, 0);
		return;
	}
	if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
		const char *what = mh.msg_flags & MSG_TRUNC ? "a frame longer than any frame"
							    : "a frame with ancillary data";
		if (a->state == APP_HELLO)
			refuse(a, APPWIRE_REFUSED_HELLO, "%s", what);
		else
			app_drop(a, "garbage: %s", what);
		return;
	}
	if (a->state != APP_HELLO && a->version >= 2 && n == APPWIRE_QUERY_SIZE) {
		on_query(a, buf, (size_t)n);
		return;
	}
	switch (a->state) {
	case APP_HELLO:
		on_hello(a, buf, (size_t)n);
		return;
	case APP_IDLE:
		app_drop(a, "reply to a request that was not asked (%zd bytes)", n);
		return;
	case APP_WAITING:
	case APP_LATE:
		on_reply(a, buf, (size_t)n);
		return;
	}
}

/* v2: a question, in any registered state; the outstanding request stays as it is. */
static void on_query(struct app *a, const uint8_t *buf, size_t len)
{
	uint16_t kind;
	enum appwire_err e = appwire_decode_query(buf, len, &kind);

	if (e != APPWIRE_OK) {
		app_drop(a, "bad query: %s", appwire_strerror(e));
		return;
	}
	if (appext_answer_filesystems(a->fd, &a->reg->fs_source, a->name, a->id) < 0)
		app_hangup(a, errno == EAGAIN ? 0 : errno);
}

static bool credentials_allowed(struct registry *r, int fd, const struct ucred *c)
{
	gid_t groups[256], *g = groups;
	socklen_t len = sizeof(groups);
	bool yes = false;

	if (c->uid == 0)
		return true;
	if (!r->group_set)
		return false;
	if (c->gid == r->gid)
		return true;
	/* Supplementary groups, as they were when the peer connected. */
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, g, &len) < 0) {
		if (errno != ERANGE || !(g = malloc(len)))
			return false;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, g, &len) < 0) {
			free(g);
			return false;
		}
	}
	for (size_t i = 0; i < len / sizeof(gid_t) && !yes; i++)
		yes = g[i] == r->gid;
	if (g != groups)
		free(g);
	return yes;
}

/* A connection beyond the pending slots its uid may take (apps/admit.h): refused at
 * once, so that it holds no slot until the hello timeout. */
static void refuse_at_accept(struct registry *r, int fd, const struct ucred *cred,
			     enum slots_verdict v)
{
	struct appwire_welcome w = { .version = APPWIRE_VERSION,
				     .result = APPWIRE_REFUSED_TOO_MANY };
	struct app who = { .reg = r, .pid = cred->pid, .uid = cred->uid };
	uint8_t buf[APPWIRE_WELCOME_SIZE];
	char line[160];

	snprintf(line, sizeof(line), "refused (%s): connections without a hello: %s",
		 appwire_result_name(APPWIRE_REFUSED_TOO_MANY),
		 v == SLOTS_UID_FULL ? "its user holds its share" : "all that others may hold");
	refusal_log(r, &who, line);
	appwire_encode_welcome(buf, &w);
	(void)send(fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_NOSIGNAL);
	/* A hello already sent would be unread: closing then resets the connection, and
	 * the app sees that instead of the refusal. Read it (one frame, maybe two). */
	for (int i = 0; i < 2 && recv(fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_TRUNC) > 0; i++)
		;
	close(fd);
}

static void accept_pause(struct registry *r)
{
	if (!r->accept_paused && loop_mod_fd(r->loop, r->lfd, 0) == 0)
		r->accept_paused = true;
}

static void accept_resume(struct registry *r)
{
	if (r->accept_paused && r->n_hello < MAX_HELLO && !loop_timer_armed(&r->accept_timer) &&
	    loop_mod_fd(r->loop, r->lfd, EPOLLIN) == 0)
		r->accept_paused = false;
}

static void on_accept_timer(struct loop *loop, void *arg)
{
	(void)loop;
	accept_resume(arg);
}

static void on_accept(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct registry *r = arg;
	(void)events;

	while (r->n_hello < MAX_HELLO) {
		struct ucred cred;
		socklen_t len = sizeof(cred);
		struct app *a;
		enum slots_verdict v;
		int cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

		if (cfd < 0) {
			if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED)
				return;
			/* Out of fds or memory: the socket stays readable, so wait a little
			 * instead of spinning. */
			log_warn("apps: accept");
			accept_pause(r);
			loop_timer_arm(loop, &r->accept_timer, 200, on_accept_timer, r);
			return;
		}
		if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
			log_warn("apps: new connection");
			close(cfd);
			continue;
		}
		v = admit_connect(&r->adm, cred.uid);
		if (v != SLOTS_OK) {
			refuse_at_accept(r, cfd, &cred, v);
			continue;
		}
		if (!(a = calloc(1, sizeof(*a)))) {
			log_warn("apps: new connection");
			admit_pending_done(&r->adm, cred.uid);
			close(cfd);
			continue;
		}
		a->reg = r;
		a->fd = cfd;
		a->state = APP_HELLO;
		a->pid = cred.pid;
		a->uid = cred.uid;
		a->gid = cred.gid;
		a->allowed = credentials_allowed(r, cfd, &cred);
		a->over_rate = !admit_token(&r->adm, cred.uid, now_ms());
		a->connected_wall = wall_ms();
		if (loop_add_fd(loop, cfd, EPOLLIN, on_app_event, a) < 0) {
			log_warn("apps: new connection");
			admit_pending_done(&r->adm, cred.uid);
			close(cfd);
			free(a);
			continue;
		}
		a->next = r->hello;
		if (r->hello)
			r->hello->prev = a;
		r->hello = a;
		r->n_hello++;
		loop_timer_arm(loop, &a->timer, HELLO_TIMEOUT_MS, on_app_timer, a);
	}
	accept_pause(r);
}

/* ------------------------------------------------------------ the stage */

static enum stage_rc apps_start(void *self, enum txn_op op, const struct txn_request *req,
				bool *ok, char *msg, size_t msglen)
{
	struct registry *r = self;
	struct app *a, *next;
	(void)req;

	r->gen++;
	if (r->gen == 0)
		r->gen = 1;   /* 0 means "no phase" */
	r->op = op;
	r->running = true;
	r->in_start = true;
	r->n_members = 0;
	r->pending = 0;
	r->ok = true;
	r->msg[0] = '\0';
	r->t0 = now_ns();
	loop_timer_disarm(r->loop, &r->done_timer);

	if (op == TXN_THAW) {
		r->held = false;
		/* Exactly the apps that froze, sent in reverse registration order. */
		for (a = r->tail; a; a = next) {
			struct member *m;
			next = a->prev;
			if (!a->frozen)
				continue;
			m = &r->members[r->n_members];
			*m = (struct member){ .app = a, .id = a->id, .optional = a->optional,
					      .result = M_PENDING };
			str_copy(m->name, a->name, sizeof(m->name));
			r->n_members++;
			r->pending++;
			if (a->state != APP_IDLE) {
				/* Cannot happen (frozen apps have nothing outstanding); be safe. */
				set_frozen(r, a, false);
				member_done(r, r->n_members - 1, M_BUSY, 0);
				continue;
			}
			send_request(a, op, r->gen, r->n_members - 1);
		}
	} else {
		struct app *busy = NULL;
		if (op == TXN_FREEZE)
			r->held = true;
		for (a = r->head; a && !busy; a = a->next)
			if (!a->optional && a->state != APP_IDLE)
				busy = a;
		for (a = r->head; a && r->running; a = next) {
			struct member *m = &r->members[r->n_members];
			next = a->next;
			*m = (struct member){ .app = a, .id = a->id, .optional = a->optional,
					      .result = busy ? M_NOT_ASKED : M_PENDING };
			str_copy(m->name, a->name, sizeof(m->name));
			r->n_members++;
			if (a->state != APP_IDLE) {
				/* One request at a time: still busy from an earlier transaction
				 * counts as timed out at once (§3). */
				m->msgid = a->out.msgid;
				if (busy) {
					m->result = M_BUSY;
					continue;
				}
				r->pending++;
				member_done(r, r->n_members - 1, M_BUSY, 0);
				continue;
			}
			if (busy)
				continue;   /* the phase fails anyway: ask nobody, hold nothing */
			r->pending++;
			send_request(a, op, r->gen, r->n_members - 1);
		}
		if (busy) {
			struct member m = { .app = busy, .result = M_BUSY };
			char why[128];
			r->ok = false;
			snprintf(r->msg, sizeof(r->msg), "app %s (id %u) %s", busy->name, busy->id,
				 reason(&m, r, why, sizeof(why)));
			log_warnx("%s: nobody was asked to %s", r->msg, op_word(op));
			r->in_start = true;
			finish_phase(r);
		}
	}
	r->in_start = false;
	if (r->running && r->pending == 0) {
		r->in_start = true;
		finish_phase(r);
		r->in_start = false;
	}
	if (r->running)
		return STAGE_PENDING;
	*ok = r->ok;
	str_copy(msg, r->msg, msglen);
	return STAGE_DONE;
}

/* The engine stops waiting: a THAW overtook the FREEZE, or its watchdog fired. The
 * requests stay outstanding; their answers are handled as late ones. */
static void apps_cancel(void *self)
{
	struct registry *r = self;
	size_t n = 0;

	if (!r->running)
		return;
	for (size_t i = 0; i < r->n_members; i++) {
		if (r->members[i].result == M_PENDING) {
			r->members[i].result = M_CANCELLED;
			n++;
		}
	}
	r->pending = 0;
	if (r->op != TXN_THAW && n && r->ok) {
		r->ok = false;
		snprintf(r->msg, sizeof(r->msg), "cancelled with %zu app%s still to answer the %s", n,
			 n == 1 ? "" : "s", op_word(r->op));
	}
	finish_phase(r);
}

static void apps_report(void *self, struct json_object *out)
{
	struct registry *r = self;
	struct json_object *arr = json_object_new_array_ext((int)r->n_members);

	for (size_t i = 0; i < r->n_members; i++) {
		const struct member *m = &r->members[i];
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "name", json_object_new_string(m->name));
		json_object_object_add(o, "id", json_object_new_int64(m->id));
		json_object_object_add(o, "required", json_object_new_boolean(!m->optional));
		json_object_object_add(o, "result", json_object_new_string(result_names[m->result]));
		if (m->msgid)
			json_object_object_add(o, "msgid", json_object_new_int64((int64_t)m->msgid));
		if (m->result != M_PENDING && m->result != M_NOT_ASKED && m->result != M_BUSY)
			json_object_object_add(o, "ms", json_object_new_double(ns_to_ms(m->latency_ns)));
		if (m->detail[0])
			json_object_object_add(o, "detail", json_object_new_string(m->detail));
		json_object_array_add(arr, o);
	}
	json_object_object_add(out, "apps", arr);
	json_object_object_add(out, "registered", json_object_new_int64(r->n_apps));
}

static unsigned apps_count(void *self, enum txn_op op)
{
	struct registry *r = self;
	unsigned n = 0;
	if (op != r->op)
		return 0;
	for (size_t i = 0; i < r->n_members; i++)
		n += op == TXN_THAW ? r->members[i].result != M_PENDING
				    : r->members[i].result == M_OK;
	return n;
}

static bool apps_active(void *self)
{
	return ((struct registry *)self)->n_frozen > 0;
}

const struct stage_ops registry_stage_ops = {
	.name = "apps",
	.filesystems = false,
	.start = apps_start,
	.cancel = apps_cancel,
	.report = apps_report,
	.count = apps_count,
	.active = apps_active,
};

/* ------------------------------------------------------------ listing */

void registry_list(struct registry *r, struct json_object *out)
{
	struct json_object *arr = json_object_new_array_ext((int)r->n_apps);
	uint64_t now = wall_ms();

	for (struct app *a = r->head; a; a = a->next) {
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "name", json_object_new_string(a->name));
		json_object_object_add(o, "id", json_object_new_int64(a->id));
		json_object_object_add(o, "pid", json_object_new_int64(a->pid));
		json_object_object_add(o, "uid", json_object_new_int64(a->uid));
		json_object_object_add(o, "required", json_object_new_boolean(!a->optional));
		json_object_object_add(o, "protocol", json_object_new_int64(a->version));
		json_object_object_add(o, "timeout_ms", json_object_new_int64(a->timeout_ms));
		json_object_object_add(o, "state", json_object_new_string(state_name(a)));
		if (a->state == APP_WAITING || a->state == APP_LATE) {
			json_object_object_add(o, "asked", json_object_new_string(appwire_op_name(a->out.opt)));
			json_object_object_add(o, "asked_ms",
					       json_object_new_double(ns_to_ms(now_ns() - a->sent_ns)));
		}
		json_object_object_add(o, "connected_at", json_object_new_int64((int64_t)a->connected_wall));
		json_object_object_add(o, "connected_ms",
				       json_object_new_int64((int64_t)(now - a->connected_wall)));
		if (a->last_result) {
			struct json_object *l = json_object_new_object();
			json_object_object_add(l, "op", json_object_new_string(appwire_op_name(a->last_op)));
			json_object_object_add(l, "result", json_object_new_string(a->last_result));
			if (strcmp(a->last_result, "timeout") != 0)
				json_object_object_add(l, "ms",
						       json_object_new_double(ns_to_ms(a->last_latency_ns)));
			json_object_object_add(l, "at", json_object_new_int64((int64_t)a->last_at_wall));
			if (a->last_detail[0])
				json_object_object_add(l, "detail", json_object_new_string(a->last_detail));
			json_object_object_add(o, "last", l);
		}
		json_object_array_add(arr, o);
	}
	json_object_object_add(out, "apps", arr);
	json_object_object_add(out, "count", json_object_new_int64(r->n_apps));
	json_object_object_add(out, "max", json_object_new_int64(r->max_apps));
	json_object_object_add(out, "socket", json_object_new_string(r->path));
}

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

/* Another daemon answering on the path means we must not steal its socket. */
static bool someone_listens(const struct sockaddr_un *sa)
{
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	bool yes;
	if (fd < 0)
		return false;
	yes = connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0;
	close(fd);
	return yes;
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

struct registry *registry_open(struct loop *loop, struct engine *engine,
			       const struct registry_config *cfg)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct registry *r;
	size_t hs = 16;
	mode_t old;

	if (strlen(cfg->socket_path) >= sizeof(sa.sun_path)) {
		log_warnx("app socket path too long: %s", cfg->socket_path);
		return NULL;
	}
	str_copy(sa.sun_path, cfg->socket_path, sizeof(sa.sun_path));
	r = calloc(1, sizeof(*r));
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
			goto fail;
		}
		r->group_set = true;
	}
	while (hs < 2 * (size_t)r->max_apps)
		hs *= 2;
	r->hash = calloc(hs, sizeof(*r->hash));
	r->hash_mask = hs - 1;
	r->members = table_alloc(r->max_apps, sizeof(*r->members));
	r->path = strdup(cfg->socket_path);
	if (!r->hash || !r->members || !r->path)
		goto fail;
	raise_fd_limit(r->max_apps);

	r->lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (r->lfd < 0) {
		log_warn("apps: socket");
		goto fail;
	}
	if (someone_listens(&sa)) {
		log_warnx("another quiesced is already running (it answers on %s)", r->path);
		goto fail;
	}
	unlink(r->path);   /* stale: nobody answered above */
	/* Created 0600 and widened only once its group is set: no moment where it is
	 * reachable by more than configured. */
	old = umask(0177);
	if (bind(r->lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		umask(old);
		log_warn("apps: bind %s", r->path);
		goto fail;
	}
	umask(old);
	if ((r->group_set && chown(r->path, (uid_t)-1, r->gid) < 0) ||
	    chmod(r->path, cfg->mode & 0777) < 0 || listen(r->lfd, SOMAXCONN) < 0 ||
	    loop_add_fd(loop, r->lfd, EPOLLIN, on_accept, r) < 0) {
		log_warn("apps: %s", r->path);
		unlink(r->path);
		goto fail;
	}
	log_info("apps: listening on %s (mode %04o%s%s), at most %u apps", r->path,
		 cfg->mode & 0777, r->group_set ? ", group " : "", r->group_set ? cfg->group : "",
		 r->max_apps);
	return r;
fail:
	if (r->lfd >= 0)
		close(r->lfd);
	free(r->hash);
	table_free(r->members, r->max_apps, sizeof(*r->members));
	free(r->path);
	free(r);
	return NULL;
}

void registry_set_fs(struct registry *r, const struct appext_fs_source *src)
{
	if (r)
		r->fs_source = *src;
}

void registry_close(struct registry *r)
{
	if (!r)
		return;
	/* The filesystems are thawed by now (engine_shutdown); apps take the close as a
	 * disconnect and thaw themselves if they still hold anything. */
	r->running = false;
	while (r->hello)
		app_gone(r->hello);
	while (r->head)
		app_gone(r->head);
	loop_timer_disarm(r->loop, &r->done_timer);
	loop_timer_disarm(r->loop, &r->accept_timer);
	loop_del_fd(r->loop, r->lfd);
	close(r->lfd);
	unlink(r->path);
	free(r->hash);
	table_free(r->members, r->max_apps, sizeof(*r->members));
	free(r->path);
	free(r);
}
