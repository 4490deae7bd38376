#include "hooks/hooks.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hooks/hookpath.h"
#include "hooks/hooks_int.h"
#include "common/util.h"
#include "common/log.h"
#include "common/nodump.h"
#include "common/loop.h"

/* Output kept per hook run: the last 4 KiB, logged line by line after the phase. */
#define OUTPUT_KEEP 4096
/* Read after the hook exited, before the pipe is handed to the drain. */
#define DRAIN_AT_EXIT (64 * 1024)
/* How long the drain reads on after the hook itself is over. */
#define DRAIN_KEEP_MS 1000

const char *const hooks_result_names[] = {
	[H_NOT_RUN] = "not run",   [H_RUNNING] = "running",   [H_OK] = "ok",
	[H_FAILED] = "failed",     [H_SIGNALED] = "killed",   [H_TIMEOUT] = "timeout",
	[H_NO_START] = "not started", [H_CANCELLED] = "cancelled", [H_NO_TIME] = "no time left",
	[H_UNSAFE] = "refused",
};

/* Output pipes of hooks that exited but left processes holding them (a helper that
 * keeps a lock, like qemu's mysql-flush sample): read and discarded until EOF or for
 * DRAIN_KEEP_MS, whichever comes first. Not until EOF alone: a helper that never
 * exits (`setsid sleep 1000 &`) would cost us two fds per cycle for as long as it
 * lives. A helper that writes after that gets EPIPE (or SIGPIPE). */
struct drain {
	struct hooks *h;
	int fd;
	size_t bytes;
	struct loop_timer keep;
	char name[NAME_MAX + 1];
	struct drain *next;
};

/* A killed hook not reaped yet. */
struct zombie {
	struct hooks *h;
	pid_t pid;
	int pidfd;
	struct zombie *next;
};

struct hooks *hooks_new(struct loop *loop, struct engine *engine, const struct hooks_config *cfg)
{
	struct hooks *h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	h->dir = strdup(cfg->dir);
	h->record = cfg->record ? strdup(cfg->record) : NULL;
	if (!h->dir || (cfg->record && !h->record)) {
		free(h->dir);
		free(h);
		return NULL;
	}
	h->loop = loop;
	h->engine = engine;
	h->timeout_ms = cfg->timeout_ms;
	h->budget_ms = cfg->budget_ms;
	h->pid = -1;
	h->pidfd = h->outfd = -1;
	return h;
}

void hooks_free_set(struct hooks *h)
{
	for (size_t i = 0; i < h->n; i++)
		free(h->v[i].out);
	free(h->v);
	h->v = NULL;
	h->n = 0;
}

/* ------------------------------------------------------------ the directory */

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Editor and package-manager leftovers, skipped as qemu-ga's fsfreeze-hook does. */
static bool leftover(const char *name)
{
	return name[0] == '.' || ends_with(name, "~") || strstr(name, ".dpkg-") ||
	       strstr(name, ".rpm") || ends_with(name, ".bak") || ends_with(name, ".orig") ||
	       ends_with(name, ".sample");
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct hook *)a)->name, ((const struct hook *)b)->name);
}

/* Read the directory into h->v, sorted. -1 with msg: a veto (unsafe, unreadable). */
static int scan(struct hooks *h, char *msg, size_t msglen)
{
	struct stat st;
	struct dirent *de;
	DIR *d;
	int fd;
	char why[MSG_LEN], real[PATH_MAX];
	size_t cap = 0;

	hooks_free_set(h);
	fd = open(h->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;   /* no directory, no hooks */
		snprintf(msg, msglen, "cannot open the hook directory %s: %s", h->dir, strerror(errno));
		return -1;
	}
	/* We run these as root: anyone who can change one can run code as root. */
	if (fstat(fd, &st) < 0 || hookpath_unsafe_hookdir(&st, why, sizeof(why))) {
		snprintf(msg, msglen, "the hook directory %s is not safe: %s", h->dir, why);
		close(fd);
		return -1;
	}
	d = fdopendir(fd);
	if (!d) {
		snprintf(msg, msglen, "cannot read the hook directory %s: %s", h->dir, strerror(errno));
		close(fd);
		return -1;
	}
	while ((de = readdir(d))) {
		const char *name = de->d_name;
		if (leftover(name)) {
			if (strcmp(name, ".") && strcmp(name, ".."))
				log_debug("hooks: skipping %s/%s (a leftover or hidden file)", h->dir, name);
			continue;
		}
		/* Follows symlinks, as `[ -x ]` does; the target must be safe too. */
		if (fstatat(dirfd(d), name, &st, 0) < 0) {
			log_debug("hooks: skipping %s/%s: %s", h->dir, name, strerror(errno));
			continue;
		}
		if (!S_ISREG(st.st_mode) || !(st.st_mode & 0111)) {
			log_debug("hooks: skipping %s/%s: not an executable file", h->dir, name);
			continue;
		}
		/* The file and both paths (see hookpath.h); again right before each run. */
		if (hookpath_check_hook(h->dir, name, real, sizeof(real), why, sizeof(why)) < 0) {
			snprintf(msg, msglen, "hook %s/%s is not safe to run: %s", h->dir, name, why);
			closedir(d);
			hooks_free_set(h);
			return -1;
		}
		if (h->n == MAX_HOOKS) {
			snprintf(msg, msglen, "more than %d hooks in %s", MAX_HOOKS, h->dir);
			closedir(d);
			hooks_free_set(h);
			return -1;
		}
		/* Grown as hooks are found: a table for MAX_HOOKS (~80 KB) on every freeze
		 * costs a heap that grows and shrinks by it each time, for an empty dir. */
		if (h->n == cap) {
			size_t ncap = cap ? 2 * cap : 8;
			struct hook *nv = realloc(h->v, (ncap < MAX_HOOKS ? ncap : MAX_HOOKS) * sizeof(*nv));
			if (!nv) {
				snprintf(msg, msglen, "out of memory");
				closedir(d);
				hooks_free_set(h);
				return -1;
			}
			h->v = nv;
			cap = ncap < MAX_HOOKS ? ncap : MAX_HOOKS;
		}
		memset(&h->v[h->n], 0, sizeof(h->v[h->n]));
		str_copy(h->v[h->n].name, name, sizeof(h->v[h->n].name));
		h->n++;
	}
	closedir(d);
	if (h->n > 1)
		qsort(h->v, h->n, sizeof(*h->v), by_name);
	return 0;
}

/* ------------------------------------------------------------ children */

static void on_zombie(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct zombie *z = arg, **p;
	(void)events;
	if (waitpid(z->pid, NULL, WNOHANG) == 0)
		return;
	loop_del_fd(loop, fd);
	close(fd);
	for (p = &z->h->zombies; *p; p = &(*p)->next) {
		if (*p == z) {
			*p = z->next;
			break;
		}
	}
	free(z);
}

static void drain_free(struct loop *loop, struct drain *dr)
{
	struct drain **p;
	loop_timer_disarm(loop, &dr->keep);
	loop_del_fd(loop, dr->fd);
	close(dr->fd);
	for (p = &dr->h->drains; *p; p = &(*p)->next) {
		if (*p == dr) {
			*p = dr->next;
			break;
		}
	}
	free(dr);
}

static void on_drain(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct drain *dr = arg;
	char buf[4096];
	ssize_t n;
	(void)events;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		dr->bytes += (size_t)n;
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	log_debug("hooks: %s: %zu bytes of output from processes it left running, discarded",
		  dr->name, dr->bytes);
	drain_free(loop, dr);
}

static void on_drain_keep(struct loop *loop, void *arg)
{
	struct drain *dr = arg;
	log_debug("hooks: %s: processes it left running still hold its output pipe; closing "
		  "our end (%zu bytes discarded)", dr->name, dr->bytes);
	drain_free(loop, dr);
}

static void keep_output(struct hook *k, const char *buf, size_t n)
{
	if (!k->out && !(k->out = malloc(OUTPUT_KEEP)))
		return;
	if (n >= OUTPUT_KEEP) {
		k->out_dropped += k->out_len + n - OUTPUT_KEEP;
		memcpy(k->out, buf + n - OUTPUT_KEEP, OUTPUT_KEEP);
		k->out_len = OUTPUT_KEEP;
		return;
	}
	if (k->out_len + n > OUTPUT_KEEP) {
		size_t drop = k->out_len + n - OUTPUT_KEEP;
		memmove(k->out, k->out + drop, k->out_len - drop);
		k->out_len -= drop;
		k->out_dropped += drop;
	}
	memcpy(k->out + k->out_len, buf, n);
	k->out_len += n;
}

/* Read what the running hook wrote; at most limit bytes. Returns true at EOF. */
static bool read_output(struct hooks *h, size_t limit)
{
	char buf[4096];
	size_t total = 0;
	ssize_t n;
	while (total < limit && (n = read(h->outfd, buf, sizeof(buf))) != 0) {
		if (n < 0)
			return !(errno == EAGAIN || errno == EINTR);
		keep_output(&h->v[h->cur], buf, (size_t)n);
		total += (size_t)n;
	}
	return total < limit;
}

static void close_output(struct hooks *h, bool eof)
{
	struct drain *dr;
	if (h->outfd < 0)
		return;
	loop_del_fd(h->loop, h->outfd);
	if (!eof && (dr = calloc(1, sizeof(*dr)))) {
		dr->h = h;
		dr->fd = h->outfd;
		str_copy(dr->name, h->v[h->cur].name, sizeof(dr->name));
		if (loop_add_fd(h->loop, dr->fd, EPOLLIN, on_drain, dr) == 0) {
			dr->next = h->drains;
			h->drains = dr;
			loop_timer_arm(h->loop, &dr->keep, DRAIN_KEEP_MS, on_drain_keep, dr);
			h->outfd = -1;
			return;
		}
		free(dr);
	}
	close(h->outfd);
	h->outfd = -1;
}

static void on_output(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct hooks *h = arg;
	(void)loop;
	(void)fd;
	(void)events;
	if (read_output(h, OUTPUT_KEEP * 4)) {
		/* Every writer closed it; the hook itself may still run. */
		loop_del_fd(h->loop, h->outfd);
		close(h->outfd);
		h->outfd = -1;
	}
}

static void log_output(struct hooks *h, struct hook *k, const char *arg)
{
	char *p, *end, *nl;
	if (!k->out_len)
		goto out;
	if (k->out_dropped)
		log_info("hook %s %s: (%zu bytes of output before these were dropped)", k->name, arg,
			 k->out_dropped);
	for (p = k->out, end = k->out + k->out_len; p < end; p = nl + 1) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			nl = end;
		/* Sanitise: the log takes text lines. */
		for (char *c = p; c < nl; c++)
			if ((unsigned char)*c < 0x20 && *c != '\t')
				*c = '?';
		if (nl > p)
			log_info("hook %s %s: %.*s", k->name, arg, (int)(nl - p), p);
	}
out:
	(void)h;
	free(k->out);
	k->out = NULL;
	k->out_len = 0;
	k->out_dropped = 0;
}

/* Build the environment in the parent: the child may only make async-signal-safe
 * calls (quiesced has threads). */
static void make_env(struct hooks *h, const struct hook *k, char **envp)
{
	int i = 0;
	snprintf(h->env[i++], ENV_LEN, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
	snprintf(h->env[i++], ENV_LEN, "QUIESCE_PHASE=%s", h->op == TXN_FREEZE ? "freeze" : "thaw");
	snprintf(h->env[i++], ENV_LEN, "QUIESCE_ORIGIN=%s", h->origin);
	snprintf(h->env[i++], ENV_LEN, "QUIESCE_HOOK_TIMEOUT_MS=%llu",
		 (unsigned long long)h->timeout_ms);
	if (h->op == TXN_THAW)
		snprintf(h->env[i++], ENV_LEN, "QUIESCE_FREEZE_RESULT=%s",
			 hooks_result_names[k->freeze_result]);
	for (int j = 0; j < i; j++)
		envp[j] = h->env[j];
	envp[i] = NULL;
}

static void on_deadline(struct loop *loop, void *arg);
static void on_exit_event(struct loop *loop, int fd, uint32_t events, void *arg);
static void on_poll_child(struct loop *loop, void *arg);

/* Start h->v[h->cur]. 0, or -1 (the result is set). */
static int spawn(struct hooks *h)
{
	struct hook *k = &h->v[h->cur];
	const char *arg = h->op == TXN_FREEZE ? "freeze" : "thaw";
	const char *dir = h->recovering ? h->rec_dir : h->dir;
	char path[PATH_MAX];
	char *argv[3], *envp[ENV_N + 1];
	uint64_t now = now_ms(), left;
	int pfd[2], nullfd;
	pid_t pid;

	if (h->budget_end_ms <= now) {
		k->thaw_result = h->op == TXN_THAW ? H_NO_TIME : k->thaw_result;
		k->freeze_result = h->op == TXN_FREEZE ? H_NO_TIME : k->freeze_result;
		return -1;
	}
	left = h->budget_end_ms - now;
	/* Right before the run, at every phase: a symlink (or a directory on its way)
	 * may point elsewhere now than at CHECK or FREEZE. Run the real path that was
	 * checked: only root can change it. (Not fexecve: a script would get
	 * $0=/dev/fd/N, and qemu's dispatcher looks for its hooks next to $0.) */
	if (hookpath_check_hook(dir, k->name, path, sizeof(path), h->why, sizeof(h->why)) < 0) {
		log_warnx("hooks: not running %s/%s %s: it is not safe to run: %s", dir, k->name,
			  arg, h->why);
		if (h->op == TXN_FREEZE)
			k->freeze_result = H_UNSAFE;
		else
			k->thaw_result = H_UNSAFE;
		return -1;
	}
	argv[0] = path;
	argv[1] = (char *)arg;
	argv[2] = NULL;
	make_env(h, k, envp);
	if (h->op == TXN_FREEZE) {
		k->freeze_ran = true;
		k->freeze_result = H_RUNNING;
		/* Before it starts: if quiesced dies now, the next one owes it a thaw. */
		hooks_record_save(h);
	} else {
		k->thaw_result = H_RUNNING;
	}
	k->status = 0;
	log_debug("hooks: running %s %s", path, arg);

	nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (nullfd < 0)
		goto fail;
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		close(nullfd);
		goto fail;
	}
	h->started_ns = now_ns();
	pid = fork();
	if (pid == 0) {
		/* The child: async-signal-safe calls only, then exec. */
		struct sigaction dfl = { .sa_handler = SIG_DFL };
		sigset_t none;
		for (int s = 1; s < NSIG; s++)
			sigaction(s, &dfl, NULL);   /* SIGPIPE was ignored: undo it */
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);   /* signalfd blocked TERM/INT/HUP */
		setsid();
		nodump_child();   /* a hook may dump core as it could before the freeze */
		if (dup2(nullfd, 0) < 0 || dup2(pfd[1], 1) < 0 || dup2(pfd[1], 2) < 0)
			_exit(126);
		close_range(3, ~0u, 0);
		if (chdir("/") < 0)
			_exit(126);
		execve(path, argv, envp);
		{
			static const char m[] = "quiesced: cannot execute the hook\n";
			ssize_t unused = write(2, m, sizeof(m) - 1);
			(void)unused;
		}
		_exit(127);
	}
	close(pfd[1]);
	close(nullfd);
	if (pid < 0) {
		close(pfd[0]);
		goto fail;
	}
	h->pid = pid;
	h->outfd = pfd[0];
	h->pidfd = h->no_pidfd ? -1 : pidfd_open(pid, 0);
	if (h->pidfd < 0 && (h->no_pidfd || errno == ENOSYS)) {
		h->no_pidfd = true;
		log_debug("hooks: no pidfd_open here: polling for %s to exit", k->name);
		h->poll_ms = 1;
		loop_timer_arm(h->loop, &h->poll_child, h->poll_ms, on_poll_child, h);
	}
	if ((h->pidfd < 0 && !loop_timer_armed(&h->poll_child)) || fd_set_nonblock(h->outfd) < 0 ||
	    (h->pidfd >= 0 && loop_add_fd(h->loop, h->pidfd, EPOLLIN, on_exit_event, h) < 0) ||
	    loop_add_fd(h->loop, h->outfd, EPOLLIN, on_output, h) < 0) {
		loop_timer_disarm(h->loop, &h->poll_child);
		log_warn("hooks: watching %s", k->name);
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		if (h->pidfd >= 0) {
			loop_del_fd(h->loop, h->pidfd);
			close(h->pidfd);
		}
		loop_del_fd(h->loop, h->outfd);
		close(h->outfd);
		h->pidfd = h->outfd = -1;
		h->pid = -1;
		goto fail_noerr;
	}
	loop_timer_arm(h->loop, &h->deadline, h->timeout_ms < left ? h->timeout_ms : left,
		       on_deadline, h);
	return 0;
fail:
	log_warn("hooks: cannot start %s", k->name);
fail_noerr:
	if (h->op == TXN_FREEZE)
		k->freeze_result = H_NO_START;
	else
		k->thaw_result = H_NO_START;
	return -1;
}

/* The running hook is over (exited, or killed and handed to the reaper). */
static void hook_finished(struct hooks *h, enum hook_result res);

static void child_exited(struct hooks *h, int status)
{
	h->v[h->cur].status = status;
	if (h->pidfd >= 0) {
		loop_del_fd(h->loop, h->pidfd);
		close(h->pidfd);
	}
	loop_timer_disarm(h->loop, &h->poll_child);
	h->pidfd = -1;
	h->pid = -1;
	if (h->outfd >= 0)
		close_output(h, read_output(h, DRAIN_AT_EXIT));
	if (WIFEXITED(status))
		hook_finished(h, WEXITSTATUS(status) == 0 ? H_OK : H_FAILED);
	else
		hook_finished(h, H_SIGNALED);
}

static void on_exit_event(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct hooks *h = arg;
	int status;
	(void)loop;
	(void)fd;
	(void)events;
	if (waitpid(h->pid, &status, WNOHANG) > 0)
		child_exited(h, status);
}

static void on_poll_child(struct loop *loop, void *arg)
{
	struct hooks *h = arg;
	int status;
	if (h->pid < 0)
		return;
	if (waitpid(h->pid, &status, WNOHANG) > 0) {
		child_exited(h, status);
		return;
	}
	/* 1, 2, 4 ... 32 ms: quick for quick hooks, cheap for slow ones. */
	if (h->poll_ms < 32)
		h->poll_ms *= 2;
	loop_timer_arm(loop, &h->poll_child, h->poll_ms, on_poll_child, h);
}

static void on_poll_zombies(struct loop *loop, void *arg)
{
	struct hooks *h = arg;
	bool left = false;
	for (struct zombie **p = &h->zombies, *z; (z = *p);) {
		if (z->pidfd < 0 && waitpid(z->pid, NULL, WNOHANG) != 0) {
			*p = z->next;
			free(z);
			continue;
		}
		left |= z->pidfd < 0;
		p = &z->next;
	}
	if (left)
		loop_timer_arm(loop, &h->poll_zombies, 50, on_poll_zombies, h);
}

/* Kill the running hook and its process group (everything it started that did not
 * leave the session), and leave the reaping to the loop. */
static void kill_running(struct hooks *h)
{
	struct zombie *z;
	if (h->pid < 0)
		return;
	kill(-h->pid, SIGKILL);
	kill(h->pid, SIGKILL);   /* in case it had not reached setsid() yet */
	loop_timer_disarm(h->loop, &h->poll_child);
	if (h->pidfd >= 0)
		loop_del_fd(h->loop, h->pidfd);
	z = calloc(1, sizeof(*z));
	if (z) {
		z->h = h;
		z->pid = h->pid;
		z->pidfd = h->pidfd;
	}
	if (z && z->pidfd >= 0 && loop_add_fd(h->loop, z->pidfd, EPOLLIN, on_zombie, z) == 0) {
		z->next = h->zombies;
		h->zombies = z;
	} else if (z && z->pidfd < 0) {
		z->next = h->zombies;
		h->zombies = z;
		loop_timer_arm(h->loop, &h->poll_zombies, 10, on_poll_zombies, h);
	} else {
		/* No way to watch it: wait here, which SIGKILL keeps short. */
		free(z);
		waitpid(h->pid, NULL, 0);
		close(h->pidfd);
	}
	h->pidfd = -1;
	h->pid = -1;
	if (h->outfd >= 0)
		close_output(h, read_output(h, DRAIN_AT_EXIT));
}

static void on_deadline(struct loop *loop, void *arg)
{
	struct hooks *h = arg;
	(void)loop;
	if (h->pid < 0)
		return;
	log_warnx("hooks: %s %s did not finish within %.1f s: killing it", h->v[h->cur].name,
		  h->op == TXN_FREEZE ? "freeze" : "thaw",
		  ns_to_ms(now_ns() - h->started_ns) / 1000.0);
	kill_running(h);
	hook_finished(h, H_TIMEOUT);
}

/* ------------------------------------------------------------ phases */

static void on_done_timer(struct loop *loop, void *arg)
{
	struct hooks *h = arg;
	(void)loop;
	engine_stage_done(h->engine, h->ok, h->msg);
}

static void describe(const struct hook *k, enum hook_result res, const char *why, char *buf,
		     size_t len)
{
	switch (res) {
	case H_FAILED:
		snprintf(buf, len, "exited with status %d", WEXITSTATUS(k->status));
		break;
	case H_SIGNALED:
		snprintf(buf, len, "was killed by signal %d", WTERMSIG(k->status));
		break;
	case H_TIMEOUT:
		snprintf(buf, len, "timed out");
		break;
	case H_NO_START:
		snprintf(buf, len, "could not be started");
		break;
	case H_CANCELLED:
		snprintf(buf, len, "was cancelled");
		break;
	case H_NO_TIME:
		snprintf(buf, len, "was not run: the phase had used up its time");
		break;
	case H_UNSAFE:
		snprintf(buf, len, "was not run: it is not safe to run: %s", why);
		break;
	default:
		snprintf(buf, len, "%s", hooks_result_names[res]);
	}
}

static void finish_phase(struct hooks *h)
{
	const char *arg = h->op == TXN_FREEZE ? "freeze" : "thaw";
	size_t ran = 0;

	h->running = false;
	loop_timer_disarm(h->loop, &h->deadline);
	/* The output, after the phase: freeze hooks run before anything is frozen and
	 * thaw hooks after everything is thawed (the log holds itself anyway). */
	for (size_t i = 0; i < h->n; i++) {
		struct hook *k = &h->v[h->op == TXN_FREEZE ? i : h->n - 1 - i];
		if (k->out)
			log_output(h, k, arg);
		if ((h->op == TXN_FREEZE ? k->freeze_result : k->thaw_result) != H_NOT_RUN)
			ran++;
	}
	if (ran)
		log_info("hooks: %s: %zu hook%s run in %.1f ms%s%s", arg, ran, ran == 1 ? "" : "s",
			 ns_to_ms(now_ns() - h->t0), h->msg[0] ? ": " : "", h->msg);
	/* FREEZE: how each ended, for the thaw of a restart. THAW: owed nothing now. */
	if (h->op == TXN_FREEZE && ran)
		hooks_record_save(h);
	else if (h->op == TXN_THAW)
		hooks_record_clear(h);
	h->record_failed = false;
	if (h->recovering) {
		hooks_recovery_done(h);
		return;
	}
	if (!h->in_start)
		loop_timer_arm(h->loop, &h->done_timer, 0, on_done_timer, h);
}

/* Start the next hook in line, until one runs or none is left. */
void hooks_run_next(struct hooks *h)
{
	while (h->running) {
		struct hook *k;
		if (h->cur >= h->n) {
			finish_phase(h);
			return;
		}
		k = &h->v[h->cur];
		if (h->op == TXN_THAW && !k->freeze_ran) {
			h->cur += (size_t)h->dir_step;   /* wraps past 0 to SIZE_MAX: the end */
			continue;
		}
		if (spawn(h) == 0)
			return;
		hook_finished(h, h->op == TXN_FREEZE ? k->freeze_result : k->thaw_result);
	}
}

static void hook_finished(struct hooks *h, enum hook_result res)
{
	struct hook *k = &h->v[h->cur];
	const char *arg = h->op == TXN_FREEZE ? "freeze" : "thaw";
	char why[240];

	loop_timer_disarm(h->loop, &h->deadline);
	if (h->outfd >= 0)
		close_output(h, read_output(h, DRAIN_AT_EXIT));
	k->ms_ns = res == H_NO_TIME || res == H_NO_START ? 0 : now_ns() - h->started_ns;
	if (h->op == TXN_FREEZE)
		k->freeze_result = (uint8_t)res;
	else
		k->thaw_result = (uint8_t)res;
	if (res == H_OK) {
		log_debug("hooks: %s %s ok in %.1f ms", k->name, arg, ns_to_ms(k->ms_ns));
	} else {
		describe(k, res, h->why, why, sizeof(why));
		if (h->op == TXN_FREEZE) {
			/* A veto: the hooks after it are not run; the engine thaws the ones
			 * that ran, this one included. */
			log_warnx("hooks: %s freeze %s", k->name, why);
			h->ok = false;
			snprintf(h->msg, sizeof(h->msg), "hook %s %s", k->name, why);
			h->cur += (size_t)h->dir_step;
			finish_phase(h);
			return;
		}
		/* THAW goes to the end whatever happens; the filesystems are thawed. */
		log_warnx("hooks: %s thaw %s", k->name, why);
		if (!h->msg[0])
			snprintf(h->msg, sizeof(h->msg), "hook %s thaw %s", k->name, why);
	}
	h->cur += (size_t)h->dir_step;
	if (!h->in_start)
		hooks_run_next(h);
}

static enum stage_rc hooks_start(void *self, enum txn_op op, const struct txn_request *req,
				 bool *ok, char *msg, size_t msglen)
{
	struct hooks *h = self;

	if (h->recovering) {
		/* The set is the dead quiesced's; a THAW here is the unwinding of a freeze
		 * this refusal failed: nothing of it ran. */
		*ok = op == TXN_THAW;
		if (op != TXN_THAW) {
			snprintf(msg, msglen, "the hooks a quiesced that died had frozen are still "
				 "being thawed; try again in a moment");
			log_warnx("hooks: %s refused: %s", txn_op_name(op), msg);
		}
		return STAGE_DONE;
	}
	loop_timer_disarm(h->loop, &h->done_timer);
	h->op = op;
	h->ok = true;
	h->msg[0] = '\0';
	h->t0 = now_ns();
	h->budget_end_ms = now_ms() + h->budget_ms;
	str_copy(h->origin, req && req->origin ? req->origin : "?", sizeof(h->origin));
	*ok = true;

	if (op == TXN_CHECK || op == TXN_FREEZE) {
		if (scan(h, msg, msglen) < 0) {
			log_warnx("hooks: %s", msg);
			*ok = false;
			return STAGE_DONE;
		}
		if (op == TXN_CHECK)
			return STAGE_DONE;   /* runnable and safe: that is all CHECK can say */
	}
	if (!h->n)
		return STAGE_DONE;
	h->running = true;
	h->in_start = true;
	h->dir_step = op == TXN_FREEZE ? 1 : -1;
	h->cur = op == TXN_FREEZE ? 0 : h->n - 1;
	/* In start, a hook that cannot even start is settled here, not from the loop. */
	while (h->running && h->cur < h->n) {
		struct hook *k = &h->v[h->cur];
		if (op == TXN_THAW && !k->freeze_ran) {
			h->cur += (size_t)h->dir_step;
			continue;
		}
		if (spawn(h) == 0)
			break;
		hook_finished(h, op == TXN_FREEZE ? k->freeze_result : k->thaw_result);
	}
	if (h->running && h->cur >= h->n)
		finish_phase(h);
	h->in_start = false;
	if (h->running)
		return STAGE_PENDING;
	*ok = h->ok;
	str_copy(msg, h->msg, msglen);
	return STAGE_DONE;
}

static void hooks_cancel(void *self)
{
	struct hooks *h = self;
	if (!h->running || h->recovering)
		return;
	if (h->pid >= 0) {
		log_warnx("hooks: cancelling %s %s", h->v[h->cur].name,
			  h->op == TXN_FREEZE ? "freeze" : "thaw");
		kill_running(h);
	}
	if (h->op == TXN_FREEZE) {
		h->v[h->cur].freeze_result = H_CANCELLED;
		h->ok = false;
		if (!h->msg[0])
			snprintf(h->msg, sizeof(h->msg), "hook %s freeze was cancelled",
				 h->v[h->cur].name);
	} else {
		/* The thaws not run yet are reported as not run. */
		h->v[h->cur].thaw_result = H_CANCELLED;
		if (!h->msg[0])
			snprintf(h->msg, sizeof(h->msg), "hook %s thaw was cancelled; the thaws after "
				 "it were not run", h->v[h->cur].name);
	}
	finish_phase(h);
}

static void hooks_report(void *self, struct json_object *out)
{
	struct hooks *h = self;
	struct json_object *arr = json_object_new_array();

	for (size_t i = 0; i < h->n; i++) {
		const struct hook *k = &h->v[h->op == TXN_THAW ? h->n - 1 - i : i];
		struct json_object *o = json_object_new_object();
		uint8_t res = h->op == TXN_THAW ? k->thaw_result : k->freeze_result;
		if (h->op == TXN_THAW && !k->freeze_ran) {
			json_object_put(o);
			continue;
		}
		json_object_object_add(o, "name", json_object_new_string(k->name));
		if (h->op != TXN_CHECK) {
			json_object_object_add(o, "result", json_object_new_string(hooks_result_names[res]));
			if (res == H_FAILED)
				json_object_object_add(o, "exit",
						       json_object_new_int(WEXITSTATUS(k->status)));
			if (res == H_SIGNALED)
				json_object_object_add(o, "signal",
						       json_object_new_int(WTERMSIG(k->status)));
			if (res != H_NOT_RUN && res != H_NO_TIME && res != H_NO_START &&
			    res != H_UNSAFE)
				json_object_object_add(o, "ms", json_object_new_double(ns_to_ms(k->ms_ns)));
		}
		json_object_array_add(arr, o);
	}
	json_object_object_add(out, "hooks", arr);
	json_object_object_add(out, "hook_dir", json_object_new_string(h->dir));
	if (h->recovered)
		json_object_object_add(out, "restart_thaw", json_object_get(h->recovered));
}

static unsigned hooks_count(void *self, enum txn_op op)
{
	struct hooks *h = self;
	unsigned n = 0;
	for (size_t i = 0; i < h->n; i++)
		n += op == TXN_FREEZE ? h->v[i].freeze_result == H_OK
				      : h->v[i].freeze_ran && h->v[i].thaw_result != H_NOT_RUN;
	return n;
}

static bool hooks_active(void *self)
{
	struct hooks *h = self;
	if (h->op != TXN_FREEZE)
		return h->running;
	for (size_t i = 0; i < h->n; i++)
		if (h->v[i].freeze_ran)
			return true;
	return false;
}

const struct stage_ops hooks_stage_ops = {
	.name = "hooks",
	.filesystems = false,
	.start = hooks_start,
	.cancel = hooks_cancel,
	.report = hooks_report,
	.count = hooks_count,
	.active = hooks_active,
};

void hooks_free(struct hooks *h)
{
	if (!h)
		return;
	if (h->pid >= 0)
		kill_running(h);
	while (h->zombies) {
		struct zombie *z = h->zombies;
		h->zombies = z->next;
		if (z->pidfd >= 0) {
			loop_del_fd(h->loop, z->pidfd);
			close(z->pidfd);
		}
		waitpid(z->pid, NULL, WNOHANG);
		free(z);
	}
	loop_timer_disarm(h->loop, &h->poll_child);
	loop_timer_disarm(h->loop, &h->poll_zombies);
	while (h->drains)
		drain_free(h->loop, h->drains);
	loop_timer_disarm(h->loop, &h->deadline);
	loop_timer_disarm(h->loop, &h->done_timer);
	hooks_free_set(h);
	free(h->dir);
	free(h->record);
	free(h->rec_dir);
	json_object_put(h->recovered);
	free(h);
}
