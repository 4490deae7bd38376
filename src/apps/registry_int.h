// SPDX-License-Identifier: MIT
/* The app registry's insides, shared by its pieces. Nothing outside src/apps/
 * includes this; the rest of the daemon sees apps/registry.h.
 *
 *   registry.c   the registry as the daemon sees it: made and freed, its socket file,
 *                the stage table, the list for quiescectl apps (registry_)
 *   appaccept.c  the listen socket: accepting, credentials, the per-uid pending
 *                slots and the connection rate, refusals logged (appaccept_)
 *   apphello.c   the handshake: hello, refusal, the name table and the lists
 *                (apphello_)
 *   appconn.c    one connection: receive, send a request, a reply, the timeouts,
 *                hang-up and drop (appconn_)
 *   appphase.c   the member table and the phase: results, why, when it is over
 *                (appphase_)
 *   appstage.c   the engine's stage interface: start, cancel, report (appstage_) */
#ifndef QUIESCE_APPS_REGISTRY_INT_H
#define QUIESCE_APPS_REGISTRY_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "apps/admit.h"
#include "apps/appext.h"
#include "apps/registry.h"
#include "common/appwire.h"
#include "common/log.h"
#include "common/loop.h"

/* docs/protocol.md §3: the first frame must come within 5 s. */
#define HELLO_TIMEOUT_MS 5000
/* Connections that have not said hello yet (apps/admit.h): beyond ADMIT_PENDING we
 * stop accepting and let the kernel's listen backlog hold the rest (libquiesce
 * retries a full backlog). */
#define MAX_HELLO ADMIT_PENDING
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

/* appaccept.c */
void appaccept_on_accept(struct loop *loop, int fd, uint32_t events, void *arg);
/* Accept again if it was paused and a pending slot is free. */
void appaccept_resume(struct registry *r);
/* A refusal, logged at most REFUSAL_LOGS_PER_S a second (the rest counted). */
void appaccept_refusal_log(struct registry *r, const struct app *a, const char *why);

/* apphello.c */
void apphello_on_hello(struct app *a, const uint8_t *buf, size_t len);
/* Answer the hello with a refusal and close: frees a. */
void apphello_refuse(struct app *a, enum appwire_result res, const char *fmt, ...)
	LOG_PRINTF(3, 4);
/* Out of its list (HELLO or registered) and the name table; the counts follow. */
void apphello_unlink(struct registry *r, struct app *a);

/* appconn.c */
void appconn_on_event(struct loop *loop, int fd, uint32_t events, void *arg);
void appconn_on_timer(struct loop *loop, void *arg);
/* The app is gone (hang-up or dropped): §4.5 of the protocol. Frees it. */
void appconn_gone(struct app *a);
void appconn_hangup(struct app *a, int err);
void appconn_drop(struct app *a, const char *fmt, ...) LOG_PRINTF(2, 3);
int appconn_send_frame(struct app *a, const void *buf, size_t len);
/* Send a request (gen 0: outside a phase); on failure the app is gone (freed) and -1
 * returned. */
int appconn_send_request(struct app *a, enum txn_op op, unsigned gen, size_t member);
void appconn_set_frozen(struct registry *r, struct app *a, bool frozen);

/* appphase.c */
/* Indexed by enum member_result: the names in reports. */
extern const char *const appphase_result_names[M_NOT_ASKED + 1];
const char *appphase_op_word(enum txn_op op);
/* A new phase of op: the member table emptied, nothing pending yet. */
void appphase_begin(struct registry *r, enum txn_op op);
/* a takes part with result (M_PENDING: asked, or about to be). */
struct member *appphase_add(struct registry *r, struct app *a, enum member_result result);
/* What happened to a member, as the predicate of "app NAME (id N) ...". */
const char *appphase_reason(const struct member *m, const struct registry *r, char *buf,
			    size_t len);
void appphase_member_done(struct registry *r, size_t idx, enum member_result res,
			  uint64_t latency);
void appphase_finish(struct registry *r);

/* appstage.c: the stage_ops of apps/registry.h (registry.c holds the table). */
enum stage_rc appstage_start(void *self, enum txn_op op, const struct txn_request *req,
			     bool *ok, char *msg, size_t msglen);
void appstage_cancel(void *self);
void appstage_report(void *self, struct json_object *out);
unsigned appstage_count(void *self, enum txn_op op);
bool appstage_active(void *self);

#endif
