/*
 * libFuzzer target for the app socket's wire format (src/common/appwire.c).
 *
 * Feeds the input to every decoder. Beyond "no crash, no UB", it checks that a
 * frame that decodes is canonical: encoding what was decoded gives back the
 * same bytes, so two peers can never read one frame two ways.
 *
 * Built two ways (mk/lib.mk): with clang -fsanitize=fuzzer for fuzzing, and with
 * -DFUZZ_REPLAY as a TAP program that replays tests/fuzz/corpus/appwire/.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/appwire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(int cond)
{
	if (!cond)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t out[APPWIRE_MAX_FRAME];
	struct appwire_msg m, m2;
	struct appwire_hello h;
	struct appwire_welcome w;
	char name[APPWIRE_NAME_FIELD + 8];
	enum appwire_err e;

	e = appwire_decode_request(data, size, &m);
	check(appwire_strerror(e) != NULL);
	if (e == APPWIRE_OK) {
		check(size == APPWIRE_MSG_SIZE && m.status == APPWIRE_STATUS_SUCCESS && m.msgid != 0);
		appwire_encode_msg(out, &m);
		check(memcmp(out, data, size) == 0);
		check(appwire_decode_reply(data, size, &m2) == APPWIRE_OK);
	}

	e = appwire_decode_reply(data, size, &m);
	if (e == APPWIRE_OK) {
		check(size == APPWIRE_MSG_SIZE && m.status <= APPWIRE_STATUS_FAIL);
		check(appwire_reply_matches(&m, &m) == APPWIRE_OK);
		appwire_encode_msg(out, &m);
		check(memcmp(out, data, size) == 0);
		check(appwire_op_name(m.opt) != NULL);
	}

	e = appwire_decode_hello(data, size, &h);
	check(appwire_refusal_for(e) < APPWIRE_RESULT_COUNT);
	check(memchr(h.name, '\0', sizeof(h.name)) != NULL);
	if (e == APPWIRE_OK) {
		check(size == APPWIRE_HELLO_SIZE && appwire_name_valid(h.name));
		appwire_encode_hello(out, &h);
		check(memcmp(out, data, size) == 0);
	}

	e = appwire_decode_welcome(data, size, &w);
	if (e == APPWIRE_OK) {
		check(size == APPWIRE_WELCOME_SIZE && appwire_result_name(w.result) != NULL);
		appwire_encode_welcome(out, &w);
		check(memcmp(out, data, size) == 0);
	}

	/* The name check on the raw bytes, as a C string of bounded length. */
	memset(name, 0, sizeof(name));
	memcpy(name, data, size < sizeof(name) - 1 ? size : sizeof(name) - 1);
	(void)appwire_name_valid(name);
	return 0;
}

#ifdef FUZZ_REPLAY
#include <dirent.h>

static int
replay_file(const char *path)
{
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0;
	FILE *f = fopen(path, "rb");
	size_t n;

	if (f == NULL)
		return -1;
	for (;;) {
		if (len == cap) {
			uint8_t *nb = realloc(buf, cap = cap ? cap * 2 : 4096);
			if (nb == NULL) {
				free(buf);
				fclose(f);
				return -1;
			}
			buf = nb;
		}
		n = fread(buf + len, 1, cap - len, f);
		if (n == 0)
			break;
		len += n;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(buf, len);
	free(buf);
	return 0;
}

static int
by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* TAP: one test per corpus file; a crash is a failure prove reports. */
int
main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : FUZZ_CORPUS;
	char *names[4096], path[4096];
	struct dirent *de;
	size_t n = 0, i;
	int failed = 0;
	DIR *d;

	if ((d = opendir(dir)) == NULL) {
		printf("1..1\nnot ok 1 - open corpus %s\n", dir);
		return 1;
	}
	while ((de = readdir(d)) != NULL && n < sizeof(names) / sizeof(names[0]))
		if (de->d_name[0] != '.' && (names[n] = strdup(de->d_name)) != NULL)
			n++;
	closedir(d);
	qsort(names, n, sizeof(names[0]), by_name);
	printf("1..%zu\n", n + 1);
	printf("%s 1 - corpus %s has files\n", n > 0 ? "ok" : "not ok", dir);
	failed = n == 0;
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (replay_file(path) < 0) {
			printf("not ok %zu - %s (unreadable)\n", i + 2, names[i]);
			failed = 1;
		} else {
			printf("ok %zu - %s\n", i + 2, names[i]);
		}
		fflush(stdout);
		free(names[i]);
	}
	return failed;
}
#endif
