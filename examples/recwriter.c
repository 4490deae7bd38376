// SPDX-License-Identifier: MIT
/*
 * recwriter: a writer that holds its writes across a snapshot.
 *
 * It appends fixed 64-byte records to a file, one write() each, a few hundred
 * a second, without fsync. Registered with quiesced, on FREEZE it writes a
 * freeze record, fsyncs, stops writing and only then answers; on THAW it writes
 * a thaw record and goes on. A snapshot taken while the filesystems are frozen
 * must therefore end exactly with a freeze record, every record before it
 * intact: `recwriter -c FILE` checks that. (A hook script cannot do this: it
 * runs and exits, it cannot hold a writer's writes until the thaw.)
 *
 * It shows the event-loop style of libquiesce: quiesce_fd() in the program's
 * own poll set, quiesce_next_request(q, &req, 0) when it is readable, and
 * quiesce_reply() once the work is done.
 *
 * Record, little-endian, 64 bytes:
 *   0  char     magic[4] = "QREC"
 *   4  uint32_t type      0 data, 1 freeze, 2 thaw, 3 start
 *   8  uint64_t seq       0, 1, 2, ... contiguous across all types
 *  16  uint64_t time_ns   CLOCK_REALTIME
 *  24  uint8_t  payload[36]  payload[i] = (seq + i) & 0xff
 *  60  uint32_t crc32     IEEE CRC-32 (zlib's crc32()) of bytes 0..59
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <quiesce.h>

#define REC_SIZE	64
#define REC_PAYLOAD	36

enum rec_type { REC_DATA = 0, REC_FREEZE = 1, REC_THAW = 2, REC_START = 3 };

static const char *const type_names[] = { "data", "freeze", "thaw", "start" };

struct writer {
	const char *path;
	const char *name;
	const char *socket;
	struct quiesce_options opt;
	unsigned int rate;
	int fd;
	uint64_t seq;
	uint64_t written;
	int holding;		/* between our FREEZE answer and THAW: no writes */
	int foreground, debug;
};

static volatile sig_atomic_t stop_signal;

static void
say(const struct writer *w, int prio, const char *fmt, ...)
{
	va_list ap;

	if (prio == LOG_DEBUG && !w->debug)
		return;
	va_start(ap, fmt);
	if (w->foreground) {
		fprintf(stderr, "recwriter: ");
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
	} else {
		vsyslog(prio, fmt, ap);
	}
	va_end(ap);
}

static uint64_t
clock_ns(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* IEEE 802.3 CRC-32, reflected, as zlib's crc32(0, buf, len). */
static uint32_t
crc32_ieee(const uint8_t *p, size_t len)
{
	static uint32_t table[256];
	uint32_t c;
	size_t i;
	int k;

	if (table[1] == 0) {
		for (i = 0; i < 256; i++) {
			c = (uint32_t)i;
			for (k = 0; k < 8; k++)
				c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
			table[i] = c;
		}
	}
	c = 0xffffffffu;
	for (i = 0; i < len; i++)
		c = table[(c ^ p[i]) & 0xff] ^ (c >> 8);
	return c ^ 0xffffffffu;
}

static void
put_le(uint8_t *p, uint64_t v, int n)
{
	int i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t
get_le(const uint8_t *p, int n)
{
	uint64_t v = 0;
	int i;

	for (i = n - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static void
rec_encode(uint8_t r[REC_SIZE], uint32_t type, uint64_t seq, uint64_t time_ns)
{
	int i;

	memcpy(r, "QREC", 4);
	put_le(r + 4, type, 4);
	put_le(r + 8, seq, 8);
	put_le(r + 16, time_ns, 8);
	for (i = 0; i < REC_PAYLOAD; i++)
		r[24 + i] = (uint8_t)((seq + (uint64_t)i) & 0xff);
	put_le(r + 60, crc32_ieee(r, 60), 4);
}

/* NULL if r is a well-formed record, else what is wrong with it. */
static const char *
rec_check(const uint8_t r[REC_SIZE], uint32_t *type, uint64_t *seq)
{
	int i;

	*type = (uint32_t)get_le(r + 4, 4);
	*seq = get_le(r + 8, 8);
	if (memcmp(r, "QREC", 4) != 0)
		return "bad magic";
	if (get_le(r + 60, 4) != crc32_ieee(r, 60))
		return "bad crc";
	if (*type > REC_START)
		return "bad type";
	for (i = 0; i < REC_PAYLOAD; i++)
		if (r[24 + i] != (uint8_t)((*seq + (uint64_t)i) & 0xff))
			return "bad payload";
	return NULL;
}

/* One record, one write(). Exits on failure: a writer that cannot write is no test. */
static void
append(struct writer *w, enum rec_type type)
{
	uint8_t r[REC_SIZE];
	ssize_t n;

	rec_encode(r, type, w->seq, clock_ns(CLOCK_REALTIME));
	do
		n = write(w->fd, r, sizeof(r));
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(r)) {
		say(w, LOG_ERR, "write %s: %s", w->path, n < 0 ? strerror(errno) : "short write");
		exit(1);
	}
	w->seq++;
	w->written++;
}

/* Continue an existing file after its last record, or start one. */
static int
open_file(struct writer *w, int truncate)
{
	uint8_t r[REC_SIZE];
	struct stat st;
	uint32_t type;
	uint64_t seq;
	ssize_t n;
	int rfd;

	w->fd = open(w->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | (truncate ? O_TRUNC : 0),
	    0644);
	if (w->fd < 0 || fstat(w->fd, &st) < 0) {
		fprintf(stderr, "recwriter: %s: %s\n", w->path, strerror(errno));
		return -1;
	}
	w->seq = 0;
	if (st.st_size == 0)
		return 0;
	/* The fd is write-only (O_APPEND); read the last record through a second one. */
	n = -1;
	if (st.st_size % REC_SIZE == 0 && (rfd = open(w->path, O_RDONLY | O_CLOEXEC)) >= 0) {
		n = pread(rfd, r, REC_SIZE, st.st_size - REC_SIZE);
		close(rfd);
	}
	if (n != REC_SIZE || rec_check(r, &type, &seq) != NULL) {
		fprintf(stderr, "recwriter: %s: not a record file or last record bad "
		    "(-t starts over)\n", w->path);
		return -1;
	}
	w->seq = seq + 1;
	return 0;
}

/* -c FILE: check every record and print a summary. 0 if the file is sound. */
static int
check_file(const char *path)
{
	uint64_t count[4] = { 0 }, n = 0, seq, want = 0;
	uint32_t type, last_type = UINT32_MAX;
	uint8_t r[REC_SIZE];
	const char *bad;
	size_t got;
	int errors = 0, held = 0, partial = 0;
	FILE *f = fopen(path, "rb");

	if (f == NULL) {
		fprintf(stderr, "recwriter: %s: %s\n", path, strerror(errno));
		return 1;
	}
	while ((got = fread(r, 1, REC_SIZE, f)) == REC_SIZE) {
		if ((bad = rec_check(r, &type, &seq)) != NULL) {
			fprintf(stderr, "record %" PRIu64 ": %s\n", n, bad);
			errors++;
		} else {
			if (seq != want) {
				fprintf(stderr, "record %" PRIu64 ": seq %" PRIu64 ", want %" PRIu64 "\n",
				    n, seq, want);
				errors++;
			}
			/* While held only a thaw (or a restart after dying frozen) may follow. */
			if (held && type != REC_THAW && type != REC_START) {
				fprintf(stderr, "record %" PRIu64 ": %s record while held after freeze\n",
				    n, type_names[type]);
				errors++;
			}
			held = type == REC_FREEZE;
			count[type]++;
			last_type = type;
			want = seq + 1;
		}
		n++;
	}
	partial = (int)got;
	fclose(f);
	if (partial)
		fprintf(stderr, "%d trailing bytes (a torn record)\n", partial);
	printf("records=%" PRIu64 " data=%" PRIu64 " freeze=%" PRIu64 " thaw=%" PRIu64
	    " start=%" PRIu64 " next_seq=%" PRIu64 " last=%s partial_bytes=%d errors=%d\n",
	    n, count[REC_DATA], count[REC_FREEZE], count[REC_THAW], count[REC_START], want,
	    last_type <= REC_START ? type_names[last_type] : "none", partial, errors);
	return errors || partial ? 1 : 0;
}

/* FREEZE: record it, make it durable, then hold. The answer goes out only after. */
static int
on_freeze(struct writer *w)
{
	if (w->holding)
		return QUIESCE_SUCCESS;
	append(w, REC_FREEZE);
	if (fsync(w->fd) < 0) {
		say(w, LOG_ERR, "fsync %s: %s", w->path, strerror(errno));
		return QUIESCE_FAIL;
	}
	w->holding = 1;
	say(w, LOG_INFO, "frozen: holding writes after seq %" PRIu64, w->seq - 1);
	return QUIESCE_SUCCESS;
}

static void
on_thaw(struct writer *w, const char *why)
{
	if (!w->holding)
		return;
	w->holding = 0;
	append(w, REC_THAW);
	say(w, LOG_INFO, "thawed (%s): writing again", why);
}

/* Registered: take one request if there is one. <0 when the connection is gone. */
static int
handle_request(struct writer *w, struct quiesce *q)
{
	struct quiesce_request req;
	int r, status = QUIESCE_SUCCESS;

	r = quiesce_next_request(q, &req, 0);
	if (r == -ETIMEDOUT)
		return 0;	/* woken for nothing */
	if (r < 0)
		return r;
	say(w, LOG_DEBUG, "%s, msgid %" PRIu64, quiesce_op_name(req.op), req.msgid);
	switch (req.op) {
	case QUIESCE_CHECK:
		break;
	case QUIESCE_FREEZE:
		status = on_freeze(w);
		break;
	case QUIESCE_THAW:
		on_thaw(w, "THAW");
		break;
	default:
		status = QUIESCE_FAIL;
	}
	return quiesce_reply(q, &req, status);
}

static void
on_signal(int sig)
{
	stop_signal = sig;
}

static int
run(struct writer *w)
{
	uint64_t period = 1000000000u / w->rate, next_write, next_connect = 0, now, wake;
	struct quiesce *q = NULL;
	struct pollfd pfd;
	struct timespec ts;
	sigset_t block, waitmask;
	int r, last_err = 0;

	/*
	 * SIGTERM/SIGINT are blocked except inside ppoll(), so a signal can never slip
	 * in between checking stop_signal and going to sleep.
	 */
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, &waitmask);
	sigdelset(&waitmask, SIGTERM);
	sigdelset(&waitmask, SIGINT);

	append(w, REC_START);
	next_write = clock_ns(CLOCK_MONOTONIC) + period;
	while (!stop_signal) {
		now = clock_ns(CLOCK_MONOTONIC);
		if (q == NULL && now >= next_connect) {
			r = quiesce_open(w->socket, w->name, &w->opt, 500, &q);
			if (r < 0) {
				if (r != last_err)
					say(w, LOG_WARNING, "register: %s", quiesce_strerror(r));
				last_err = r;
				q = NULL;
				next_connect = now + 1000000000u;
			} else {
				last_err = 0;
				say(w, LOG_INFO, "registered as app %u (timeout %u ms)", quiesce_app_id(q),
				    quiesce_timeout_ms(q));
			}
			now = clock_ns(CLOCK_MONOTONIC);
		}
		if (!w->holding && now >= next_write) {
			append(w, REC_DATA);
			next_write += period;
			/* Fell far behind (a frozen filesystem, a long hold): do not burst. */
			if (now > next_write + 1000000000u)
				next_write = now + period;
			continue;
		}

		wake = w->holding ? UINT64_MAX : next_write;
		if (q == NULL && next_connect < wake)
			wake = next_connect;
		pfd.fd = q != NULL ? quiesce_fd(q) : -1;
		pfd.events = POLLIN;
		pfd.revents = 0;
		if (wake != UINT64_MAX) {
			wake = wake > now ? wake - now : 0;
			ts.tv_sec = (time_t)(wake / 1000000000u);
			ts.tv_nsec = (long)(wake % 1000000000u);
		}
		r = ppoll(&pfd, 1, wake == UINT64_MAX ? NULL : &ts, &waitmask);
		if (r < 0 && errno != EINTR) {
			say(w, LOG_ERR, "ppoll: %s", strerror(errno));
			return 1;
		}
		if (r > 0 && q != NULL && (r = handle_request(w, q)) < 0) {
			say(w, LOG_WARNING, "connection lost: %s", quiesce_strerror(r));
			/* Nobody will send THAW now, and the daemon counts us as thawed. */
			on_thaw(w, "connection lost");
			quiesce_close(q);
			q = NULL;
			next_connect = clock_ns(CLOCK_MONOTONIC) + 1000000000u;
		}
	}
	quiesce_close(q);
	say(w, LOG_INFO, "stopping after %" PRIu64 " records", w->written);
	return 0;
}

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: recwriter [-dnot] [-r rate] [-N name] [-s socket] [-T ms] FILE\n"
	    "       recwriter -c FILE\n"
	    "Append 64-byte records to FILE, holding writes between FREEZE and THAW.\n"
	    "  -r rate    records per second (default 200)\n"
	    "  -N name    register under this name (default recwriter)\n"
	    "  -s socket  quiesced's app socket (default $" QUIESCE_SOCKET_ENV " or "
	    QUIESCE_DEFAULT_SOCKET ")\n"
	    "  -o         register as optional (default: required)\n"
	    "  -T ms      ask for this per-request timeout (default: the daemon's)\n"
	    "  -t         truncate FILE first (default: continue after its last record)\n"
	    "  -n         stay in the foreground (default: daemon(3), messages to syslog)\n"
	    "  -d         debug messages\n"
	    "  -c FILE    check FILE's records; print a summary; exit 1 if any is bad\n"
	    "SIGTERM or SIGINT: stop.\n");
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = { { "help", no_argument, NULL, 'h' }, { 0 } };
	struct writer w = { .name = "recwriter", .rate = 200, .fd = -1 };
	const char *check = NULL;
	char *end, sockbuf[4096];
	struct sigaction sa;
	int ch, truncate = 0;
	long v;

	while ((ch = getopt_long(argc, argv, "r:N:s:oT:tndc:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'r':
		case 'T':
			errno = 0;
			v = strtol(optarg, &end, 10);
			if (errno || end == optarg || *end || v < (ch == 'r') ||
			    v > (ch == 'r' ? 100000 : 3600000)) {
				fprintf(stderr, "recwriter: bad -%c %s\n", ch, optarg);
				return 2;
			}
			if (ch == 'r')
				w.rate = (unsigned int)v;
			else
				w.opt.timeout_ms = (unsigned int)v;
			break;
		case 'N':
			w.name = optarg;
			break;
		case 's':
			w.socket = optarg;
			break;
		case 'o':
			w.opt.flags |= QUIESCE_OPTIONAL;
			break;
		case 't':
			truncate = 1;
			break;
		case 'n':
			w.foreground = 1;
			break;
		case 'd':
			w.debug = 1;
			break;
		case 'c':
			check = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (check != NULL)
		return optind == argc ? check_file(check) : (usage(stderr), 2);
	if (optind != argc - 1) {
		usage(stderr);
		return 2;
	}
	w.path = argv[optind];
	if (open_file(&w, truncate) < 0)
		return 1;
	/* daemon(3) moves us to /: make a relative socket path absolute first. */
	if (w.socket != NULL && w.socket[0] != '/' && getcwd(sockbuf, sizeof(sockbuf)) != NULL &&
	    strlen(sockbuf) + strlen(w.socket) + 2 <= sizeof(sockbuf)) {
		strcat(sockbuf, "/");
		strcat(sockbuf, w.socket);
		w.socket = sockbuf;
	}
	openlog("recwriter", LOG_PID, LOG_USER);
	if (!w.foreground && daemon(0, 0) < 0) {
		fprintf(stderr, "recwriter: daemon: %s\n", strerror(errno));
		return 1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	return run(&w);
}
