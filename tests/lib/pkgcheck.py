# SPDX-License-Identifier: MIT
"""Shared by the packaging tests (tests/packaging/): an installed quiesce, checked the
way an admin would use it.

They run once per CI run: not again in the sanitizer and valgrind stages, which
rebuild or wrap the programs the packaging tests do not use (they install their own).
"""

import os
import shutil
import subprocess
import sys

import qtest

TOP = qtest.TOP
FILES_LIST = os.path.join(TOP, "tests", "packaging", "install-files.txt")
INSTALL_DIRS = ("PREFIX", "BINDIR", "SBINDIR", "LIBDIR", "LIBEXECDIR", "INCLUDEDIR",
                "SYSCONFDIR", "MANDIR", "UNITDIR", "UDEVRULESDIR")


def skip_unless_plain_stage(tap):
    if qtest.SANITIZE or qtest.VALGRIND:
        tap.skip_all("runs once, in the plain stage (not under SANITIZE=1 or QUIESCE_VALGRIND=1)")


def clean_env(**extra):
    """The environment for a nested make or dpkg-buildpackage: none of the outer
    make's jobserver and variables, and the default install directories."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "SANITIZE",
                        "BUILD", "DESTDIR") + INSTALL_DIRS}
    env.update(extra)
    return env


def make(*args, build=None, timeout=600):
    """make -C TOP ARGS... with the build dir the suite tests (QUIESCE_BUILD), or
    another one."""
    build = build or os.path.relpath(qtest.BUILD, TOP)
    if build.startswith(".."):
        build = qtest.BUILD
    return subprocess.run(["make", "-C", TOP, "--no-print-directory", "BUILD=" + build]
                          + list(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=timeout, env=clean_env())


def tree(root):
    """Every file, link and empty directory under root, relative, sorted."""
    out = []
    for d, dirs, files in os.walk(root):
        rel = os.path.relpath(d, root)
        for f in files:
            out.append(os.path.normpath(os.path.join(rel, f)))
        for sub in dirs:
            p = os.path.join(d, sub)
            if os.path.islink(p):
                out.append(os.path.normpath(os.path.join(rel, sub)))
            elif not os.listdir(p):
                out.append(os.path.normpath(os.path.join(rel, sub)) + "/")
    return sorted(out)


def expected_files():
    with open(FILES_LIST) as f:
        return sorted(line.strip() for line in f
                      if line.strip() and not line.startswith("#"))


def verify_units(tap, units, manpath=None, what="systemd-analyze verify passes on every unit"):
    """systemd-analyze verify (offline: PID 1 need not be systemd): no error and no
    warning. It runs `man` for Documentation=, so the pages must be installed."""
    if not shutil.which("systemd-analyze"):
        tap.skip(what, "no systemd-analyze (Debian: the systemd package)")
        return
    env = dict(os.environ)
    if manpath:
        env["MANPATH"] = manpath
    r = subprocess.run(["systemd-analyze", "verify"] + list(units), stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, env=env, timeout=120)
    tap.ok(r.returncode == 0 and not r.stdout.strip(), what,
           "exit %d:\n%s" % (r.returncode, r.stdout))


def snapshot_through(tap, d, s, label):
    """One quiescectl freeze/thaw and one quiescectl snapshot through daemon d (an
    installed quiesced and quiescectl), on scratch s."""
    r = d.ctl("freeze")
    tap.ok(r.returncode == 0 and sorted(s.frozen()) == sorted(s.mounts),
           "%s: quiescectl freeze froze the scratch mounts" % label, r.stdout + r.stderr)
    r = d.ctl("thaw")
    tap.ok(r.returncode == 0 and s.frozen() == [], "%s: quiescectl thaw thawed them" % label,
           r.stdout + r.stderr)
    checker = ("import sys; sys.path.insert(0, %r); import qtest; "
               "print('frozen' if all(qtest.is_frozen(m) for m in sys.argv[1:]) else 'NOT')"
               % qtest.HERE)
    r = d.ctl("snapshot", "--", sys.executable, "-c", checker, *s.mounts)
    tap.ok(r.returncode == 0 and r.stdout.strip() == "frozen" and s.frozen() == [],
           "%s: quiescectl snapshot ran its command frozen, and thawed" % label,
           "exit %d\n%s%s" % (r.returncode, r.stdout, r.stderr))
