// SPDX-License-Identifier: MIT
/* Unit tests for src/fs/mountinfo.c: the /proc/self/mountinfo parser.
 *
 * Samples are in mountinfo_samples.h (shared with test_policy); the odd lines that
 * only the parser cares about are inline below, each with what it shows. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "failalloc.h"
#include "fs/mountinfo.h"
#include "mountinfo_samples.h"

/* ------------------------------------------------------------ helpers */

/* Parses a string literal (without its terminating NUL). */
#define PARSE_LIT(lit, mt, bad) parse_ok((lit), sizeof(lit) - 1, (mt), (bad))

static void parse_ok(const char *text, size_t len, struct mount_table *mt, size_t *bad)
{
	*bad = 12345; /* must be overwritten */
	assert_int_equal(mountinfo_parse(text, len, mt, bad), 0);
}

static void check_entry(const struct mount_entry *e, int id, int parent, unsigned maj,
			unsigned min, const char *root, const char *mp, const char *mopts,
			const char *type, const char *source, const char *sopts)
{
	assert_int_equal(e->id, id);
	assert_int_equal(e->parent_id, parent);
	assert_int_equal(e->major, maj);
	assert_int_equal(e->minor, min);
	assert_string_equal(e->root, root);
	assert_string_equal(e->mountpoint, mp);
	assert_string_equal(e->mount_opts, mopts);
	assert_string_equal(e->fstype, type);
	assert_string_equal(e->source, source);
	assert_string_equal(e->super_opts, sopts);
}

static const struct mount_entry *find_mp(const struct mount_table *mt, const char *mp)
{
	for (size_t i = 0; i < mt->n; i++)
		if (strcmp(mt->v[i].mountpoint, mp) == 0)
			return &mt->v[i];
	fail_msg("no mount at %s", mp);
	return NULL;
}

/* A valid line of exactly len bytes (no newline): the mountpoint is padded with 'a',
 * so it is "/" and len - LINE_FIXED of them. */
#define LINE_HEAD "1 0 8:1 / /"
#define LINE_TAIL " rw - ext4 /dev/sda1 rw"
#define LINE_FIXED (sizeof(LINE_HEAD) - 1 + sizeof(LINE_TAIL) - 1)

static char *line_of_length(size_t len)
{
	const char *head = LINE_HEAD, *tail = LINE_TAIL;
	size_t fixed = LINE_FIXED;
	char *s;

	assert_true(len > fixed);
	s = malloc(len + 1);
	assert_non_null(s);
	memcpy(s, head, strlen(head));
	memset(s + strlen(head), 'a', len - fixed);
	memcpy(s + len - strlen(tail), tail, strlen(tail) + 1);
	assert_int_equal(strlen(s), len);
	return s;
}

/* ------------------------------------------------------------ recorded systems */

static void test_normal_system(void **state)
{
	struct mount_table mt;
	size_t bad;
	(void)state;

	PARSE_LIT(SAMPLE_NORMAL, &mt, &bad);
	assert_int_equal(bad, 0);
	assert_int_equal(mt.n, 22);
	/* Table order is file order: the first and last lines in place. */
	check_entry(&mt.v[0], 21, 26, 0, 20, "/", "/sys", "rw,nosuid,nodev,noexec,relatime",
		    "sysfs", "sysfs", "rw");
	check_entry(&mt.v[21], 410, 25, 0, 43, "/", "/run/user/1000", "rw,nosuid,nodev,relatime",
		    "tmpfs", "tmpfs",
		    "rw,size=203256k,nr_inodes=50814,mode=700,uid=1000,gid=1000,inode64");
	check_entry(&mt.v[5], 26, 1, 8, 2, "/", "/", "rw,relatime", "ext4", "/dev/sda2",
		    "rw,errors=remount-ro");
	check_entry(find_mp(&mt, "/boot"), 62, 26, 8, 3, "/", "/boot", "rw,relatime", "ext4",
		    "/dev/sda3", "rw");
	check_entry(find_mp(&mt, "/boot/efi"), 65, 62, 8, 1, "/", "/boot/efi", "rw,relatime", "vfat",
		    "/dev/sda1",
		    "rw,fmask=0077,dmask=0077,codepage=437,iocharset=ascii,shortname=mixed,utf8,errors=remount-ro");
	check_entry(find_mp(&mt, "/home"), 68, 26, 254, 0, "/", "/home", "rw,relatime", "ext4",
		    "/dev/mapper/vg0-home", "rw");
	check_entry(find_mp(&mt, "/proc"), 22, 26, 0, 21, "/", "/proc",
		    "rw,nosuid,nodev,noexec,relatime", "proc", "proc", "rw");
	check_entry(find_mp(&mt, "/sys/fs/cgroup"), 30, 21, 0, 26, "/", "/sys/fs/cgroup",
		    "rw,nosuid,nodev,noexec,relatime", "cgroup2", "cgroup2",
		    "rw,nsdelegate,memory_recursiveprot");
	/* devtmpfs: the source is "udev", not a path. */
	check_entry(find_mp(&mt, "/dev"), 23, 26, 0, 5, "/", "/dev", "rw,nosuid,relatime",
		    "devtmpfs", "udev", "rw,size=1000244k,nr_inodes=250061,mode=755,inode64");
	/* No optional field at all is needed before "-"; here /dev/shm's has one
	 * after an option list without relatime. */
	check_entry(find_mp(&mt, "/dev/shm"), 28, 23, 0, 24, "/", "/dev/shm", "rw,nosuid,nodev",
		    "tmpfs", "tmpfs", "rw,inode64");
	mount_table_free(&mt);
	assert_null(mt.v);
	assert_int_equal(mt.n, 0);
}

static void test_bind_mounts(void **state)
{
	struct mount_table mt;
	size_t bad;
	(void)state;

	PARSE_LIT(SAMPLE_BIND, &mt, &bad);
	assert_int_equal(bad, 0);
	assert_int_equal(mt.n, 4);
	/* Same superblock (maj:min), different roots and mount options. */
	check_entry(&mt.v[1], 80, 26, 254, 17, "/", "/srv/data", "rw,relatime", "ext4", "/dev/vdb1",
		    "rw");
	check_entry(&mt.v[2], 81, 26, 254, 17, "/www", "/var/www", "rw,relatime", "ext4",
		    "/dev/vdb1", "rw");
	check_entry(&mt.v[3], 82, 26, 254, 17, "/", "/export/data", "ro,relatime", "ext4",
		    "/dev/vdb1", "rw");
	mount_table_free(&mt);
}

static void test_btrfs_subvolumes(void **state)
{
	struct mount_table mt;
	size_t bad;
	(void)state;

	PARSE_LIT(SAMPLE_BTRFS, &mt, &bad);
	assert_int_equal(bad, 0);
	assert_int_equal(mt.n, 6);
	check_entry(&mt.v[2], 26, 1, 0, 26, "/@", "/", "rw,relatime", "btrfs", "/dev/vda2",
		    "rw,discard=async,space_cache=v2,subvolid=256,subvol=/@");
	check_entry(&mt.v[3], 60, 26, 0, 26, "/@home", "/home", "rw,relatime", "btrfs", "/dev/vda2",
		    "rw,discard=async,space_cache=v2,subvolid=257,subvol=/@home");
	check_entry(&mt.v[4], 61, 26, 0, 26, "/@snapshots", "/.snapshots", "rw,relatime", "btrfs",
		    "/dev/vda2", "rw,discard=async,space_cache=v2,subvolid=258,subvol=/@snapshots");
	assert_true(mount_opts_has(mt.v[3].super_opts, "subvol=/@home"));
	assert_false(mount_opts_has(mt.v[3].super_opts, "subvol=/@"));
	mount_table_free(&mt);
}

static void test_nested_mounts(void **state)
{
	struct mount_table mt;
	size_t bad;
	(void)state;

	PARSE_LIT(SAMPLE_NESTED, &mt, &bad);
	assert_int_equal(bad, 0);
	assert_int_equal(mt.n, 6);
	/* The parent chain: /srv/data/deep -> /srv/data -> /srv -> / -> (outside). */
	assert_int_equal(find_mp(&mt, "/srv/data/deep")->parent_id, find_mp(&mt, "/srv/data")->id);
	assert_int_equal(find_mp(&mt, "/srv/data")->parent_id, find_mp(&mt, "/srv")->id);
	assert_int_equal(find_mp(&mt, "/srv")->parent_id, find_mp(&mt, "/")->id);
	assert_int_equal(find_mp(&mt, "/srv/tmp/x")->parent_id, find_mp(&mt, "/srv/tmp")->id);
	check_entry(find_mp(&mt, "/srv"), 90, 26, 254, 17, "/", "/srv", "rw,relatime", "xfs",
		    "/dev/vdb1", "rw,attr2,inode64,logbufs=8,logbsize=32k,noquota");
	mount_table_free(&mt);
}

static void test_loop_mounts(void **state)
{
	struct mount_table mt;
	size_t bad;
	(void)state;

	PARSE_LIT(SAMPLE_LOOP, &mt, &bad);
	assert_int_equal(bad, 0);
	assert_int_equal(mt.n, 8);
	check_entry(find_mp(&mt, "/tmp/q/mnt/a"), 112, 40, 7, 0, "/", "/tmp/q/mnt/a", "rw,relatime",
		    "ext4", "/dev/loop0", "rw");
	check_entry(find_mp(&mt, "/media/iso"), 114, 26, 7, 2, "/", "/media/iso", "ro,relatime",
		    "iso9660", "/dev/loop2",
		    "ro,nojoliet,check=s,map=n,blocksize=2048,iocharset=utf8");
	check_entry(find_mp(&mt, "/snap/core22/1380"), 115, 26, 7, 3, "/", "/snap/core22/1380",
		    "ro,nodev,relatime", "squashfs", "/dev/loop3", "ro,errors=continue,threads=single");
	check_entry(find_mp(&mt, "/mnt/crypt"), 116, 26, 254, 2, "/", "/mnt/crypt", "rw,relatime",
		    "ext4", "/dev/mapper/crypt", "rw");
	mount_table_free(&mt);
}

static void test_docker_overlay(void **state)
{
	struct mount_table mt;
	size_t bad;
	(void)state;

	PARSE_LIT(SAMPLE_DOCKER, &mt, &bad);
	assert_int_equal(bad, 0);
	assert_int_equal(mt.n, 4);
	check_entry(&mt.v[1], 120, 26, 0, 55, "/", "/var/lib/docker/overlay2/3f2a9c/merged",
		    "rw,relatime", "overlay", "overlay",
		    "rw,lowerdir=/var/lib/docker/overlay2/l/ABC:/var/lib/docker/overlay2/l/DEF,"
		    "upperdir=/var/lib/docker/overlay2/3f2a9c/diff,"
		    "workdir=/var/lib/docker/overlay2/3f2a9c/work");
	/* nsfs: the root field is not a path; only the mountpoint must be absolute. */
	check_entry(&mt.v[2], 121, 25, 0, 4, "net:[4026532288]", "/run/docker/netns/8d7c2a", "rw",
		    "nsfs", "nsfs", "rw");
	check_entry(&mt.v[3], 122, 120, 254, 1, "/var/lib/docker/volumes/db/_data",
		    "/var/lib/docker/overlay2/3f2a9c/merged/data", "rw,relatime", "ext4", "/dev/vda1",
		    "rw,errors=remount-ro");
	mount_table_free(&mt);
}

static void test_readonly(void **state)
{
	struct mount_table mt;
	size_t bad;
	(void)state;

	PARSE_LIT(SAMPLE_READONLY, &mt, &bad);
	assert_int_equal(bad, 0);
	assert_int_equal(mt.n, 6);
	/* ro per mount: in the mount options, the superblock still rw. */
	assert_true(mount_opts_has(find_mp(&mt, "/mnt/archive")->mount_opts, "ro"));
	assert_false(mount_opts_has(find_mp(&mt, "/mnt/archive")->super_opts, "ro"));
	/* ro superblock behind a mount that says rw. */
	assert_false(mount_opts_has(find_mp(&mt, "/mnt/broken")->mount_opts, "ro"));
	assert_true(mount_opts_has(find_mp(&mt, "/mnt/broken")->super_opts, "ro"));
	assert_true(mount_opts_has(find_mp(&mt, "/mnt/mixed")->mount_opts, "ro"));
	assert_false(mount_opts_has(find_mp(&mt, "/srv/mixed")->mount_opts, "ro"));
	mount_table_free(&mt);
}

/* More than the initial capacity of the table (it grows by doubling). */
static void test_many_lines(void **state)
{
	enum { N = 1000 };
	char *text = malloc(N * 80), *p = text;
	struct mount_table mt;
	size_t bad;
	(void)state;

	assert_non_null(text);
	for (int i = 0; i < N; i++)
		p += sprintf(p, "%d 26 7:%d / /tmp/q/mnt/m%d rw,relatime - ext4 /dev/loop%d rw\n",
			     100 + i, i, i, i);
	parse_ok(text, (size_t)(p - text), &mt, &bad);
	assert_int_equal(bad, 0);
	assert_int_equal(mt.n, N);
	for (int i = 0; i < N; i++) {
		char mp[64];
		snprintf(mp, sizeof(mp), "/tmp/q/mnt/m%d", i);
		assert_int_equal(mt.v[i].id, 100 + i);
		assert_int_equal(mt.v[i].minor, (unsigned)i);
		assert_string_equal(mt.v[i].mountpoint, mp);
	}
	mount_table_free(&mt);
	free(text);
}

/* ------------------------------------------------------------ escapes */

/* The kernel escapes space, tab, newline and backslash in paths as \ooo (mangle() in
 * fs/proc_namespace.c). Root, mountpoint and source are decoded; an escape that is not
 * three octal digits (or would decode to NUL) is kept as it is. */
static const char SAMPLE_ESCAPES[] =
	/* "My Disk" */
	"130 26 254:81 / /mnt/My\\040Disk rw,relatime shared:80 - ext4 /dev/vdf1 rw\n"
	/* a tab, and a space in the source and in the root */
	"131 26 0:60 /a\\040b /mnt/tab\\011here rw,relatime shared:81 - tmpfs my\\040tmp rw,inode64\n"
	/* a newline: the line is still one line */
	"132 26 0:61 / /mnt/new\\012line rw,relatime - tmpfs tmpfs rw\n"
	/* a backslash; \134 followed by digits must not be decoded twice */
	"133 26 0:62 / /mnt/back\\134slash\\134040 rw,relatime - tmpfs tmpfs rw\n"
	/* invalid escapes: \08 (8 is not octal), \x, \400 (over 255), \000 (NUL), and a
	 * backslash at the end */
	"134 26 0:63 / /mnt/bad\\08\\x\\400\\000end\\ rw - tmpfs tmpfs rw\n"
	/* an escape cut short at the end of the field */
	"135 26 0:64 / /mnt/short\\04 rw - tmpfs tmpfs rw\n";

static void test_escaped_paths(void **state)
{
	struct mount_table mt;
	size_t bad;
	(void)state;

	PARSE_LIT(SAMPLE_ESCAPES, &mt, &bad);
	assert_int_equal(bad, 0);
	assert_int_equal(mt.n, 6);
	assert_string_equal(mt.v[0].mountpoint, "/mnt/My Disk");
	assert_string_equal(mt.v[1].mountpoint, "/mnt/tab\there");
	assert_string_equal(mt.v[1].source, "my tmp");
	assert_string_equal(mt.v[1].root, "/a b");
	assert_string_equal(mt.v[2].mountpoint, "/mnt/new\nline");
	assert_string_equal(mt.v[3].mountpoint, "/mnt/back\\slash\\040");
	assert_string_equal(mt.v[4].mountpoint, "/mnt/bad\\08\\x\\400\\000end\\");
	assert_string_equal(mt.v[5].mountpoint, "/mnt/short\\04");
	/* Fields after the escaped ones are still in place. */
	assert_string_equal(mt.v[0].fstype, "ext4");
	assert_string_equal(mt.v[0].source, "/dev/vdf1");
	assert_string_equal(mt.v[2].mount_opts, "rw,relatime");
	mount_table_free(&mt);
}

static void check_unescape(const char *in, const char *want)
{
	char buf[128];
	assert_true(strlen(in) < sizeof(buf));
	strcpy(buf, in);
	mountinfo_unescape(buf);
	assert_string_equal(buf, want);
}

static void test_unescape(void **state)
{
	(void)state;
	check_unescape("", "");
	check_unescape("/plain/path", "/plain/path");
	check_unescape("\\040", " ");
	check_unescape("\\040\\011\\012\\134", " \t\n\\");
	check_unescape("a\\101b", "aAb"); /* any octal value, not only the four the kernel uses */
	check_unescape("\\377", "\377");
	check_unescape("\\134134", "\\134"); /* decoded once, left to right */
	check_unescape("\\\\040", "\\ ");     /* a lone backslash, then an escape */
	check_unescape("\\000", "\\000");
	check_unescape("\\400", "\\400");
	check_unescape("\\8", "\\8");
	check_unescape("\\04", "\\04");
	check_unescape("\\0", "\\0");
	check_unescape("\\", "\\");
	check_unescape("\\04x", "\\04x");
	check_unescape("x\\", "x\\");
}

/* ------------------------------------------------------------ optional fields */

static void test_optional_fields(void **state)
{
	static const char text[] =
		/* all four kinds of optional fields */
		"36 35 98:0 /mnt1 /mnt2 rw,noatime shared:1 master:2 propagate_from:3 unbindable - ext3 /dev/root rw,errors=continue\n"
		/* none at all (a private mount) */
		"37 35 98:0 /mnt1 /mnt3 rw,noatime - ext3 /dev/root rw,errors=continue\n"
		/* proc(5)'s own example */
		"38 35 98:0 /mnt1 /mnt4 rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n";
	struct mount_table mt;
	size_t bad;
	(void)state;

	PARSE_LIT(text, &mt, &bad);
	assert_int_equal(bad, 0);
	assert_int_equal(mt.n, 3);
	check_entry(&mt.v[0], 36, 35, 98, 0, "/mnt1", "/mnt2", "rw,noatime", "ext3", "/dev/root",
		    "rw,errors=continue");
	check_entry(&mt.v[1], 37, 35, 98, 0, "/mnt1", "/mnt3", "rw,noatime", "ext3", "/dev/root",
		    "rw,errors=continue");
	check_entry(&mt.v[2], 38, 35, 98, 0, "/mnt1", "/mnt4", "rw,noatime", "ext3", "/dev/root",
		    "rw,errors=continue");
	mount_table_free(&mt);
}

/* ------------------------------------------------------------ malformed input */

/* Each is one bad line: alone it gives no entry and bad == 1; between two good lines
 * it is skipped and both neighbours are parsed. */
/* A string literal and its length (some hold a NUL). */
#define LIT(s) s, sizeof(s) - 1

static const struct {
	const char *what;
	const char *line;
	size_t len;
} malformed[] = {
	{ "too few fields (no super options)", LIT("36 35 98:0 /mnt1 /mnt2 rw - ext3 /dev/root") },
	{ "too few fields (no mount options)", LIT("36 35 98:0 /mnt1 /mnt2 - ext3 /dev/root rw") },
	{ "only the id", LIT("36") },
	{ "missing \"-\"", LIT("36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 ext3 /dev/root rw,errors=continue") },
	{ "one field too many after \"-\"", LIT("36 35 98:0 /mnt1 /mnt2 rw - ext3 /dev/root rw extra") },
	{ "non-numeric id", LIT("3a 35 98:0 /mnt1 /mnt2 rw - ext3 /dev/root rw") },
	{ "non-numeric parent", LIT("36 x5 98:0 /mnt1 /mnt2 rw - ext3 /dev/root rw") },
	{ "negative id", LIT("-36 35 98:0 /mnt1 /mnt2 rw - ext3 /dev/root rw") },
	{ "id beyond int", LIT("99999999999 35 98:0 /mnt1 /mnt2 rw - ext3 /dev/root rw") },
	{ "maj:min without colon", LIT("36 35 98 /mnt1 /mnt2 rw - ext3 /dev/root rw") },
	{ "maj:min with dash", LIT("36 35 98-0 /mnt1 /mnt2 rw - ext3 /dev/root rw") },
	{ "maj:min without minor", LIT("36 35 98: /mnt1 /mnt2 rw - ext3 /dev/root rw") },
	{ "maj:min without major", LIT("36 35 :0 /mnt1 /mnt2 rw - ext3 /dev/root rw") },
	{ "maj:min with junk", LIT("36 35 98:0x /mnt1 /mnt2 rw - ext3 /dev/root rw") },
	{ "maj:min negative minor", LIT("36 35 98:-1 /mnt1 /mnt2 rw - ext3 /dev/root rw") },
	{ "maj:min huge", LIT("36 35 99999999999:0 /mnt1 /mnt2 rw - ext3 /dev/root rw") },
	{ "relative mountpoint", LIT("36 35 98:0 /mnt1 mnt2 rw - ext3 /dev/root rw") },
	{ "embedded NUL", LIT("36 35 98:0 /mnt1 /mn\0t2 rw - ext3 /dev/root rw") },
	/* cut at the NUL, what is left would be a valid line */
	{ "NUL in the last field", LIT("36 35 98:0 /mnt1 /mnt2 rw - ext3 /dev/root rw\0,junk") },
	{ "only spaces", LIT("   ") },
	{ "only a CR", LIT("\r") },
};

static void test_malformed_lines(void **state)
{
	const char *good1 = "21 26 0:20 / /sys rw,nosuid - sysfs sysfs rw\n";
	const char *good2 = "26 1 8:2 / / rw,relatime shared:1 - ext4 /dev/sda2 rw\n";
	(void)state;

	for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
		size_t len = malformed[i].len;
		char buf[512];
		size_t n = 0, bad;
		struct mount_table mt;

		/* Alone, without a newline. */
		parse_ok(malformed[i].line, len, &mt, &bad);
		if (mt.n != 0 || bad != 1)
			fail_msg("%s: alone: %zu entries, %zu bad", malformed[i].what, mt.n, bad);
		mount_table_free(&mt);

		/* Between two good lines. */
		memcpy(buf + n, good1, strlen(good1)), n += strlen(good1);
		memcpy(buf + n, malformed[i].line, len), n += len;
		buf[n++] = '\n';
		memcpy(buf + n, good2, strlen(good2)), n += strlen(good2);
		parse_ok(buf, n, &mt, &bad);
		if (mt.n != 2 || bad != 1)
			fail_msg("%s: between: %zu entries, %zu bad", malformed[i].what, mt.n, bad);
		assert_string_equal(mt.v[0].mountpoint, "/sys");
		assert_string_equal(mt.v[1].mountpoint, "/");
		mount_table_free(&mt);
	}
}

/* The field array has a fixed size: a line with very many optional fields is bad,
 * not an overflow. */
static void test_too_many_fields(void **state)
{
	char line[4096], *p = line;
	struct mount_table mt;
	size_t bad;
	(void)state;

	p += sprintf(p, "36 35 98:0 /mnt1 /mnt2 rw");
	for (int i = 0; i < 100; i++)
		p += sprintf(p, " shared:%d", i + 1);
	p += sprintf(p, " - ext3 /dev/root rw\n");
	parse_ok(line, (size_t)(p - line), &mt, &bad);
	assert_int_equal(mt.n, 0);
	assert_int_equal(bad, 1);
	mount_table_free(&mt);

	/* 54 optional fields make a valid line of 64 fields; one more field after the
	 * super options must make it bad, not be cut off at the bound. */
	p = line;
	p += sprintf(p, "36 35 98:0 /mnt1 /mnt2 rw");
	for (int i = 0; i < 54; i++)
		p += sprintf(p, " shared:%d", i + 1);
	p += sprintf(p, " - ext3 /dev/root rw extra\n");
	parse_ok(line, (size_t)(p - line), &mt, &bad);
	assert_int_equal(mt.n, 0);
	assert_int_equal(bad, 1);
	mount_table_free(&mt);
}

static void test_bad_count_several(void **state)
{
	static const char text[] =
		"garbage\n"
		"21 26 0:20 / /sys rw,nosuid - sysfs sysfs rw\n"
		"more garbage here\n"
		"\n"
		"36 35 98:0 /mnt1 mnt2 rw - ext3 /dev/root rw\n"
		"26 1 8:2 / / rw,relatime shared:1 - ext4 /dev/sda2 rw\n";
	struct mount_table mt;
	size_t bad;
	(void)state;

	PARSE_LIT(text, &mt, &bad);
	assert_int_equal(mt.n, 2);
	assert_int_equal(bad, 3); /* the empty line is not counted */
	mount_table_free(&mt);

	/* bad may be NULL. */
	assert_int_equal(mountinfo_parse(text, sizeof(text) - 1, &mt, NULL), 0);
	assert_int_equal(mt.n, 2);
	mount_table_free(&mt);
}

/* MOUNTINFO_MAX_LINE is the size of the line buffer, terminating NUL included: a
 * line of MAX_LINE - 1 bytes (newline not counted) is the longest that parses. */
static void test_line_length_bound(void **state)
{
	static const size_t lens[] = { MOUNTINFO_MAX_LINE - 1, MOUNTINFO_MAX_LINE,
				       MOUNTINFO_MAX_LINE + 1, 5 * MOUNTINFO_MAX_LINE };
	static const size_t want_n[] = { 1, 0, 0, 0 };
	const char *next = "26 1 8:2 / / rw - ext4 /dev/sda2 rw\n";
	(void)state;

	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		char *line = line_of_length(lens[i]);
		size_t len = lens[i] + 1 + strlen(next), bad;
		char *text = malloc(len);
		struct mount_table mt;

		assert_non_null(text);
		memcpy(text, line, lens[i]);
		text[lens[i]] = '\n';
		memcpy(text + lens[i] + 1, next, strlen(next));
		parse_ok(text, len, &mt, &bad);
		/* The line after a long one is parsed from its own start. */
		assert_int_equal(mt.n, want_n[i] + 1);
		assert_int_equal(bad, 1 - want_n[i]);
		assert_string_equal(mt.v[mt.n - 1].mountpoint, "/");
		if (want_n[i])
			assert_int_equal(strlen(mt.v[0].mountpoint), lens[i] - LINE_FIXED + 1);
		mount_table_free(&mt);

		/* The same as the last line, without a newline. */
		parse_ok(line, lens[i], &mt, &bad);
		assert_int_equal(mt.n, want_n[i]);
		assert_int_equal(bad, 1 - want_n[i]);
		mount_table_free(&mt);
		free(text);
		free(line);
	}
}

/* ------------------------------------------------------------ edges of the input */

static void test_empty_input(void **state)
{
	struct mount_table mt;
	size_t bad;
	(void)state;

	parse_ok("", 0, &mt, &bad);
	assert_int_equal(mt.n, 0);
	assert_int_equal(bad, 0);
	mount_table_free(&mt);

	parse_ok("\n\n\n", 3, &mt, &bad);
	assert_int_equal(mt.n, 0);
	assert_int_equal(bad, 0);
	mount_table_free(&mt);

	/* len is what counts, not a NUL: nothing past len is read. */
	parse_ok("26 1 8:2 / / rw - ext4 /dev/sda2 rw\n", 0, &mt, &bad);
	assert_int_equal(mt.n, 0);
	mount_table_free(&mt);
}

static void test_no_trailing_newline(void **state)
{
	static const char text[] = "21 26 0:20 / /sys rw,nosuid - sysfs sysfs rw\n"
				   "26 1 8:2 / / rw,relatime - ext4 /dev/sda2 rw,errors=remount-ro";
	struct mount_table mt;
	size_t bad;
	(void)state;

	PARSE_LIT(text, &mt, &bad);
	assert_int_equal(bad, 0);
	assert_int_equal(mt.n, 2);
	check_entry(&mt.v[1], 26, 1, 8, 2, "/", "/", "rw,relatime", "ext4", "/dev/sda2",
		    "rw,errors=remount-ro");
	mount_table_free(&mt);

	/* A length that cuts the text short: the cut line is what is parsed. */
	parse_ok(text, sizeof(text) - 1 - strlen(",errors=remount-ro"), &mt, &bad);
	assert_int_equal(mt.n, 2);
	assert_string_equal(mt.v[1].super_opts, "rw");
	mount_table_free(&mt);
}

/* CRLF. The kernel never writes a CR, and does not escape one inside a path either, so
 * the parser treats it as data: a CRLF line parses, and the CR stays at the end of its
 * last field (the super options). The other fields are intact. */
static void test_crlf(void **state)
{
	static const char text[] = "21 26 0:20 / /sys rw,nosuid - sysfs sysfs rw\r\n"
				   "26 1 8:2 / / rw,relatime - ext4 /dev/sda2 rw,errors=remount-ro\r\n";
	struct mount_table mt;
	size_t bad;
	(void)state;

	PARSE_LIT(text, &mt, &bad);
	assert_int_equal(bad, 0);
	assert_int_equal(mt.n, 2);
	check_entry(&mt.v[0], 21, 26, 0, 20, "/", "/sys", "rw,nosuid", "sysfs", "sysfs", "rw\r");
	check_entry(&mt.v[1], 26, 1, 8, 2, "/", "/", "rw,relatime", "ext4", "/dev/sda2",
		    "rw,errors=remount-ro\r");
	mount_table_free(&mt);
}

static void test_too_big(void **state)
{
	size_t len = MOUNTINFO_MAX_BYTES + 1, bad = 777;
	const char *line = "26 1 8:2 / / rw - ext4 /dev/sda2 rw\n";
	char *text = malloc(len);
	struct mount_table mt;
	(void)state;

	assert_non_null(text);
	memset(text, '\n', len);
	memcpy(text, line, strlen(line));

	/* One byte over: EFBIG, nothing parsed, out is empty, bad untouched. */
	mt.v = (void *)&mt, mt.n = 99;
	errno = 0;
	assert_int_equal(mountinfo_parse(text, len, &mt, &bad), -1);
	assert_int_equal(errno, EFBIG);
	assert_null(mt.v);
	assert_int_equal(mt.n, 0);
	assert_int_equal(bad, 777);

	/* Exactly MOUNTINFO_MAX_BYTES is allowed. */
	parse_ok(text, len - 1, &mt, &bad);
	assert_int_equal(mt.n, 1);
	assert_int_equal(bad, 0);
	mount_table_free(&mt);
	free(text);
}

/* ------------------------------------------------------------ mountinfo_read */

static char *write_temp(const char *data, size_t len)
{
	char *path = strdup("/tmp/quiesce-unit-mountinfo-XXXXXX");
	int fd;
	size_t off = 0;

	assert_non_null(path);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	while (off < len) {
		ssize_t w = write(fd, data + off, len - off);
		assert_true(w > 0);
		off += (size_t)w;
	}
	assert_int_equal(close(fd), 0);
	return path;
}

static void test_read_file(void **state)
{
	char *path = write_temp(SAMPLE_BIND, sizeof(SAMPLE_BIND) - 1);
	struct mount_table mt;
	size_t bad = 99;
	(void)state;

	assert_int_equal(mountinfo_read(path, &mt, &bad), 0);
	assert_int_equal(bad, 0);
	assert_int_equal(mt.n, 4);
	check_entry(&mt.v[2], 81, 26, 254, 17, "/www", "/var/www", "rw,relatime", "ext4",
		    "/dev/vdb1", "rw");
	mount_table_free(&mt);
	unlink(path);
	free(path);
}

/* Bigger than the first read buffer (64 KiB), so the buffer has to grow. */
static void test_read_file_large(void **state)
{
	enum { N = 3000 };
	char *text = malloc(N * 80), *p = text, *path;
	struct mount_table mt;
	size_t bad;
	(void)state;

	assert_non_null(text);
	for (int i = 0; i < N; i++)
		p += sprintf(p, "%d 26 7:%d / /tmp/q/mnt/m%d rw,relatime - ext4 /dev/loop%d rw\n",
			     100 + i, i, i, i);
	assert_true(p - text > 2 * 65536);
	path = write_temp(text, (size_t)(p - text));
	assert_int_equal(mountinfo_read(path, &mt, &bad), 0);
	assert_int_equal(bad, 0);
	assert_int_equal(mt.n, N);
	assert_string_equal(mt.v[N - 1].mountpoint, "/tmp/q/mnt/m2999");
	mount_table_free(&mt);
	unlink(path);
	free(path);
	free(text);
}

static void test_read_missing(void **state)
{
	struct mount_table mt;
	(void)state;

	errno = 0;
	assert_int_equal(mountinfo_read("/nonexistent/quiesce/mountinfo", &mt, NULL), -1);
	assert_int_equal(errno, ENOENT);
}

static void test_read_too_big(void **state)
{
	size_t len = MOUNTINFO_MAX_BYTES + 1;
	char *text = malloc(len), *path;
	struct mount_table mt;
	(void)state;

	assert_non_null(text);
	memset(text, '\n', len);
	path = write_temp(text, len);
	errno = 0;
	assert_int_equal(mountinfo_read(path, &mt, NULL), -1);
	assert_int_equal(errno, EFBIG);
	unlink(path);
	free(path);
	free(text);
}

/* mountinfo_read takes what mountinfo_parse takes: a file of exactly
 * MOUNTINFO_MAX_BYTES is read and parsed, not refused as too big. */
static void test_read_exactly_max(void **state)
{
	size_t len = MOUNTINFO_MAX_BYTES, bad = 99;
	const char *line = "26 1 8:2 / / rw - ext4 /dev/sda2 rw\n";
	char *text = malloc(len), *path;
	struct mount_table mt;
	(void)state;

	assert_non_null(text);
	memset(text, '\n', len);
	memcpy(text, line, strlen(line));
	path = write_temp(text, len);
	assert_int_equal(mountinfo_read(path, &mt, &bad), 0);
	assert_int_equal(mt.n, 1);
	assert_int_equal(bad, 0);
	assert_string_equal(mt.v[0].mountpoint, "/");
	mount_table_free(&mt);
	unlink(path);
	free(path);
	free(text);
}

/* The real thing: the kernel's own format parses without a bad line, and has "/". */
static void test_read_proc(void **state)
{
	struct mount_table mt;
	size_t bad = 99;
	bool root = false;
	(void)state;

	assert_int_equal(mountinfo_read("/proc/self/mountinfo", &mt, &bad), 0);
	assert_int_equal(bad, 0);
	assert_true(mt.n > 0);
	for (size_t i = 0; i < mt.n; i++)
		if (strcmp(mt.v[i].mountpoint, "/") == 0)
			root = true;
	assert_true(root);
	mount_table_free(&mt);
}

/* ------------------------------------------------------------ mount_opts_has */

static void test_mount_opts_has(void **state)
{
	(void)state;
	/* only, first, middle, last */
	assert_true(mount_opts_has("ro", "ro"));
	assert_true(mount_opts_has("ro,relatime", "ro"));
	assert_true(mount_opts_has("nosuid,ro,relatime", "ro"));
	assert_true(mount_opts_has("rw,relatime,ro", "ro"));
	/* prefixes and suffixes are not matches */
	assert_false(mount_opts_has("rw,relatime", "ro"));
	assert_false(mount_opts_has("rootcontext=system_u:object_r:tmp_t:s0", "ro"));
	assert_false(mount_opts_has("rw,rootcontext=system_u:object_r:tmp_t:s0", "ro"));
	assert_false(mount_opts_has("rw,errors=remount-ro", "ro"));
	assert_false(mount_opts_has("r", "ro"));
	assert_false(mount_opts_has("rox", "ro"));
	assert_false(mount_opts_has("xro", "ro"));
	assert_false(mount_opts_has("ro\r", "ro"));
	/* options with values match as a whole */
	assert_true(mount_opts_has("rw,subvolid=256,subvol=/@", "subvol=/@"));
	assert_false(mount_opts_has("rw,subvol=/@home", "subvol=/@"));
	/* empty lists and empty elements */
	assert_false(mount_opts_has("", "ro"));
	assert_false(mount_opts_has(NULL, "ro"));
	assert_true(mount_opts_has("rw,,ro", "ro"));
	assert_true(mount_opts_has(",ro", "ro"));
	assert_true(mount_opts_has("ro,", "ro"));
}

/* ------------------------------------------------------------ out of memory */

static bool same_entry(const struct mount_entry *a, const struct mount_entry *b)
{
	return a->id == b->id && a->parent_id == b->parent_id && a->major == b->major &&
	       a->minor == b->minor && !strcmp(a->root, b->root) &&
	       !strcmp(a->mountpoint, b->mountpoint) && !strcmp(a->mount_opts, b->mount_opts) &&
	       !strcmp(a->fstype, b->fstype) && !strcmp(a->source, b->source) &&
	       !strcmp(a->super_opts, b->super_opts);
}

struct oom_parse {
	const char *path;               /* mountinfo_read this, else parse the text */
	const char *text;
	struct mount_table want;
	size_t want_bad;
};

/* One run: ENOMEM and an empty table, or the whole table as without the failure. */
static bool oom_parse_run(void *arg)
{
	struct oom_parse *o = arg;
	struct mount_table mt = { (void *)1, 99 };
	size_t bad = 12345;
	int r = o->path ? mountinfo_read(o->path, &mt, &bad)
			: mountinfo_parse(o->text, strlen(o->text), &mt, &bad);
	bool failed = failalloc_stop();
	if (r < 0) {
		assert_true(failed);
		assert_int_equal(errno, ENOMEM);
		assert_null(mt.v);
		assert_int_equal(mt.n, 0);
		return true;
	}
	assert_int_equal(bad, o->want_bad);
	assert_int_equal(mt.n, o->want.n);
	for (size_t i = 0; i < mt.n; i++)
		assert_true(same_entry(&mt.v[i], &o->want.v[i]));
	mount_table_free(&mt);
	return failed;
}

/* The Nth allocation failing, for every N: the parse fails cleanly or is right. */
static void test_out_of_memory(void **state)
{
	char text[sizeof(SAMPLE_DOCKER) + 40 * 80], path[] = "/tmp/test_mountinfo.XXXXXX";
	struct oom_parse o = { .text = text };
	size_t n;
	int fd;
	(void)state;
	/* Past 32 entries the table grows (realloc), and a bad line is counted. */
	n = (size_t)snprintf(text, sizeof(text), "%sbad line\n", SAMPLE_DOCKER);
	for (int i = 0; i < 40; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n,
				      "%d 26 7:%d / /tmp/q/m%d rw - ext4 /dev/loop%d rw\n",
				      100 + i, i, i, i);
	assert_int_equal(mountinfo_parse(text, strlen(text), &o.want, &o.want_bad), 0);
	assert_true(o.want.n > 0);
	assert_true(failalloc_each("mountinfo_parse", oom_parse_run, &o) > 6);

	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	o.path = path;
	failalloc_each("mountinfo_read", oom_parse_run, &o);
	unlink(path);
	mount_table_free(&o.want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_normal_system),
		cmocka_unit_test(test_bind_mounts),
		cmocka_unit_test(test_btrfs_subvolumes),
		cmocka_unit_test(test_nested_mounts),
		cmocka_unit_test(test_loop_mounts),
		cmocka_unit_test(test_docker_overlay),
		cmocka_unit_test(test_readonly),
		cmocka_unit_test(test_many_lines),
		cmocka_unit_test(test_escaped_paths),
		cmocka_unit_test(test_unescape),
		cmocka_unit_test(test_optional_fields),
		cmocka_unit_test(test_malformed_lines),
		cmocka_unit_test(test_too_many_fields),
		cmocka_unit_test(test_bad_count_several),
		cmocka_unit_test(test_line_length_bound),
		cmocka_unit_test(test_empty_input),
		cmocka_unit_test(test_no_trailing_newline),
		cmocka_unit_test(test_crlf),
		cmocka_unit_test(test_too_big),
		cmocka_unit_test(test_read_file),
		cmocka_unit_test(test_read_file_large),
		cmocka_unit_test(test_read_missing),
		cmocka_unit_test(test_read_too_big),
		cmocka_unit_test(test_read_exactly_max),
		cmocka_unit_test(test_read_proc),
		cmocka_unit_test(test_mount_opts_has),
		cmocka_unit_test(test_out_of_memory),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
