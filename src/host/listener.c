// SPDX-License-Identifier: MIT
#include "host/listener.h"

#include <errno.h>

#include "common/log.h"

void listener_pause_init(struct listener_pause *p, struct loop *loop, int fd, const char *name)
{
	p->loop = loop;
	p->fd = fd;
	p->name = name;
	p->warned = false;
}

static void on_retry(struct loop *loop, void *arg)
{
	struct listener_pause *p = arg;
	if (loop_mod_fd(loop, p->fd, EPOLLIN) < 0)
		log_warn("%s: cannot poll the socket again", p->name);
}

void listener_accept_failed(struct listener_pause *p)
{
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR || errno == ECONNABORTED)
		return;
	if (!p->warned)
		log_warn("%s: accept (not accepting for %d ms at a time until it works again)",
			 p->name, LISTENER_RETRY_MS);
	p->warned = true;
	if (loop_mod_fd(p->loop, p->fd, 0) == 0)
		loop_timer_arm(p->loop, &p->timer, LISTENER_RETRY_MS, on_retry, p);
}

void listener_accepted(struct listener_pause *p)
{
	if (p->warned)
		log_notice("%s: accepting connections again", p->name);
	p->warned = false;
}

void listener_pause_free(struct listener_pause *p)
{
	loop_timer_disarm(p->loop, &p->timer);
}
