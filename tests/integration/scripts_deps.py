#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""scripts/deps.sh, the first thing `make demo` and `make ci` run on a new machine, with
stand-ins for dpkg-query and apt-get on PATH (packages "missing", the install works or
fails as each case says) and the policy-rc.d path in a temp dir:

- no policy file: one is there (exit 101) while apt-get runs, and gone after; exit 0;
- the admin's own policy file (every Debian container image has one): left exactly as
  it was; exit 0 (it once exited 1 here, after a successful install);
- nothing missing: apt-get is not called;
- apt-get install fails, then works after apt-get update: exit 0;
- apt-get fails for good: deps.sh fails too, and still removes only its own policy file.

Nothing is installed: the real dpkg-query and apt-get are never called."""
import atexit
import os
import shutil
import stat
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import qtest  # noqa: E402

t = qtest.start(root=False)
if os.geteuid() != 0:
    t.skip_all("deps.sh installs only as root")
DEPS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts", "deps.sh")

# dpkg-query: every package listed in $FAKE_DIR/installed is installed, others are not.
DPKG_QUERY = r'''#!/bin/sh
pkg=$(eval echo \${$#})
if grep -qx "$pkg" "$FAKE_DIR/installed" 2>/dev/null; then
	echo "install ok installed"
	exit 0
fi
echo "dpkg-query: no packages found matching $pkg" >&2
exit 1
'''
# apt-get: logs its call and what policy-rc.d said then; fails as $FAKE_DIR/fail says
# ("install-once": the first install fails; "always": every install fails).
APT_GET = r'''#!/bin/sh
if [ -x "$QUIESCE_POLICY_RC" ]; then "$QUIESCE_POLICY_RC"; pol=$?; else pol=none; fi
echo "$* | policy=$pol" >> "$FAKE_DIR/apt.log"
case "$1:$(cat "$FAKE_DIR/fail" 2>/dev/null)" in
install:always) exit 100 ;;
install:install-once) echo done > "$FAKE_DIR/fail"; exit 100 ;;
esac
exit 0
'''


# systemctl: logs its call (deps.sh disables the database servers it installed).
SYSTEMCTL = r'''#!/bin/sh
echo "$*" >> "$FAKE_DIR/systemctl.log"
'''


def systemctl_log(d):
    try:
        with open(os.path.join(d, "systemctl.log")) as f:
            return f.read().splitlines()
    except FileNotFoundError:
        return []


def setup():
    d = tempfile.mkdtemp(prefix="quiesce-deps-test-")
    atexit.register(shutil.rmtree, d, True)
    bindir = os.path.join(d, "bin")
    os.mkdir(bindir)
    for name, text in (("dpkg-query", DPKG_QUERY), ("apt-get", APT_GET), ("systemctl", SYSTEMCTL)):
        p = os.path.join(bindir, name)
        with open(p, "w") as f:
            f.write(text)
        os.chmod(p, 0o755)
    return d


def run(d, fail=None, installed=(), args=()):
    if fail:
        with open(os.path.join(d, "fail"), "w") as f:
            f.write(fail)
    with open(os.path.join(d, "installed"), "w") as f:
        f.write("".join(p + "\n" for p in installed))
    env = dict(os.environ, PATH=os.path.join(d, "bin") + ":" + os.environ["PATH"],
               FAKE_DIR=d, QUIESCE_POLICY_RC=os.path.join(d, "policy-rc.d"))
    r = subprocess.run(["sh", DEPS] + list(args), env=env, capture_output=True, text=True, timeout=60,
                       stdin=subprocess.DEVNULL)
    try:
        with open(os.path.join(d, "apt.log")) as f:
            log = f.read().splitlines()
    except FileNotFoundError:
        log = []
    return r, log


def policy_state(d):
    p = os.path.join(d, "policy-rc.d")
    try:
        st = os.stat(p)
    except FileNotFoundError:
        return None
    with open(p) as f:
        return (f.read(), stat.S_IMODE(st.st_mode))


def all_packages():
    """Every package deps.sh asks for, from its own lists (run with everything missing
    and read the install line)."""
    d = setup()
    r, log = run(d)
    inst = [line for line in log if line.startswith("install")]
    if not inst:
        return []
    words = inst[0].split("|")[0].split()[1:]
    # the packages: every word that is not an option, nor the value of -o
    return [w for i, w in enumerate(words) if not w.startswith("-") and words[i - 1] != "-o"]


# ---- no policy file
d = setup()
r, log = run(d)
t.ok(r.returncode == 0, "no policy file: exit 0", r.stdout + r.stderr)
t.ok(len(log) == 1 and log[0].startswith("install -y") and log[0].endswith("policy=101"),
     "  apt-get install ran once, with a policy that denies service starts", repr(log))
t.ok("DPkg::Lock::Timeout=300" in log[0] if log else False,
     "  it waits for another apt or dpkg to let go of the lock", repr(log))
t.eq(policy_state(d), None, "  our policy file is gone afterwards")
pkgs = all_packages()
t.ok("gcc" in pkgs and "qemu-guest-agent" in pkgs, "  it asked for the build and test packages",
     repr(pkgs))
t.eq(sorted(systemctl_log(d)), ["disable --quiet mariadb.service", "disable --quiet postgresql.service"],
     "  the database servers it installed are not left to start at boot")

# ---- demo: only what make demo needs
d = setup()
r, log = run(d, args=["demo"])
demo = [w for w in log[0].split("|")[0].split()[1:] if not w.startswith("-")] if log else []
t.ok(r.returncode == 0 and "gcc" in demo and "e2fsprogs" in demo and "postgresql" not in demo and
     "qemu-system-x86" not in demo and "valgrind" not in demo,
     "demo: the build and the demo's tools, no servers, no VM, no test tools", repr(log))
t.eq(systemctl_log(d), [], "  and no service touched")

# ---- the admin's own policy file
d = setup()
p = os.path.join(d, "policy-rc.d")
with open(p, "w") as f:
    f.write("#!/bin/sh\n# the admin's own\nexit 0\n")
os.chmod(p, 0o700)
before = policy_state(d)
r, log = run(d)
t.ok(r.returncode == 0, "an existing policy file: exit 0", r.stdout + r.stderr)
t.ok(len(log) == 1 and log[0].endswith("policy=0"), "  apt-get ran under the admin's policy",
     repr(log))
t.eq(policy_state(d), before, "  the admin's policy file is left as it was")

# ---- nothing missing
d = setup()
r, log = run(d, installed=pkgs)
t.ok(r.returncode == 0, "nothing missing: exit 0", r.stdout + r.stderr)
t.eq(log, [], "  apt-get is not called")
t.eq(policy_state(d), None, "  no policy file written")

# ---- install fails once, works after update
d = setup()
r, log = run(d, fail="install-once")
t.ok(r.returncode == 0, "install fails, update, install works: exit 0", r.stdout + r.stderr)
t.eq([line.split()[0] for line in log], ["install", "update", "install"], "  install, update, install")
t.eq(policy_state(d), None, "  our policy file is gone afterwards")

# ---- install fails for good
for own in (False, True):
    d = setup()
    if own:
        with open(os.path.join(d, "policy-rc.d"), "w") as f:
            f.write("#!/bin/sh\nexit 0\n")
        os.chmod(os.path.join(d, "policy-rc.d"), 0o755)
    before = policy_state(d)
    r, log = run(d, fail="always")
    what = "an existing policy file" if own else "no policy file"
    t.ok(r.returncode != 0, "apt-get fails (%s): deps.sh fails" % what, "exit %d" % r.returncode)
    t.eq(policy_state(d), before, "  the policy file is as before")
t.exit()
