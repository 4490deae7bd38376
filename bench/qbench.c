// SPDX-License-Identifier: MIT
/*
 * qbench: freeze+thaw cycles, timed the same way for every row of the benchmark
 * (bench/run.py drives it; bench/RESULTS.md has the results).
 *
 *   qbench raw-serial   MOUNTPOINT...        FIFREEZE one after another, FITHAW in reverse
 *   qbench raw-parallel MOUNTPOINT...        one thread per filesystem (the floor)
 *   qbench control SOCKET MOUNTPOINT...      quiesced's control socket (quiesce-freeze/-thaw)
 *   qbench qga SOCKET [--single] MOUNTPOINT...
 *                                            a guest agent socket (guest-fsfreeze-freeze-list,
 *                                            guest-fsfreeze-thaw): quiesced --qga or qemu-ga
 *                                            (--single: qemu-ga serves one client at a time)
 *
 * It reads commands on stdin, one per line, and answers each with one line on stdout.
 * N: the command works on the first N mountpoints.
 *
 *   cycle N        ok T0 FROZEN END WIN0 WIN1 | err TEXT
 *                  T0: just before the freeze request is written (the first FIFREEZE
 *                  for the raw rows); FROZEN: its answer has been read in full (every
 *                  FIFREEZE has returned); END: the thaw's answer has been read (every
 *                  FITHAW has returned). The thaw request goes out at once after FROZEN.
 *                  WIN0/WIN1: the raw rows know when their first FIFREEZE and their last
 *                  FITHAW returned (the frozen window); the others print 0 0 (run.py
 *                  reads it from the kernel's syscall trace). All CLOCK_MONOTONIC ns.
 *   probe N MS     (control, qga) a freeze on the main connection while a second
 *                  connection asks for the status every MS ms; then a thaw:
 *                  ok FREEZE_NS SAMPLES BUSY LAT_NS...  (BUSY: answers that said the
 *                  freeze was under way)
 *   idle N K MS    (control, qga) K status requests MS ms apart: ok LAT_NS...
 *   thawmid N MS   (control, qga) a freeze, and MS ms later a thaw on the second
 *                  connection: ok THAW_LATENCY_NS FREEZE_ANSWER_NS THAW_ANSWER FREEZE_ANSWER
 *   quit
 *
 * The connections are opened once and kept (as a host, or quiescectl snapshot, keeps
 * its connection); the raw rows open the filesystems once. Only run.py's scratch
 * mounts are ever given; as a last guard, qbench refuses any mountpoint that is not
 * under a /tmp/quiesce-bench-* directory's mnt/.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MAX_FS 64
#define MAX_SAMPLES 4096
#define IO_TIMEOUT_MS 30000

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("qbench: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(2);
}

enum mode { RAW_SERIAL, RAW_PARALLEL, CONTROL, QGA };

static enum mode mode;
static const char *mounts[MAX_FS];
static int fds[MAX_FS];
static int nfs;
static int cur;          /* the command at hand works on mounts[0..cur) */

/* ------------------------------------------------------------ raw ioctls */

static int do_ioctl(int fd, unsigned long req)
{
	int unused = 0;
	return ioctl(fd, req, &unused);
}

/* The parallel floor: the main thread freezes mounts[0] itself and one thread per other
 * filesystem the rest, so that one filesystem costs what the serial row costs. Each
 * worker has its own semaphore, so a batch wakes only the workers it needs. */
static struct {
	sem_t go[MAX_FS];
	sem_t done;
	unsigned long req;     /* FIFREEZE or FITHAW */
	int err[MAX_FS];
	uint64_t t_end[MAX_FS];
} par;

static void *par_worker(void *arg)
{
	int i = (int)(intptr_t)arg;

	for (;;) {
		while (sem_wait(&par.go[i]) < 0)
			;
		par.err[i] = do_ioctl(fds[i], par.req) < 0 ? errno : 0;
		par.t_end[i] = now_ns();
		sem_post(&par.done);
	}
	return NULL;
}

static int par_batch(unsigned long req)
{
	int e = 0;
	par.req = req;
	for (int i = 1; i < cur; i++)
		sem_post(&par.go[i]);
	par.err[0] = do_ioctl(fds[0], req) < 0 ? errno : 0;
	par.t_end[0] = now_ns();
	for (int i = 1; i < cur; i++)
		while (sem_wait(&par.done) < 0)
			;
	for (int i = 0; i < cur && !e; i++)
		e = par.err[i];
	return e;
}

static void raw_cycle(void)
{
	uint64_t t0, t1, t2, w0 = UINT64_MAX, w1 = 0;
	int e = 0, frozen = 0;

	t0 = now_ns();
	if (mode == RAW_SERIAL) {
		for (int i = 0; i < cur; i++) {
			if (do_ioctl(fds[i], FIFREEZE) < 0) {
				e = errno;
				break;
			}
			frozen = i + 1;
			if (i == 0)
				w0 = now_ns();
		}
		t1 = now_ns();
		for (int i = frozen - 1; i >= 0; i--)
			if (do_ioctl(fds[i], FITHAW) < 0 && !e)
				e = errno;
		t2 = w1 = now_ns();
	} else {
		int e2;
		e = par_batch(FIFREEZE);
		t1 = now_ns();
		for (int i = 0; i < cur; i++)
			if (par.t_end[i] < w0)
				w0 = par.t_end[i];
		/* After a failed FIFREEZE there is nothing to thaw there: FITHAW says EINVAL. */
		e2 = par_batch(FITHAW);
		t2 = now_ns();
		for (int i = 0; i < cur; i++)
			if (par.t_end[i] > w1)
				w1 = par.t_end[i];
		if (!e)
			e = e2;
	}
	if (e)
		printf("err %s\n", strerror(e));
	else
		printf("ok %llu %llu %llu %llu %llu\n", (unsigned long long)t0,
		       (unsigned long long)t1, (unsigned long long)t2, (unsigned long long)w0,
		       (unsigned long long)w1);
}

/* ------------------------------------------------------------ JSON over a socket */

#define ANSWER_MAX (64 << 20)

struct conn {
	int fd;
	char *buf;
	size_t len, cap;
};

static void conn_open(struct conn *c, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path))
		die("socket path too long: %s", path);
	strcpy(sa.sun_path, path);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die("connect %s: %s", path, strerror(errno));
	c->cap = 1 << 20;
	c->buf = malloc(c->cap);
	c->len = 0;
	if (!c->buf)
		die("out of memory");
}

static void conn_send(struct conn *c, const char *s)
{
	size_t n = strlen(s), off = 0;
	while (off < n) {
		ssize_t w = write(c->fd, s + off, n - off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			die("write: %s", strerror(errno));
		}
		off += (size_t)w;
	}
}

/* Length of the first whole line in the buffer (without its newline), or -1. */
static ssize_t conn_line_ready(const struct conn *c)
{
	const char *nl = memchr(c->buf, '\n', c->len);
	return nl ? nl - c->buf : -1;
}

static void conn_fill(struct conn *c)
{
	ssize_t r;
	/* A freeze's report names every app: ~1.5 MB with 10,000 of them. */
	if (c->len == c->cap) {
		char *bigger = c->cap < ANSWER_MAX ? realloc(c->buf, 2 * c->cap) : NULL;
		if (!bigger)
			die("answer too long (over %d MiB)", ANSWER_MAX >> 20);
		c->buf = bigger;
		c->cap *= 2;
	}
	r = read(c->fd, c->buf + c->len, c->cap - c->len);
	if (r < 0 && errno == EINTR)
		return;
	if (r < 0)
		die("read: %s", strerror(errno));
	if (r == 0)
		die("the peer closed the connection");
	c->len += (size_t)r;
}

/* The next answer line, copied into out (NUL-terminated, truncated to outlen), then
 * dropped from the buffer. Blocks. A leading 0xFF (the agent's sentinel) is dropped;
 * blank lines are skipped. */
static void conn_recv(struct conn *c, char *out, size_t outlen)
{
	for (;;) {
		struct pollfd p = { c->fd, POLLIN, 0 };
		ssize_t n;
		size_t k;
		while ((n = conn_line_ready(c)) < 0) {
			int r = poll(&p, 1, IO_TIMEOUT_MS);
			if (r == 0)
				die("no answer within %d ms", IO_TIMEOUT_MS);
			if (r > 0)
				conn_fill(c);
		}
		k = (size_t)n < outlen - 1 ? (size_t)n : outlen - 1;
		memcpy(out, c->buf, k);
		out[k] = '\0';
		memmove(c->buf, c->buf + n + 1, c->len - (size_t)n - 1);
		c->len -= (size_t)n + 1;
		if ((unsigned char)out[0] == 0xff)
			memmove(out, out + 1, strlen(out));
		if (out[0] != '\0')
			return;
	}
}

static struct conn main_conn, side_conn;
static const char *sock_path;
static bool single;       /* one connection only (qemu-ga serves one client at a time) */
static char req_freeze[16384], req_thaw[128], req_status[128];
/* The longest answer a connection takes (a freeze whose report names 10,000 apps is
 * ~1.5 MB): one limit for the line and its copy, or a longer one is cut here. */
static char answer[ANSWER_MAX];

/* The freeze request for mounts[0..n). */
static void build_freeze(int n)
{
	const char *cmd = mode == CONTROL ? "quiesce-freeze" : "guest-fsfreeze-freeze-list";
	size_t off = (size_t)snprintf(req_freeze, sizeof(req_freeze),
				      "{\"execute\":\"%s\",\"arguments\":{\"mountpoints\":[", cmd);
	for (int i = 0; i < n; i++) {
		if (strlen(mounts[i]) + off + 16 >= sizeof(req_freeze))
			die("too many mountpoints");
		off += (size_t)snprintf(req_freeze + off, sizeof(req_freeze) - off, "%s\"%s\"",
					i ? "," : "", mounts[i]);
	}
	snprintf(req_freeze + off, sizeof(req_freeze) - off, "]}}\n");
}

static void build_requests(void)
{
	snprintf(req_thaw, sizeof(req_thaw), "{\"execute\":\"%s\"}\n",
		 mode == CONTROL ? "quiesce-thaw" : "guest-fsfreeze-thaw");
	snprintf(req_status, sizeof(req_status), "{\"execute\":\"%s\"}\n",
		 mode == CONTROL ? "quiesce-status" : "guest-fsfreeze-status");
}

/* The count in a successful answer: {"return":{"count":N,...}} or {"return":N}; -1 if
 * it is an error. */
static long answer_count(const char *a)
{
	const char *p = strstr(a, "\"return\"");
	if (!p)
		return -1;
	p += strlen("\"return\"");
	while (*p == ' ' || *p == ':')
		p++;
	if (*p == '{') {
		const char *q = strstr(p, "\"count\"");
		if (!q)
			return -1;
		p = q + strlen("\"count\"");
		while (*p == ' ' || *p == ':')
			p++;
	}
	return strtol(p, NULL, 10);
}

static void print_error(const char *what, const char *a)
{
	char t[300];
	size_t n = strnlen(a, sizeof(t) - 1);
	memcpy(t, a, n);
	t[n] = '\0';
	for (char *p = t; *p; p++)
		if (*p == '\n')
			*p = ' ';
	printf("err %s: %s\n", what, t);
}

/* After an unexpected freeze answer: thaw whatever did freeze, then say what happened. */
static void thaw_after_error(const char *what)
{
	char a2[4096];
	conn_send(&main_conn, req_thaw);
	conn_recv(&main_conn, a2, sizeof(a2));
	print_error(what, answer);
}

static void sock_cycle(void)
{
	uint64_t t0, t1, t2;

	t0 = now_ns();
	conn_send(&main_conn, req_freeze);
	conn_recv(&main_conn, answer, sizeof(answer));
	t1 = now_ns();
	if (answer_count(answer) != cur) {
		thaw_after_error("freeze");
		return;
	}
	conn_send(&main_conn, req_thaw);
	conn_recv(&main_conn, answer, sizeof(answer));
	t2 = now_ns();
	if (answer_count(answer) < 0) {
		print_error("thaw", answer);
		return;
	}
	printf("ok %llu %llu %llu 0 0\n", (unsigned long long)t0, (unsigned long long)t1,
	       (unsigned long long)t2);
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static uint64_t lat[MAX_SAMPLES];

/* Status latencies while a freeze is under way on the main connection. A sample
 * counts if its request went out before the freeze's answer had arrived. */
static void probe(unsigned ms)
{
	uint64_t t0 = now_ns(), tf;
	int n = 0, busy = 0;

	conn_send(&main_conn, req_freeze);
	for (;;) {
		struct pollfd p[2] = { { side_conn.fd, POLLIN, 0 }, { main_conn.fd, POLLIN, 0 } };
		uint64_t s0;
		char a[8192];

		if (conn_line_ready(&main_conn) >= 0)
			break;
		s0 = now_ns();
		conn_send(&side_conn, req_status);
		while (conn_line_ready(&side_conn) < 0) {
			if (poll(p, 2, IO_TIMEOUT_MS) <= 0)
				die("probe: no answer");
			if (p[0].revents)
				conn_fill(&side_conn);
			if (p[1].revents)
				conn_fill(&main_conn);
		}
		conn_recv(&side_conn, a, sizeof(a));
		if (n < MAX_SAMPLES) {
			lat[n++] = now_ns() - s0;
			if (strstr(a, "\"freezing\"") || strstr(a, "\"frozen\""))
				busy++;
		}
		if (ms)
			sleep_ms(ms);
		/* Without blocking: has the freeze been answered meanwhile? */
		while (poll(&p[1], 1, 0) > 0)
			conn_fill(&main_conn);
	}
	conn_recv(&main_conn, answer, sizeof(answer));
	tf = now_ns();
	if (answer_count(answer) != cur) {
		thaw_after_error("probe freeze");
		return;
	}
	conn_send(&main_conn, req_thaw);
	conn_recv(&main_conn, answer, sizeof(answer));
	printf("ok %llu %d %d", (unsigned long long)(tf - t0), n, busy);
	for (int i = 0; i < n; i++)
		printf(" %llu", (unsigned long long)lat[i]);
	printf("\n");
}

static void idle_status(unsigned count, unsigned ms)
{
	char a[8192];
	if (count > MAX_SAMPLES)
		count = MAX_SAMPLES;
	for (unsigned i = 0; i < count; i++) {
		uint64_t s0 = now_ns();
		conn_send(&side_conn, req_status);
		conn_recv(&side_conn, a, sizeof(a));
		lat[i] = now_ns() - s0;
		if (ms)
			sleep_ms(ms);
	}
	printf("ok");
	for (unsigned i = 0; i < count; i++)
		printf(" %llu", (unsigned long long)lat[i]);
	printf("\n");
}

static void spaces_to_underscores(char *s, size_t max)
{
	if (strlen(s) > max)
		s[max] = '\0';
	for (; *s; s++)
		if (*s == ' ')
			*s = '_';
}

/* A thaw from the second connection while the freeze is under way. */
static void thaw_mid(unsigned ms)
{
	uint64_t t0, ts, tt, tf;
	char ta[8192];

	t0 = now_ns();
	conn_send(&main_conn, req_freeze);
	sleep_ms(ms);
	ts = now_ns();
	conn_send(&side_conn, req_thaw);
	conn_recv(&side_conn, ta, sizeof(ta));
	tt = now_ns();
	conn_recv(&main_conn, answer, sizeof(answer));
	tf = now_ns();
	/* If the freeze won the race after all, thaw it. */
	if (answer_count(answer) > 0) {
		char a2[4096];
		conn_send(&main_conn, req_thaw);
		conn_recv(&main_conn, a2, sizeof(a2));
	}
	spaces_to_underscores(ta, 200);
	spaces_to_underscores(answer, 200);
	printf("ok %llu %llu %s %s\n", (unsigned long long)(tt - ts),
	       (unsigned long long)(tf - t0), ta, answer);
}

/* ------------------------------------------------------------ main */

static void check_mount(const char *mp)
{
	static const char prefix[] = "/tmp/quiesce-bench-";
	if (strncmp(mp, prefix, sizeof(prefix) - 1) != 0 || strstr(mp, "/..") ||
	    !strstr(mp, "/mnt/") || strpbrk(mp, "\"\\"))
		die("refusing a mountpoint outside a /tmp/quiesce-bench-*/mnt scratch dir: %s", mp);
}

int main(int argc, char **argv)
{
	char line[256];
	int a = 2;

	if (argc < 3)
		die("usage: qbench raw-serial|raw-parallel MOUNTPOINT... | "
		    "control|qga SOCKET [--single] MOUNTPOINT...");
	if (strcmp(argv[1], "raw-serial") == 0)
		mode = RAW_SERIAL;
	else if (strcmp(argv[1], "raw-parallel") == 0)
		mode = RAW_PARALLEL;
	else if (strcmp(argv[1], "control") == 0)
		mode = CONTROL;
	else if (strcmp(argv[1], "qga") == 0)
		mode = QGA;
	else
		die("unknown mode %s", argv[1]);
	if (mode == CONTROL || mode == QGA)
		sock_path = argv[a++];
	if (a < argc && strcmp(argv[a], "--single") == 0) {
		single = true;
		a++;
	}
	for (; a < argc; a++) {
		if (nfs == MAX_FS)
			die("at most %d mountpoints", MAX_FS);
		check_mount(argv[a]);
		mounts[nfs++] = argv[a];
	}
	if (nfs == 0)
		die("no mountpoints");
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);

	if (mode == RAW_SERIAL || mode == RAW_PARALLEL) {
		for (int i = 0; i < nfs; i++) {
			fds[i] = open(mounts[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (fds[i] < 0)
				die("open %s: %s", mounts[i], strerror(errno));
		}
		if (mode == RAW_PARALLEL) {
			pthread_attr_t at;
			pthread_attr_init(&at);
			pthread_attr_setstacksize(&at, 64 * 1024);
			sem_init(&par.done, 0, 0);
			for (int i = 1; i < nfs; i++) {
				pthread_t t;
				sem_init(&par.go[i], 0, 0);
				if (pthread_create(&t, &at, par_worker, (void *)(intptr_t)i) != 0)
					die("pthread_create");
				pthread_detach(t);
			}
		}
	} else {
		conn_open(&main_conn, sock_path);
		if (!single)
			conn_open(&side_conn, sock_path);
		build_requests();
	}
	printf("ready\n");

	while (fgets(line, sizeof(line), stdin)) {
		unsigned n = 0, v1 = 0, v2 = 0;
		if (strncmp(line, "quit", 4) == 0)
			break;
		if (sscanf(line, "%*s %u", &n) < 1 || n < 1 || n > (unsigned)nfs) {
			printf("err bad command (N: 1..%d)\n", nfs);
			continue;
		}
		cur = (int)n;
		if (mode == CONTROL || mode == QGA)
			build_freeze(cur);
		if (strncmp(line, "cycle ", 6) == 0) {
			if (mode == RAW_SERIAL || mode == RAW_PARALLEL)
				raw_cycle();
			else
				sock_cycle();
		} else if (mode != CONTROL && mode != QGA) {
			printf("err only cycle for the raw rows\n");
		} else if (single) {
			printf("err --single: no second connection\n");
		} else if (sscanf(line, "probe %u %u", &n, &v1) == 2) {
			probe(v1);
		} else if (sscanf(line, "idle %u %u %u", &n, &v1, &v2) == 3) {
			idle_status(v1, v2);
		} else if (sscanf(line, "thawmid %u %u", &n, &v1) == 2) {
			thaw_mid(v1);
		} else {
			printf("err unknown command\n");
		}
	}
	return 0;
}
