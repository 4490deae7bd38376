// SPDX-License-Identifier: MIT
/* The MariaDB agent's session (see mdbconn.h). */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "mdbconn.h"

#define OPTION_GROUP "quiesce-agent-mariadb"

static void
set_err(struct mdbconn *c, const char *what)
{
	snprintf(c->err, sizeof(c->err), "%s: %s", what, c->m ? mysql_error(c->m) : "out of memory");
}

void
mdbconn_close(struct mdbconn *c)
{
	if (c->m != NULL)
		mysql_close(c->m);
	c->m = NULL;
}

/* A session in an unknown state is not reused: what it held, the server releases. */
static void
drop(struct mdbconn *c)
{
	mdbconn_close(c);
	agent_backoff_failed(&c->backoff);
}

int
mdbconn_ensure(struct mdbconn *c, uint64_t deadline_ns)
{
	unsigned ct, io = MDB_IO_TIMEOUT_S;

	if (c->m != NULL)
		return 0;
	if ((c->m = mysql_init(NULL)) == NULL) {
		set_err(c, "connect");
		agent_backoff_failed(&c->backoff);
		return -1;
	}
	/* Connector/C counts whole seconds: round up, at least 1. */
	ct = (unsigned)((agent_ms_left(deadline_ns) + 999) / 1000);
	if (ct == 0)
		ct = 1;
	mysql_optionsv(c->m, MYSQL_OPT_CONNECT_TIMEOUT, &ct);
	mysql_optionsv(c->m, MYSQL_OPT_READ_TIMEOUT, &io);
	mysql_optionsv(c->m, MYSQL_OPT_WRITE_TIMEOUT, &io);
	if (c->defaults_file != NULL)
		mysql_optionsv(c->m, MYSQL_READ_DEFAULT_FILE, c->defaults_file);
	mysql_optionsv(c->m, MYSQL_READ_DEFAULT_GROUP, OPTION_GROUP);
	if (mysql_real_connect(c->m, NULL, NULL, NULL, NULL, 0, NULL, 0) == NULL) {
		set_err(c, "connect");
		drop(c);
		return -1;
	}
	c->mysql = strstr(mysql_get_server_info(c->m), "MariaDB") == NULL;
	agent_backoff_reset(&c->backoff);
	agent_log(AGENT_INFO, "connected to %s %s", c->mysql ? "MySQL" : "MariaDB",
	    mysql_get_server_info(c->m));
	return 0;
}

/* After an error: is the session still usable? (2006 gone away, 2013 lost.) */
static void
after_error(struct mdbconn *c, const char *sql)
{
	unsigned e = mysql_errno(c->m);

	set_err(c, sql);
	if (e == 2006 || e == 2013 || e == 2055)
		drop(c);
}

static int
discard_results(struct mdbconn *c)
{
	MYSQL_RES *r;

	do {
		if ((r = mysql_store_result(c->m)) != NULL)
			mysql_free_result(r);
		else if (mysql_field_count(c->m) != 0)
			return -1;
	} while (mysql_next_result(c->m) == 0);
	return 0;
}

int
mdbconn_exec(struct mdbconn *c, const char *sql)
{
	if (c->m == NULL) {
		snprintf(c->err, sizeof(c->err), "%s: not connected", sql);
		return -1;
	}
	if (mysql_real_query(c->m, sql, strlen(sql)) != 0 || discard_results(c) < 0) {
		after_error(c, sql);
		return -1;
	}
	return 0;
}

int
mdbconn_row(struct mdbconn *c, const char *sql, char (*vals)[4096], unsigned n)
{
	MYSQL_RES *r;
	MYSQL_ROW row;
	unsigned i, nf;

	if (c->m == NULL) {
		snprintf(c->err, sizeof(c->err), "%s: not connected", sql);
		return -1;
	}
	if (mysql_real_query(c->m, sql, strlen(sql)) != 0 || (r = mysql_store_result(c->m)) == NULL) {
		after_error(c, sql);
		return -1;
	}
	row = mysql_fetch_row(r);
	nf = mysql_num_fields(r);
	for (i = 0; i < n; i++)
		snprintf(vals[i], sizeof(vals[i]), "%s", row && i < nf && row[i] ? row[i] : "");
	mysql_free_result(r);
	return row != NULL;
}

int
mdbconn_fd(const struct mdbconn *c)
{
	return c->m != NULL ? (int)mysql_get_socket(c->m) : -1;
}

void
mdbconn_idle_input(struct mdbconn *c)
{
	char b;

	/* Idle, the server sends nothing unless it closes the session (shutdown,
	 * wait_timeout, KILL): any byte or EOF means the session is over. */
	if (c->m == NULL)
		return;
	if (recv(mdbconn_fd(c), &b, 1, MSG_PEEK | MSG_DONTWAIT) < 0 &&
	    (errno == EAGAIN || errno == EINTR))
		return;
	snprintf(c->err, sizeof(c->err), "the server closed the session");
	agent_log(AGENT_WARN, "MariaDB: %s; reconnecting", c->err);
	drop(c);
}
