// SPDX-License-Identifier: MIT
/*
 * The main of every fuzz target's replay program ($(BUILD)/tests/fuzz_<name>, see
 * mk/fuzz.mk): feeds each file of the target's corpus to LLVMFuzzerTestOneInput once
 * and prints TAP, so `make check` (and `make check SANITIZE=1`) replays every corpus.
 * A crash, an abort() from a target's invariant check or a sanitizer report ends the
 * program: prove counts it as a failure.
 *
 *   fuzz_<name>                 replay tests/fuzz/corpus/<name>/ (FUZZ_CORPUS)
 *   fuzz_<name> PATH...         replay these files, or every file of these dirs
 *
 * LLVMFuzzerInitialize is called first if the target defines it, as libFuzzer does.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static int n_tests, failed;

static int replay_file(const char *path)
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
	/* Exactly len bytes, as libFuzzer passes them: ASan sees a read past the end. */
	{
		uint8_t *exact = malloc(len ? len : 1);
		if (exact == NULL) {
			free(buf);
			return -1;
		}
		memcpy(exact, buf, len);
		free(buf);
		LLVMFuzzerTestOneInput(exact, len);
		free(exact);
	}
	return 0;
}

static void test_file(const char *path, const char *name)
{
	n_tests++;
	if (replay_file(path) < 0) {
		printf("not ok %d - %s (unreadable)\n", n_tests, name);
		failed = 1;
	} else {
		printf("ok %d - %s\n", n_tests, name);
	}
	fflush(stdout);
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every file of dir, in name order; a test that it has any. */
static void test_dir(const char *dir)
{
	char **names = NULL, path[4096];
	size_t n = 0, cap = 0, i;
	struct dirent *de;
	DIR *d;

	n_tests++;
	if ((d = opendir(dir)) == NULL) {
		printf("not ok %d - open corpus %s\n", n_tests, dir);
		failed = 1;
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (n == cap) {
			char **nv = realloc(names, (cap = cap ? cap * 2 : 64) * sizeof(*names));
			if (nv == NULL)
				break;
			names = nv;
		}
		if ((names[n] = strdup(de->d_name)) != NULL)
			n++;
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof(names[0]), by_name);
	printf("%s %d - corpus %s has files\n", n > 0 ? "ok" : "not ok", n_tests, dir);
	failed |= n == 0;
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		test_file(path, names[i]);
		free(names[i]);
	}
	free(names);
}

int main(int argc, char **argv)
{
	static char *def[] = { NULL, FUZZ_CORPUS, NULL };
	struct stat st;
	int i;

	if (LLVMFuzzerInitialize)
		LLVMFuzzerInitialize(&argc, &argv);
	if (argc < 2) {
		def[0] = argv[0];
		argv = def;
		argc = 2;
	}
	for (i = 1; i < argc; i++) {
		if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode))
			test_dir(argv[i]);
		else
			test_file(argv[i], argv[i]);
	}
	/* The plan at the end: the count is known only now. */
	printf("1..%d\n", n_tests);
	return failed;
}
