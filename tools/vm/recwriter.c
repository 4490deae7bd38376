// SPDX-License-Identifier: MIT
/*
 * recwriter: the record writer of the quiesce test VM.
 *
 *   recwriter [-r RATE] [-s CTLSOCK] [-n COUNT] [-H HOLD_S] FILE
 *   recwriter --ctl CTLSOCK freeze|thaw [-t TIMEOUT_S]
 *
 * Appends fixed 64-byte records to FILE, one write() per record, RATE per second
 * (default 200), no fsync in normal operation: it leaves its data in the page cache
 * the way a careless application would, so only a real freeze makes a snapshot of
 * it complete. Each record checks itself, so a torn or half-flushed record shows.
 *
 * Record layout (little-endian; the libquiesce example app writes the same):
 *   0  char     magic[4] = "QREC"
 *   4  uint32_t type       0 data, 1 freeze, 2 thaw, 3 start
 *   8  uint64_t seq        0, 1, 2, ... contiguous across all types (and restarts)
 *  16  uint64_t time_ns    CLOCK_REALTIME
 *  24  uint8_t  payload[36]  payload[i] = (seq + i) & 0xff
 *  60  uint32_t crc32      IEEE CRC-32 (zlib's) of bytes 0..59
 *
 * PHASE-1 STAND-IN, kept for the qemu-ga comparison VM (make vmtest VM_AGENT=qemu-ga),
 * where no quiesced runs; the quiesced VM runs examples/recwriter.c, the same records
 * written by a libquiesce app. Here FREEZE and THAW reach the writer on a control socket (-s, AF_UNIX SOCK_SEQPACKET) that qemu-ga's fsfreeze
 * hook talks to with "recwriter --ctl SOCK freeze|thaw". On "freeze" it writes a
 * freeze record, fsyncs and holds all writes until "thaw" (or HOLD_S seconds, the
 * stand-in's lease); on "thaw" it writes a thaw record and goes on. The reply is sent
 * only when that is done, so the hook, and qemu-ga behind it, wait for it.
 */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

enum rec_type { REC_DATA = 0, REC_FREEZE = 1, REC_THAW = 2, REC_START = 3 };

#define REC_SIZE 64
#define REC_PAYLOAD 36
#define CTL_MSG_MAX 64

static const char *progname = "recwriter";
static volatile sig_atomic_t stop_requested;

static void logmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
logmsg(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void
usage(void)
{
	fprintf(stderr, "usage: recwriter [-r RATE] [-s CTLSOCK] [-n COUNT] [-H HOLD_S] FILE\n"
			"       recwriter --ctl CTLSOCK freeze|thaw [-t TIMEOUT_S]\n");
	exit(2);
}

/* ---------------------------------------------------------------- records */

static uint32_t crc_table[256];

static void
crc32_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
		crc_table[i] = c;
	}
}

/* IEEE 802.3 CRC-32, the same as zlib's crc32(0, buf, len). */
static uint32_t
crc32_ieee(const uint8_t *buf, size_t len)
{
	uint32_t c = 0xFFFFFFFFu;

	for (size_t i = 0; i < len; i++)
		c = crc_table[(c ^ buf[i]) & 0xff] ^ (c >> 8);
	return c ^ 0xFFFFFFFFu;
}

static void
put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void
put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t
get_le32(const uint8_t *p)
{
	uint32_t v = 0;

	for (int i = 3; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static uint64_t
get_le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static uint64_t
now_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void
rec_fill(uint8_t rec[REC_SIZE], uint32_t type, uint64_t seq)
{
	memcpy(rec, "QREC", 4);
	put_le32(rec + 4, type);
	put_le64(rec + 8, seq);
	put_le64(rec + 16, now_ns(CLOCK_REALTIME));
	for (int i = 0; i < REC_PAYLOAD; i++)
		rec[24 + i] = (uint8_t)((seq + (uint64_t)i) & 0xff);
	put_le32(rec + 60, crc32_ieee(rec, 60));
}

static int
rec_valid(const uint8_t rec[REC_SIZE])
{
	uint64_t seq = get_le64(rec + 8);

	if (memcmp(rec, "QREC", 4) != 0 || get_le32(rec + 4) > REC_START)
		return 0;
	for (int i = 0; i < REC_PAYLOAD; i++)
		if (rec[24 + i] != (uint8_t)((seq + (uint64_t)i) & 0xff))
			return 0;
	return get_le32(rec + 60) == crc32_ieee(rec, 60);
}

struct writer {
	int fd;
	uint64_t seq;		/* of the next record */
	uint64_t written;	/* records written by this process */
};

/* One write() per record: a record is never split across calls by us. */
static int
writer_put(struct writer *w, uint32_t type)
{
	uint8_t rec[REC_SIZE];
	ssize_t n;

	rec_fill(rec, type, w->seq);
	do
		n = write(w->fd, rec, sizeof rec);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof rec) {
		logmsg("write of record %llu: %s", (unsigned long long)w->seq,
		       n < 0 ? strerror(errno) : "short write");
		return -1;
	}
	w->seq++;
	w->written++;
	return 0;
}

/*
 * Continue an existing file: seq goes on from its last record. A file whose size is
 * not a multiple of the record size, or whose last record is bad, is left alone.
 */
static int
writer_open(struct writer *w, const char *path)
{
	struct stat st;
	uint8_t rec[REC_SIZE];

	w->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (w->fd < 0) {
		logmsg("open %s: %s", path, strerror(errno));
		return -1;
	}
	w->seq = 0;
	w->written = 0;
	if (fstat(w->fd, &st) < 0) {
		logmsg("fstat %s: %s", path, strerror(errno));
		return -1;
	}
	if (st.st_size == 0)
		return 0;
	if (st.st_size % REC_SIZE != 0) {
		logmsg("%s: size %lld is not a multiple of %d; refusing to append",
		       path, (long long)st.st_size, REC_SIZE);
		return -1;
	}
	int rfd = open(path, O_RDONLY | O_CLOEXEC);
	if (rfd < 0 || pread(rfd, rec, sizeof rec, st.st_size - REC_SIZE) != REC_SIZE ||
	    !rec_valid(rec)) {
		logmsg("%s: last record unreadable or bad; refusing to append", path);
		if (rfd >= 0)
			close(rfd);
		return -1;
	}
	close(rfd);
	w->seq = get_le64(rec + 8) + 1;
	return 0;
}

/* ---------------------------------------------------------------- control socket */

static int
ctl_addr(struct sockaddr_un *sa, const char *path)
{
	memset(sa, 0, sizeof *sa);
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sa->sun_path) {
		logmsg("socket path too long: %s", path);
		return -1;
	}
	strcpy(sa->sun_path, path);
	return 0;
}

static int
ctl_listen(const char *path)
{
	struct sockaddr_un sa;
	int fd;

	if (ctl_addr(&sa, path) < 0)
		return -1;
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		logmsg("socket: %s", strerror(errno));
		return -1;
	}
	unlink(path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 4) < 0) {
		logmsg("bind/listen %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static void
ctl_reply(int cfd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
ctl_reply(int cfd, const char *fmt, ...)
{
	char buf[CTL_MSG_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof buf)
		n = sizeof buf - 1;
	if (send(cfd, buf, (size_t)n, MSG_NOSIGNAL) < 0)
		logmsg("control reply: %s", strerror(errno));
}

/*
 * Serve one control client: one command, one reply. The hook is the only client and
 * is short-lived, so a bounded blocking read here does not starve the writer.
 * Returns -1 only when the writer cannot go on.
 */
static int
ctl_serve(int lfd, struct writer *w, int *held, uint64_t *hold_deadline, uint64_t hold_ns)
{
	struct timeval tv = { .tv_sec = 1, .tv_usec = 0 };
	char msg[CTL_MSG_MAX];
	ssize_t n;
	int cfd, rc = 0;

	cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (cfd < 0)
		return 0;
	setsockopt(cfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	n = recv(cfd, msg, sizeof msg - 1, 0);
	if (n <= 0) {
		close(cfd);
		return 0;
	}
	msg[n] = '\0';
	msg[strcspn(msg, "\r\n")] = '\0';

	if (strcmp(msg, "freeze") == 0) {
		if (*held) {
			ctl_reply(cfd, "ok freeze already held");
		} else if (writer_put(w, REC_FREEZE) < 0 || fsync(w->fd) < 0) {
			/* The hook fails, and qemu-ga aborts the freeze. */
			ctl_reply(cfd, "err freeze record not durable");
			rc = -1;
		} else {
			*held = 1;
			*hold_deadline = now_ns(CLOCK_MONOTONIC) + hold_ns;
			logmsg("FREEZE: record %llu written and synced, holding writes",
			       (unsigned long long)(w->seq - 1));
			ctl_reply(cfd, "ok freeze %llu", (unsigned long long)(w->seq - 1));
		}
	} else if (strcmp(msg, "thaw") == 0) {
		if (!*held) {
			ctl_reply(cfd, "ok thaw not held");
		} else if (writer_put(w, REC_THAW) < 0) {
			ctl_reply(cfd, "err thaw record");
			rc = -1;
		} else {
			*held = 0;
			logmsg("THAW: record %llu written, writing again",
			       (unsigned long long)(w->seq - 1));
			ctl_reply(cfd, "ok thaw %llu", (unsigned long long)(w->seq - 1));
		}
	} else {
		ctl_reply(cfd, "err unknown command");
	}
	close(cfd);
	return rc;
}

/* Client mode: send one command and wait for the reply. */
static int
ctl_client(const char *path, const char *cmd, int timeout_s)
{
	struct sockaddr_un sa;
	struct timeval tv = { .tv_sec = timeout_s, .tv_usec = 0 };
	char reply[CTL_MSG_MAX];
	ssize_t n;
	int fd;

	if (ctl_addr(&sa, path) < 0)
		return 1;
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		logmsg("connect %s: %s", path, strerror(errno));
		return 1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	if (send(fd, cmd, strlen(cmd), MSG_NOSIGNAL) < 0) {
		logmsg("send: %s", strerror(errno));
		return 1;
	}
	n = recv(fd, reply, sizeof reply - 1, 0);
	close(fd);
	if (n <= 0) {
		logmsg("%s: no reply (%s)", cmd, n < 0 ? strerror(errno) : "closed");
		return 1;
	}
	reply[n] = '\0';
	logmsg("%s", reply);
	return strncmp(reply, "ok", 2) == 0 ? 0 : 1;
}

/* ---------------------------------------------------------------- main */

static void
on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static long
num_arg(const char *s, long min, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *s == '\0' || *end != '\0' || v < min || v > max)
		usage();
	return v;
}

int
main(int argc, char **argv)
{
	long rate = 200, count = -1, hold_s = 60;
	const char *ctl_path = NULL, *path;
	struct writer w;
	struct sigaction sa;
	int lfd = -1, held = 0, rc = 0;
	uint64_t interval, next, hold_deadline = 0;

	if (argc >= 4 && strcmp(argv[1], "--ctl") == 0) {
		int timeout = 10;
		if (argc == 6 && strcmp(argv[4], "-t") == 0)
			timeout = (int)num_arg(argv[5], 1, 3600);
		else if (argc != 4)
			usage();
		return ctl_client(argv[2], argv[3], timeout);
	}

	for (int opt; (opt = getopt(argc, argv, "r:s:n:H:")) != -1;) {
		switch (opt) {
		case 'r': rate = num_arg(optarg, 1, 100000); break;
		case 's': ctl_path = optarg; break;
		case 'n': count = num_arg(optarg, 1, 1L << 40); break;
		case 'H': hold_s = num_arg(optarg, 1, 3600); break;
		default: usage();
		}
	}
	if (optind != argc - 1)
		usage();
	path = argv[optind];

	crc32_init();
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	if (writer_open(&w, path) < 0)
		return 1;
	if (ctl_path && (lfd = ctl_listen(ctl_path)) < 0)
		return 1;
	if (writer_put(&w, REC_START) < 0)
		return 1;
	logmsg("writing %ld records/s to %s from seq %llu", rate, path,
	       (unsigned long long)(w.seq - 1));

	interval = 1000000000u / (uint64_t)rate;
	next = now_ns(CLOCK_MONOTONIC) + interval;
	while (!stop_requested && (count < 0 || w.written < (uint64_t)count)) {
		uint64_t now = now_ns(CLOCK_MONOTONIC);
		uint64_t due = held ? hold_deadline : next;
		int timeout_ms = due > now ? (int)((due - now + 999999) / 1000000) : 0;
		struct pollfd pfd = { .fd = lfd, .events = POLLIN };

		if (poll(&pfd, lfd >= 0 ? 1 : 0, timeout_ms) > 0 && (pfd.revents & POLLIN) &&
		    ctl_serve(lfd, &w, &held, &hold_deadline, (uint64_t)hold_s * 1000000000u) < 0) {
			rc = 1;
			break;
		}
		now = now_ns(CLOCK_MONOTONIC);
		if (held) {
			if (now >= hold_deadline) {
				logmsg("no THAW within %ld s: writing again", hold_s);
				held = 0;
				next = now;
			}
			continue;
		}
		if (now >= next) {
			if (writer_put(&w, REC_DATA) < 0) {
				rc = 1;
				break;
			}
			next += interval;
			if (next + 1000000000u < now)	/* fell far behind: do not burst */
				next = now;
		}
	}
	logmsg("stopping after %llu records, next seq %llu", (unsigned long long)w.written,
	       (unsigned long long)w.seq);
	if (ctl_path)
		unlink(ctl_path);
	close(w.fd);
	return rc;
}
