#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The Debian packages: dpkg-buildpackage -b builds quiesce, libquiesce0,
libquiesce-dev and quiesce-group (which alone needs libvirt) in a copy of the tree (the
tree stays clean), lintian finds no error or
warning, dpkg -i installs them with service starts denied (policy-rc.d) and enables
and starts nothing, the files are where they belong, the installed quiesced (scoped to
scratch mounts) runs a freeze/thaw and a snapshot with the installed guardian and
quiescectl, qemu-ga's hook file works, a program builds against libquiesce-dev, and
dpkg --purge leaves the machine as it was. The cleanup purges and removes what the
test added also when it fails or is killed.

Skipped when dpkg-buildpackage or debhelper is missing, and when any of the packages
is installed already (an admin's install is not ours to purge)."""
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import pkgcheck  # noqa: E402
import qtest  # noqa: E402

PKGS = ["quiesce", "libquiesce0", "libquiesce-dev", "quiesce-agent-postgresql", "quiesce-agent-mariadb",
        "quiesce-group"]
POLICY = "/usr/sbin/policy-rc.d"
# What the install may touch besides the packages' own files (checked one by one),
# compared before the install and after the purge. Not whole shared directories
# (/usr/include, /lib/systemd/system): another session's apt may change them meanwhile.
STATE = ["/etc/systemd/system", "/var/lib/systemd/deb-systemd-helper-enabled",
         "/var/lib/systemd/deb-systemd-helper-masked", "/etc/quiesce",
         "/etc/qemu/fsfreeze-hook.d", "/usr/libexec/quiesce"]

t = qtest.start()
pkgcheck.skip_unless_plain_stage(t)
for tool in ("dpkg-buildpackage", "dh"):
    if not shutil.which(tool):
        t.skip_all("no %s (Debian: dpkg-dev, debhelper)" % tool)


def status(pkg):
    r = subprocess.run(["dpkg-query", "-W", "-f=${db:Status-Abbrev}", pkg],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    return r.stdout.strip() if r.returncode == 0 else ""


def dpkg(*args):
    """dpkg ARGS, waiting up to 2 minutes for another apt or dpkg to finish."""
    deadline = time.monotonic() + 120
    while True:
        r = subprocess.run(["dpkg"] + list(args), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=300,
                           env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
        if r.returncode == 0 or "lock" not in r.stdout or time.monotonic() > deadline:
            return r
        time.sleep(1)


def snapshot_state():
    out = {}
    for top in STATE:
        out[top] = pkgcheck.tree(top) if os.path.isdir(top) else None
    return out


present = [p for p in PKGS if status(p) not in ("", "un", "pn")]
if present:
    t.skip_all("already on this machine: %s (not ours to purge)" % " ".join(present))

tmp = tempfile.mkdtemp(prefix="quiesce-deb-", dir="/tmp")
own_policy = False
daemon = None


def cleanup():
    if daemon is not None:
        daemon.stop()
    ours = [p for p in PKGS if status(p) not in ("", "un", "pn")]
    if ours:
        r = dpkg("--purge", *ours)
        if r.returncode != 0:
            sys.stderr.write("deb.py cleanup: dpkg --purge failed:\n" + r.stdout)
    if own_policy:
        os.unlink(POLICY)
    shutil.rmtree(tmp, ignore_errors=True)


cleanup_now = qtest.at_cleanup(cleanup)


def git_status():
    r = subprocess.run(["git", "-C", qtest.TOP, "status", "--porcelain", "--ignored"],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    return r.stdout if r.returncode == 0 else None


# ---- build, in a copy of the tree
tree_before = git_status()
src = os.path.join(tmp, "src", "quiesce")
# Left out of the copy: the build, git, caches (.gitignore), a build's leftovers in debian/.
SKIP = {"build", ".git", "tools/vm/cache", "bench/out"}
DEB_BUILT = {"tmp", "quiesce", "libquiesce0", "libquiesce-dev", "quiesce-agent-postgresql",
             "quiesce-agent-mariadb",
             ".debhelper", "files",
             "debhelper-build-stamp"}


def ignore(d, names):
    rel = os.path.relpath(d, qtest.TOP)
    out = [n for n in names if os.path.normpath(os.path.join(rel, n)) in SKIP or n == "__pycache__"]
    if rel == "debian":
        out += [n for n in names if n in DEB_BUILT or n.endswith(".substvars")]
    return out


shutil.copytree(qtest.TOP, src, symlinks=True, ignore=ignore)
r = subprocess.run(["dpkg-buildpackage", "-us", "-uc", "-b"], cwd=src, stdout=subprocess.PIPE,
                   stderr=subprocess.STDOUT, text=True, timeout=900,
                   env=pkgcheck.clean_env(DEB_BUILD_OPTIONS="parallel=2 noddebs"))
out = os.path.dirname(src)
debs = sorted(f for f in os.listdir(out) if f.endswith(".deb"))
t.ok(r.returncode == 0, "dpkg-buildpackage -us -uc -b builds", r.stdout[-5000:])
if not t.eq(sorted(d.split("_")[0] for d in debs), sorted(PKGS), "into quiesce, libquiesce0, libquiesce-dev the agents' packages and quiesce-group"):
    t.exit()
t.eq(git_status(), tree_before, "the source tree is as it was")

if shutil.which("lintian"):
    changes = [os.path.join(out, f) for f in os.listdir(out) if f.endswith(".changes")]
    r = subprocess.run(["lintian", "--fail-on", "error,warning"] + changes, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=300)
    lines = [ln for ln in r.stdout.splitlines() if ln[:2] in ("E:", "W:")]
    t.ok(r.returncode == 0 and not lines, "lintian: no error, no warning", r.stdout)
else:
    t.skip("lintian: no error, no warning", "no lintian")

# ---- install, with service starts denied
before = snapshot_state()
if not os.path.lexists(POLICY):
    with open(POLICY, "w") as f:
        f.write("#!/bin/sh\n# quiesce tests/packaging/deb.py: no service starts\nexit 101\n")
    os.chmod(POLICY, 0o755)
    own_policy = True
r = dpkg("-i", *[os.path.join(out, d) for d in debs])
if not t.ok(r.returncode == 0, "dpkg -i installs the six", r.stdout):
    t.exit()


def listing(pkg):
    return subprocess.run(["dpkg", "-L", pkg], stdout=subprocess.PIPE, text=True).stdout.split()


files = {p: listing(p) for p in PKGS}
triplet = subprocess.run(["dpkg-architecture", "-qDEB_HOST_MULTIARCH"], stdout=subprocess.PIPE,
                         text=True).stdout.strip()
libdir = "/usr/lib/" + triplet
want = {
    "quiesce": ["/usr/sbin/quiesced", "/usr/bin/quiescectl", "/usr/libexec/quiesce/quiesce-guardian",
                "/lib/systemd/system/quiesced.service", "/lib/systemd/system/quiesced-hyperv.service",
                "/lib/systemd/system/quiesced-qga.service", "/lib/udev/rules.d/60-quiesce.rules",
                "/etc/qemu/fsfreeze-hook.d/quiesce", "/etc/quiesce/quiesced.conf",
                "/etc/quiesce/hooks.d", "/usr/share/man/man8/quiesced.8.gz",
                "/usr/share/man/man8/quiescectl.8.gz", "/usr/share/man/man5/quiesced.conf.5.gz",
                "/usr/share/man/man8/quiesce-guardian.8.gz"],
    "libquiesce0": [libdir + "/libquiesce.so.0"],
    "quiesce-group": ["/usr/bin/quiesce-group", "/usr/share/man/man1/quiesce-group.1.gz"],
    "libquiesce-dev": ["/usr/include/quiesce.h", libdir + "/libquiesce.so", libdir + "/libquiesce.a",
                       libdir + "/pkgconfig/quiesce.pc", "/usr/share/man/man3/libquiesce.3.gz"],
    "quiesce-agent-postgresql": ["/usr/sbin/quiesce-agent-postgresql",
                                 "/lib/systemd/system/quiesce-agent-postgresql.service",
                                 "/usr/share/man/man8/quiesce-agent-postgresql.8.gz"],
    "quiesce-agent-mariadb": ["/usr/sbin/quiesce-agent-mariadb",
                              "/lib/systemd/system/quiesce-agent-mariadb.service",
                              "/usr/share/man/man8/quiesce-agent-mariadb.8.gz"],
}
for p in PKGS:
    missing = [f for f in want[p] if f not in files[p] or not os.path.lexists(f)]
    t.ok(not missing, "%s has its files" % p, "missing: " + " ".join(missing))
r = subprocess.run(["/usr/bin/quiesce-group", "--version"], stdout=subprocess.PIPE, text=True)
t.ok(r.returncode == 0 and r.stdout.startswith("quiesce-group "), "quiesce-group runs", r.stdout)
deps = subprocess.run(["dpkg-query", "-W", "-f=${Depends}", "quiesce", "libquiesce0"],
                      stdout=subprocess.PIPE, text=True).stdout
t.ok("libvirt" not in deps, "quiesce and libquiesce0 do not depend on libvirt", deps)
t.ok(not [f for f in files["quiesce"] if "quiesce-group" in f], "quiesce holds nothing of quiesce-group")
conffiles = subprocess.run(["dpkg-query", "-W", "-f=${Conffiles}", "quiesce"], stdout=subprocess.PIPE,
                           text=True).stdout
t.ok("/etc/quiesce/quiesced.conf " in conffiles and "/etc/qemu/fsfreeze-hook.d/quiesce " in conffiles,
     "the config and qemu-ga's hook are conffiles", conffiles)
after = snapshot_state()
t.eq(after["/etc/systemd/system"], before["/etc/systemd/system"], "no unit enabled")
running = []
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        if os.readlink("/proc/%s/exe" % pid) == "/usr/sbin/quiesced":
            running.append(pid)
    except OSError:
        pass
t.eq(running, [], "and no quiesced started")
pkgcheck.verify_units(t, ["/lib/systemd/system/" + u for u in
                          ("quiesced.service", "quiesced-hyperv.service", "quiesced-qga.service",
                           "quiesce-agent-postgresql.service", "quiesce-agent-mariadb.service")])
# The daemon's package never pulls in a database's library: only its agent's does.
deps = {p: subprocess.run(["dpkg-query", "-W", "-f=${Depends}", p], stdout=subprocess.PIPE,
                          text=True).stdout for p in ("quiesce", "quiesce-agent-postgresql",
                                                     "quiesce-agent-mariadb")}
t.ok("libpq" not in deps["quiesce"] and "libmariadb" not in deps["quiesce"] and
     "libpq5" in deps["quiesce-agent-postgresql"] and "libmariadb3" in deps["quiesce-agent-mariadb"],
     "libpq5 and libmariadb3 are dependencies of their agents' packages only", repr(deps))

# A program against the installed libquiesce-dev, found by pkg-config alone.
prog = os.path.join(tmp, "app")
with open(prog + ".c", "w") as f:
    f.write('#include <quiesce.h>\n#include <stdio.h>\n'
            'int main(void) { puts(quiesce_op_name(QUIESCE_FREEZE)); return 0; }\n')
flags = subprocess.run(["pkg-config", "--cflags", "--libs", "quiesce"], stdout=subprocess.PIPE, text=True,
                       env=pkgcheck.clean_env(PKG_CONFIG_PATH="")).stdout.split()
r = subprocess.run(["cc", "-o", prog, prog + ".c"] + flags, stdout=subprocess.PIPE,
                   stderr=subprocess.STDOUT, text=True)
r2 = subprocess.run([prog], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) \
    if r.returncode == 0 else r
t.ok(r.returncode == 0 and r2.returncode == 0 and r2.stdout.strip(),
     "a program builds against libquiesce-dev (pkg-config) and runs with libquiesce0",
     r.stdout + r2.stdout)

# ---- the installed programs, scoped to scratch mounts
s = qtest.Scratch(n=2)
try:
    daemon = qtest.Daemon(s, program="/usr/sbin/quiesced", ctl_program="/usr/bin/quiescectl",
                          run_dir=os.path.join(tmp, "run"))
    pkgcheck.snapshot_through(t, daemon, s, "package")
    t.ok("started the thaw guardian /usr/libexec/quiesce/quiesce-guardian" in daemon.log_text(),
         "quiesced found the guardian in LIBEXECDIR by itself", daemon.log_text()[-2000:])
    hook = "/etc/qemu/fsfreeze-hook.d/quiesce"
    env = dict(os.environ, QUIESCE_CONTROL=daemon.control)
    r = subprocess.run([hook, "freeze"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=60)
    held = daemon.call("quiesce-status")["return"]
    r2 = subprocess.run([hook, "thaw"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                        text=True, timeout=60)
    t.ok(r.returncode == 0 and held.get("state") == "frozen" and r2.returncode == 0 and
         daemon.state() == "idle" and s.frozen() == [],
         "qemu-ga's hook file holds and releases through quiesced (no filesystem frozen)",
         "freeze %d: %s\nstatus: %s\nthaw %d: %s" % (r.returncode, r.stdout, held, r2.returncode, r2.stdout))
    r = subprocess.run([hook, "freeze"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=60, env=dict(os.environ, QUIESCE_CONTROL=os.path.join(tmp, "none.sock")))
    t.ok(r.returncode == 0, "and lets qemu-ga go ahead when quiesced is not running", r.stdout)
finally:
    if daemon is not None:
        qtest.stop_clean(t, daemon)
        daemon = None
    s.cleanup()

# ---- purge
r = dpkg("--purge", "quiesce-group", "quiesce-agent-mariadb", "quiesce-agent-postgresql",
         "libquiesce-dev", "libquiesce0", "quiesce")
t.ok(r.returncode == 0 and all(status(p) in ("", "un", "pn") for p in PKGS), "dpkg --purge removes the six",
     r.stdout)
left = [f for p in PKGS for f in files[p] if not os.path.isdir(f) and os.path.lexists(f)]
t.eq(left, [], "none of their files is left")
t.eq(snapshot_state(), before, "the machine is as before the install (units, udev, /etc, state)")
cleanup_now()
t.ok(not os.path.exists(tmp) and (not own_policy or not os.path.exists(POLICY)),
     "the test's own files are gone")
t.exit()
