// SPDX-License-Identifier: MIT
/*
 * mdbwriter: one MariaDB session that commits as fast as it can, for the restore
 * test (tests/integration/db_mariadb.py). Each InnoDB transaction inserts row
 * (writer, seq) into commits and bumps the writer's counter; once the COMMIT is
 * acknowledged, "seq t" goes to the log (t: CLOCK_MONOTONIC in ns), and then the
 * same row goes into arialog, an Aria table (non-transactional, crash-safe).
 *
 *   mdbwriter DEFAULTS_FILE WRITER LOGFILE   until SIGTERM, or the server goes away (exit 1)
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mysql.h>

#include "writer.h"


static int
run(MYSQL *m, const char *sql)
{
	if (mysql_query(m, sql) == 0)
		return 1;
	if (!stop)
		fprintf(stderr, "mdbwriter: %s: %s\n", sql, mysql_error(m));
	return 0;
}

int
main(int argc, char **argv)
{
	char sql[256];
	long long seq;
	MYSQL *m;
	FILE *log;
	int w;

	if (argc != 4) {
		fprintf(stderr, "usage: mdbwriter DEFAULTS_FILE WRITER LOGFILE\n");
		return 2;
	}
	w = atoi(argv[2]);
	signal(SIGTERM, on_term);
	m = mysql_init(NULL);
	mysql_optionsv(m, MYSQL_READ_DEFAULT_FILE, argv[1]);
	mysql_optionsv(m, MYSQL_READ_DEFAULT_GROUP, "client");
	if (mysql_real_connect(m, NULL, NULL, NULL, "t", 0, NULL, 0) == NULL) {
		fprintf(stderr, "mdbwriter: %s\n", mysql_error(m));
		return 1;
	}
	if ((log = fopen(argv[3], "w")) == NULL)
		return 1;
	snprintf(sql, sizeof(sql), "INSERT IGNORE INTO counters VALUES (%d, 0)", w);
	if (!run(m, sql))
		return 1;
	for (seq = 1; !stop; seq++) {
		snprintf(sql, sizeof(sql), "INSERT INTO commits VALUES (%d, %lld, repeat('x', 200))", w, seq);
		if (!run(m, "START TRANSACTION") || !run(m, sql))
			break;
		snprintf(sql, sizeof(sql), "UPDATE counters SET n = n + 1 WHERE writer = %d", w);
		if (!run(m, sql) || !run(m, "COMMIT"))
			break;
		log_ack(log, seq);
		snprintf(sql, sizeof(sql), "INSERT INTO arialog VALUES (%d, %lld)", w, seq);
		if (!run(m, sql))
			break;
	}
	fclose(log);
	mysql_close(m);
	return stop ? 0 : 1;
}
