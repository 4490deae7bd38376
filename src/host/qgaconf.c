// SPDX-License-Identifier: MIT
/* The qemu-ga backend's config file (see qgaconf.h). */
#include "host/qgaconf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"

extern char **environ;

/* qemu-ga's config is a few lines; a longer one is not its config. */
#define CONF_MAX (64 * 1024)
#define OVERRIDE "\n# quiesced: qemu-ga runs under its supervision, never as a daemon\n" \
	"[general]\ndaemon=false\n"

static char *read_admin(const char *src, size_t *len)
{
	char *buf = malloc(CONF_MAX + 1);
	FILE *in;

	*len = 0;
	if (!buf)
		return NULL;
	in = fopen(src, "r");
	if (!in) {
		if (errno != ENOENT)
			log_warn("qga backend: cannot read %s (qemu-ga runs without it)", src);
		return buf;
	}
	*len = fread(buf, 1, CONF_MAX + 1, in);
	if (*len > CONF_MAX) {
		log_warnx("qga backend: %s is longer than %d bytes: qemu-ga runs without it", src,
			  CONF_MAX);
		*len = 0;
	}
	fclose(in);
	return buf;
}

static int write_copy(const char *path, const char *admin, size_t len)
{
	FILE *out = fopen(path, "w");
	int bad;
	if (!out) {
		log_warn("qga backend: %s", path);
		return -1;
	}
	bad = fwrite(admin, 1, len, out) != len || fputs(OVERRIDE, out) < 0;
	if (fclose(out) != 0 || bad) {
		log_warn("qga backend: writing %s", path);
		return -1;
	}
	return 0;
}

char **qgaconf_prepare(const char *dir)
{
	const char *src = getenv("QGA_CONF") ? getenv("QGA_CONF") : QGACONF_DEFAULT;
	char *admin, *path = NULL, *var = NULL, **env = NULL;
	size_t len, n = 0, k = 0;

	admin = read_admin(src, &len);
	if (!admin || asprintf(&path, "%s/qemu-ga.conf", dir) < 0 || write_copy(path, admin, len) < 0 ||
	    asprintf(&var, "QGA_CONF=%s", path) < 0)
		goto out;
	while (environ[n])
		n++;
	env = calloc(n + 2, sizeof(*env));
	if (!env)
		goto out;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "QGA_CONF=", 9) && !(env[k++] = strdup(environ[i])))
			goto fail;
	env[k] = var;
	var = NULL;
	goto out;
fail:
	qgaconf_free_env(env);
	env = NULL;
out:
	free(admin);
	free(path);
	free(var);
	return env;
}

void qgaconf_free_env(char **env)
{
	if (!env)
		return;
	for (size_t i = 0; env[i]; i++)
		free(env[i]);
	free(env);
}
