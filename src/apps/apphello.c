// SPDX-License-Identifier: MIT
/* The handshake: a connection's hello is checked (its form, its credentials, the
 * limits, the name) and answered with a welcome or a refusal; a registered app joins
 * the list in registration order and the name table. */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "apps/registry_int.h"
#include "common/util.h"

/* ------------------------------------------------------------ the name table */

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

/* ------------------------------------------------------------ the lists */

void apphello_unlink(struct registry *r, struct app *a)
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

void apphello_refuse(struct app *a, enum appwire_result res, const char *fmt, ...)
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
	appaccept_refusal_log(a->reg, a, line);
	appwire_encode_welcome(buf, &w);
	(void)appconn_send_frame(a, buf, sizeof(buf));   /* best effort: we close anyway */
	appconn_gone(a);
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

/* Refused (and freed) if the hello is bad or the app may not register now: its
 * credentials, the limits, its name. */
static bool hello_refused(struct app *a, const struct appwire_hello *h)
{
	struct registry *r = a->reg;
	struct app *holder;

	if (!a->allowed) {
		apphello_refuse(a, APPWIRE_REFUSED_PERMISSION, "uid %u gid %u may not register %s",
				a->uid, a->gid, h->name);
		return true;
	}
	/* Not a check, housekeeping: a dead holder of the name must not count against
	 * the limit either. */
	holder = find_name(r, h->name);
	if (holder && holder_gone(holder)) {
		log_info("app %s (id %u): its connection is closed; making way for a new one",
			 holder->name, holder->id);
		appconn_hangup(holder, 0);
	}
	if (admit_may_register(&r->adm, a->uid) != SLOTS_OK) {
		apphello_refuse(a, APPWIRE_REFUSED_TOO_MANY, "%u apps registered already (--max-apps%s)",
				r->n_apps, r->n_apps < r->max_apps ? "; the rest are kept for root's" : "");
		return true;
	}
	if (a->over_rate) {
		apphello_refuse(a, APPWIRE_REFUSED_TOO_MANY, "more than %u connections per second "
				"(--app-connect-rate)", r->rate);
		return true;
	}
	holder = find_name(r, h->name);
	if (holder) {
		apphello_refuse(a, APPWIRE_REFUSED_NAME_TAKEN, "%s is registered already (id %u, pid %d)",
				h->name, holder->id, (int)holder->pid);
		return true;
	}
	return false;
}

/* From the HELLO list to the registered ones, last in registration order. */
static void enlist(struct registry *r, struct app *a, const struct appwire_hello *h)
{
	loop_timer_disarm(r->loop, &a->timer);
	apphello_unlink(r, a);                    /* out of the HELLO list */
	str_copy(a->name, h->name, sizeof(a->name));
	a->optional = (h->flags & APPWIRE_F_OPTIONAL) != 0;
	a->timeout_ms = appwire_effective_timeout(h->timeout_ms, r->default_timeout_ms,
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
}

void apphello_on_hello(struct app *a, const uint8_t *buf, size_t len)
{
	struct registry *r = a->reg;
	struct appwire_hello h;
	struct appwire_welcome w = { .version = APPWIRE_VERSION, .result = APPWIRE_ACCEPTED };
	uint8_t out[APPWIRE_WELCOME_SIZE];
	enum appwire_err e;

	e = appwire_decode_hello(buf, len, &h);
	if (e != APPWIRE_OK) {
		apphello_refuse(a, appwire_refusal_for(e), "bad hello (%zu bytes): %s", len,
				appwire_strerror(e));
		return;
	}
	a->version = h.version;
	w.version = h.version;
	if (hello_refused(a, &h))
		return;
	enlist(r, a, &h);
	w.app_id = a->id;
	w.timeout_ms = a->timeout_ms;
	w.flags = a->optional ? APPWIRE_F_OPTIONAL : 0;
	appwire_encode_welcome(out, &w);
	if (appconn_send_frame(a, out, sizeof(out)) < 0) {
		appconn_hangup(a, errno);
		return;
	}
	/* Registered now; it takes part from the next transaction on (§4.6). */
	log_info("app %s registered: id %u, pid %d, uid %u, %s, timeout %u ms%s", a->name, a->id,
		 (int)a->pid, a->uid, a->optional ? "optional" : "required", a->timeout_ms,
		 r->running ? "; joins from the next transaction" : "");
	appaccept_resume(r);
}
