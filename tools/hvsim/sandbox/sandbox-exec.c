// SPDX-License-Identifier: MIT
/*
 * sandbox-exec: last gate before the stock hv_vss_daemon runs (built static, so it needs
 * nothing from the new root). Started by run-stock.sh inside a private mount namespace with
 * its cwd on the prepared tmpfs root:
 *
 *   sandbox-exec --allow /dev/loopN=/mnt/mK [...] -- /bin/hv_vss_daemon -n
 *
 * 1. refuses unless its mount namespace differs from PID 1's and its parent's (pivot_root
 *    in the host namespace would move every process's root) and cwd is a tmpfs;
 * 2. pivot_root(".", "oldroot"), detaches the old root;
 * 3. re-reads /proc/mounts and refuses unless "/" is tmpfs and every /dev/... entry is an
 *    allowlisted /dev/loop* on its allowlisted /mnt/... mountpoint (and each of them is
 *    there, with the mountpoint's st_dev equal to the device node's st_rdev);
 * 4. refuses unless the freeze fence is configured (LD_PRELOAD has hvshim, HVSHIM_ALLOW_DEV);
 * 5. execs the program.
 *
 * --verify-mounts FILE checks a mounts file with rule 3 only and exits: for tests.
 * --check-only does 1-4 and exits 0 instead of exec.
 * Exit status: 112 refused, 113 setup failure, 2 usage.
 */
#include <errno.h>
#include <mntent.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#define EXIT_REFUSED 112
#define EXIT_SETUP 113
#define TMPFS_MAGIC_ 0x01021994
#define MAX_ALLOW 32

struct allow {
	char src[128];
	char dst[128];
	bool seen;
};

static struct allow allow[MAX_ALLOW];
static int nallow;

static void refuse(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void refuse(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "sandbox-exec: REFUSED: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(EXIT_REFUSED);
}

static bool safe_name(const char *s, const char *prefix)
{
	size_t n = strlen(prefix);

	if (strncmp(s, prefix, n) != 0 || !s[n] || strstr(s, "..") || strchr(s + n, '/'))
		return false;
	for (; *s; s++)
		if (*s == ' ' || *s == '\t' || *s == '\\' || *s == '\n')
			return false;
	return true;
}

static void add_allow(const char *spec)
{
	const char *eq = strchr(spec, '=');
	size_t n;

	if (!eq || nallow >= MAX_ALLOW)
		refuse("bad --allow %s", spec);
	n = (size_t)(eq - spec);
	if (n >= sizeof(allow[0].src) || strlen(eq + 1) >= sizeof(allow[0].dst))
		refuse("bad --allow %s", spec);
	memcpy(allow[nallow].src, spec, n);
	allow[nallow].src[n] = 0;
	strcpy(allow[nallow].dst, eq + 1);
	/* Only loop devices, each on a single-level mountpoint under /mnt/. */
	if (!safe_name(allow[nallow].src, "/dev/loop") || !safe_name(allow[nallow].dst, "/mnt/"))
		refuse("--allow must be /dev/loopN=/mnt/NAME, got %s", spec);
	nallow++;
}

/* Rule 3. check_dev: also compare the mountpoint's st_dev with the node's st_rdev. */
static void verify_mounts(const char *file, bool check_dev)
{
	FILE *f = setmntent(file, "r");
	struct mntent *e;
	bool root_ok = false;
	int i;

	if (!f)
		refuse("cannot read %s", file);
	while ((e = getmntent(f))) {
		if (strcmp(e->mnt_dir, "/") == 0) {
			if (strcmp(e->mnt_type, "tmpfs") != 0)
				refuse("/ is %s (%s), not tmpfs", e->mnt_type, e->mnt_fsname);
			root_ok = true;
		}
		/* hv_vss_daemon freezes exactly the entries whose source starts with /dev/. */
		if (strncmp(e->mnt_fsname, "/dev/", 5) != 0)
			continue;
		for (i = 0; i < nallow; i++)
			if (strcmp(allow[i].src, e->mnt_fsname) == 0 && strcmp(allow[i].dst, e->mnt_dir) == 0)
				break;
		if (i == nallow)
			refuse("%s on %s is not allowlisted", e->mnt_fsname, e->mnt_dir);
		allow[i].seen = true;
	}
	endmntent(f);
	if (!root_ok)
		refuse("no / entry in %s", file);
	for (i = 0; i < nallow; i++) {
		struct stat sm, sd;

		if (!allow[i].seen)
			refuse("allowlisted %s on %s is not mounted", allow[i].src, allow[i].dst);
		if (!check_dev)
			continue;
		if (stat(allow[i].dst, &sm) < 0 || stat(allow[i].src, &sd) < 0 || !S_ISBLK(sd.st_mode) ||
		    sm.st_dev != sd.st_rdev)
			refuse("%s is not the filesystem of %s", allow[i].dst, allow[i].src);
	}
}

static void verify_fence(void)
{
	const char *pre = getenv("LD_PRELOAD");
	const char *devs = getenv("HVSHIM_ALLOW_DEV");

	if (!pre || !strstr(pre, "hvshim"))
		refuse("LD_PRELOAD does not load hvshim (the freeze fence)");
	if (!devs || !*devs)
		refuse("HVSHIM_ALLOW_DEV is empty");
}

static bool read_ns(const char *link, char *out, size_t n)
{
	ssize_t k = readlink(link, out, n - 1);

	if (k <= 0)
		return false;
	out[k] = 0;
	return true;
}

/*
 * Our mount namespace must differ from PID 1's and from our parent's (the caller, outside
 * unshare). PID 1 may be unreadable in a container, the parent is ours; at least one of
 * them must be readable.
 */
static void verify_namespace(void)
{
	char self[64], other[64], link[64];
	bool compared = false;
	struct statfs sf;

	if (!read_ns("/proc/self/ns/mnt", self, sizeof(self)))
		refuse("cannot read /proc/self/ns/mnt");
	if (read_ns("/proc/1/ns/mnt", other, sizeof(other))) {
		if (strcmp(self, other) == 0)
			refuse("not in a private mount namespace (same as PID 1: %s)", self);
		compared = true;
	}
	snprintf(link, sizeof(link), "/proc/%d/ns/mnt", (int)getppid());
	if (read_ns(link, other, sizeof(other))) {
		if (strcmp(self, other) == 0)
			refuse("not in a private mount namespace (same as parent: %s)", self);
		compared = true;
	}
	if (!compared)
		refuse("cannot compare mount namespaces");
	if (statfs(".", &sf) < 0 || sf.f_type != TMPFS_MAGIC_)
		refuse("cwd is not a tmpfs");
}

static void usage(void)
{
	fprintf(stderr, "usage: sandbox-exec [--check-only] --allow /dev/loopN=/mnt/NAME ... -- PROG [ARGS]\n"
			"       sandbox-exec --verify-mounts FILE --allow ...\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *verify_file = NULL;
	bool check_only = false;
	int i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		} else if (strcmp(argv[i], "--allow") == 0 && i + 1 < argc) {
			add_allow(argv[++i]);
		} else if (strcmp(argv[i], "--verify-mounts") == 0 && i + 1 < argc) {
			verify_file = argv[++i];
		} else if (strcmp(argv[i], "--check-only") == 0) {
			check_only = true;
		} else {
			usage();
		}
	}
	if (nallow == 0)
		refuse("empty allowlist");
	if (verify_file) {
		verify_mounts(verify_file, false);
		fprintf(stderr, "sandbox-exec: %s accepted\n", verify_file);
		return 0;
	}
	if (!check_only && i >= argc)
		usage();

	verify_namespace();
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
		perror("sandbox-exec: make / private");
		return EXIT_SETUP;
	}
	if (syscall(SYS_pivot_root, ".", "oldroot") < 0) {
		perror("sandbox-exec: pivot_root");
		return EXIT_SETUP;
	}
	if (chdir("/") < 0 || umount2("/oldroot", MNT_DETACH) < 0) {
		perror("sandbox-exec: detach old root");
		return EXIT_SETUP;
	}
	rmdir("/oldroot");

	verify_mounts("/proc/mounts", true);
	verify_fence();
	fprintf(stderr, "sandbox-exec: mount table verified (%d allowlisted loop mounts)\n", nallow);
	if (check_only) {
		/* Show what the daemon would see. */
		FILE *f = fopen("/proc/mounts", "r");
		char line[512];

		while (f && fgets(line, sizeof(line), f))
			fprintf(stderr, "sandbox-exec: mounts: %s", line);
		if (f)
			fclose(f);
		return 0;
	}
	execv(argv[i], argv + i);
	perror("sandbox-exec: exec");
	return EXIT_SETUP;
}
