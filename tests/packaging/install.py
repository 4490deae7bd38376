#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""make install / make uninstall into a DESTDIR: the files are the list kept in
tests/packaging/install-files.txt, the paths in the units and the compiled-in
defaults come from the install directories, systemctl enable ties the units to
their devices, the installed quiesced runs a snapshot with the installed guardian and
quiescectl (confined as the unit confines it: no new privileges, its capability
bounding set). Then a real install under another PREFIX and SYSCONFDIR (own build
dir): its units pass systemd-analyze verify, its quiesced reads that config and finds
the guardian in LIBEXECDIR by itself. A second install keeps the admin's config, and
uninstall leaves only the admin's config and hooks (nothing at all after an install
left untouched)."""
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import pkgcheck  # noqa: E402
import qtest  # noqa: E402

t = qtest.start()
pkgcheck.skip_unless_plain_stage(t)

tmp = tempfile.mkdtemp(prefix="quiesce-install-", dir="/tmp")
qtest.at_cleanup(lambda: shutil.rmtree(tmp, ignore_errors=True))
root = os.path.join(tmp, "root")
usr = os.path.join(root, "usr/local")

r = pkgcheck.make("install", "DESTDIR=" + root)
if not t.ok(r.returncode == 0, "make install DESTDIR=... succeeds", r.stdout[-4000:]):
    t.exit()

got = pkgcheck.tree(root)
want = pkgcheck.expected_files()
missing = [f for f in want if f not in got]
extra = [f for f in got if f not in want]
t.ok(not missing and not extra, "it installs exactly tests/packaging/install-files.txt",
     "missing: %s\nnot in the list: %s" % (" ".join(missing) or "-", " ".join(extra) or "-"))

modes = {"usr/local/sbin/quiesced": 0o755, "usr/local/bin/quiescectl": 0o755,
         "usr/local/sbin/quiesce-agent-postgresql": 0o755,
         "usr/local/sbin/quiesce-agent-mariadb": 0o755,
         "usr/local/libexec/quiesce/quiesce-guardian": 0o755,
         "usr/local/lib/libquiesce.so.0": 0o644, "usr/local/lib/libquiesce.a": 0o644,
         "etc/qemu/fsfreeze-hook.d/quiesce": 0o755, "etc/quiesce/quiesced.conf": 0o644,
         "etc/quiesce/hooks.d": 0o755, "lib/systemd/system/quiesced.service": 0o644}
bad = []
for rel, mode in modes.items():
    p = os.path.join(usr if rel.startswith("lib/") else root, rel)
    if not os.path.lexists(p) or os.stat(p).st_mode & 0o7777 != mode:
        bad.append(rel)
t.ok(not bad, "programs 0755, library and data 0644, hooks dir 0755", " ".join(bad))
t.eq(os.readlink(os.path.join(usr, "lib/libquiesce.so")), "libquiesce.so.0",
     "libquiesce.so is a link to the soname")

unitdir = os.path.join(usr, "lib/systemd/system")
units = sorted(os.path.join(unitdir, u) for u in os.listdir(unitdir))
execs = {}
for u in units:
    with open(u) as f:
        execs[os.path.basename(u)] = re.findall(r"^ExecStart=(\S+)", f.read(), re.M)
t.eq(execs, {"quiesced.service": ["/usr/local/sbin/quiesced"],
             "quiesced-hyperv.service": ["/usr/local/sbin/quiesced"],
             "quiesced-qga.service": ["/usr/local/sbin/quiesced"],
             "quiesce-agent-postgresql.service": ["/usr/local/sbin/quiesce-agent-postgresql"],
             "quiesce-agent-mariadb.service": ["/usr/local/sbin/quiesce-agent-mariadb"]},
     "the units run SBINDIR's quiesced (and the agents)")
with open(os.path.join(root, "etc/qemu/fsfreeze-hook.d/quiesce")) as f:
    hook = f.read()
t.ok('exec /usr/local/bin/quiescectl fsfreeze-hook --if-running "$@"' in hook,
     "qemu-ga's fsfreeze hook runs BINDIR's quiescectl with --if-running", hook)

# Installed, nothing enabled; `systemctl enable` ties each channel unit to its device
# (the .wants of the device unit), the local one to multi-user.target.
WANTS = {"quiesced-hyperv.service": "sys-devices-virtual-misc-vmbus\\x21hv_vss.device.wants",
         "quiesced-qga.service": "dev-virtio\\x2dports-org.qemu.guest_agent.0.device.wants",
         "quiesced.service": "multi-user.target.wants"}
etc_units = os.path.join(root, "etc/systemd/system")
t.ok(not os.path.exists(etc_units), "make install enables no unit")
if shutil.which("systemctl"):
    r = subprocess.run(["systemctl", "--root=" + root, "enable"] + sorted(WANTS),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    links = {u: os.readlink(os.path.join(etc_units, w, u))
             for u, w in WANTS.items() if os.path.islink(os.path.join(etc_units, w, u))}
    t.eq(links, {u: "/usr/local/lib/systemd/system/" + u for u in WANTS},
         "systemctl enable: the channel units are wanted by their device, the local one by "
         "multi-user.target")
    r = subprocess.run(["systemctl", "--root=" + root, "disable"] + sorted(WANTS),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    t.ok(r.returncode == 0 and not [f for f in pkgcheck.tree(etc_units) if not f.endswith("/")],
         "systemctl disable undoes it", r.stdout)
else:
    t.skip("systemctl enable ties the units to their devices", "no systemctl")
    t.skip("systemctl disable undoes it", "no systemctl")

quiesced = os.path.join(usr, "sbin/quiesced")
guardian = os.path.join(usr, "libexec/quiesce/quiesce-guardian")
r = subprocess.run([quiesced, "--help"], stdout=subprocess.PIPE, text=True)
t.ok("/etc/quiesce/quiesced.conf" in r.stdout and "/etc/quiesce/hooks.d" in r.stdout and
     "/usr/local/libexec/quiesce/quiesce-guardian" in r.stdout,
     "the compiled-in config, hook dir and guardian are SYSCONFDIR's and LIBEXECDIR's",
     r.stdout)
pc = subprocess.run(["pkg-config", "--variable=libdir", "quiesce"], stdout=subprocess.PIPE,
                    text=True, env=dict(os.environ, PKG_CONFIG_PATH=os.path.join(usr, "lib/pkgconfig")))
t.eq(pc.stdout.strip(), "/usr/local/lib", "quiesce.pc names LIBDIR")

# The example config: every commented-out setting, switched on, is one quiesced takes.
conf = os.path.join(root, "etc/quiesce/quiesced.conf")
with open(conf) as f:
    example = f.read()
on = re.sub(r"^# ([a-z-]+ = \S.*)$", r"\1", example, flags=re.M)
t.ok(on != example, "the example config shows settings")
onconf = os.path.join(tmp, "all-on.conf")
with open(onconf, "w") as f:
    f.write(on)
r = subprocess.run([quiesced, "-c", onconf, "--scope", tmp, "--print-config"],
                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
t.ok(r.returncode == 0, "quiesced takes every setting the example config shows", r.stdout)

# The installed quiesced as its unit confines it (what can be had without systemd as
# PID 1): no new privileges, and the unit's capability bounding set.
with open(os.path.join(unitdir, "quiesced.service")) as f:
    caps = re.search(r"^CapabilityBoundingSet=(.*)$", f.read(), re.M).group(1).split()
confined = os.path.join(tmp, "quiesced-confined")
with open(confined, "w") as f:
    f.write('#!/bin/sh\nexec setpriv --no-new-privs --bounding-set=-all,%s %s "$@"\n'
            % (",".join("+" + c[len("CAP_"):].lower() for c in caps), quiesced))
os.chmod(confined, 0o755)

s = qtest.Scratch(n=2)
d = qtest.Daemon(s, "-c", conf, "--guardian", guardian, program=confined,
                 ctl_program=os.path.join(usr, "bin/quiescectl"), run_dir=os.path.join(tmp, "run"))
try:
    pkgcheck.snapshot_through(t, d, s, "installed, under the unit's NoNewPrivileges and capabilities")
    t.ok("started the thaw guardian %s" % guardian in d.log_text(),
         "with the installed guardian", d.log_text()[-2000:])
finally:
    qtest.stop_clean(t, d)
    s.cleanup()

# Another PREFIX and SYSCONFDIR, installed for real (no DESTDIR), built apart: the
# units, the compiled-in config and guardian follow, and quiesced finds the guardian
# in LIBEXECDIR by itself (none beside it in SBINDIR).
prefix = os.path.join(tmp, "prefix")
r = pkgcheck.make("install", "PREFIX=" + prefix, "SYSCONFDIR=" + prefix + "/etc",
                  build=os.path.join(tmp, "build"))
t.ok(r.returncode == 0, "make install PREFIX=... SYSCONFDIR=... (its own build dir)", r.stdout[-4000:])
punits = [os.path.join(prefix, "lib/systemd/system", u) for u in sorted(execs)]
with open(os.path.join(prefix, "lib/systemd/system/quiesced.service")) as f:
    t.ok("ExecStart=%s/sbin/quiesced " % prefix in f.read(), "its units run that quiesced")
# systemd-analyze checks that ExecStart exists: these units, not the DESTDIR's.
pkgcheck.verify_units(t, punits, manpath=os.path.join(prefix, "share/man"))
with open(os.path.join(prefix, "etc/quiesce/quiesced.conf"), "a") as f:
    f.write("\n[daemon]\nlease = 42\n")
r = subprocess.run([os.path.join(prefix, "sbin/quiesced"), "--scope", tmp, "--print-config"],
                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
t.ok(r.returncode == 0 and "\nlease = 42\n" in r.stdout,
     "that quiesced reads SYSCONFDIR/quiesce/quiesced.conf by default", r.stdout)
s = qtest.Scratch(n=1)
d = qtest.Daemon(s, program=os.path.join(prefix, "sbin/quiesced"),
                 ctl_program=os.path.join(prefix, "bin/quiescectl"), run_dir=os.path.join(tmp, "run2"))
try:
    pkgcheck.snapshot_through(t, d, s, "PREFIX install")
    want_g = os.path.join(prefix, "libexec/quiesce/quiesce-guardian")
    t.ok("started the thaw guardian %s" % want_g in d.log_text(),
         "it found the guardian in LIBEXECDIR/quiesce", d.log_text()[-2000:])
finally:
    qtest.stop_clean(t, d)
    s.cleanup()

# The admin's changes survive a second install, and the uninstall.
with open(conf, "a") as f:
    f.write("\n[daemon]\nlease = 30\n")
hook = os.path.join(root, "etc/quiesce/hooks.d/10-admin")
with open(hook, "w") as f:
    f.write("#!/bin/sh\nexit 0\n")
os.chmod(hook, 0o755)
r = pkgcheck.make("install", "DESTDIR=" + root)
with open(conf) as f:
    t.ok(r.returncode == 0 and f.read().endswith("lease = 30\n"),
         "a second make install keeps the admin's config", r.stdout[-2000:])

r = pkgcheck.make("uninstall", "DESTDIR=" + root)
left = [f for f in pkgcheck.tree(root) if not f.endswith("/")]
t.ok(r.returncode == 0 and left == ["etc/quiesce/hooks.d/10-admin", "etc/quiesce/quiesced.conf"],
     "make uninstall leaves only the admin's config and hook", "exit %d, left: %s\n%s"
     % (r.returncode, left, r.stdout[-2000:]))
t.ok(not os.path.exists(os.path.join(usr, "libexec/quiesce")), "and no libexec/quiesce dir")

root2 = os.path.join(tmp, "root2")
r1 = pkgcheck.make("install", "DESTDIR=" + root2)
r2 = pkgcheck.make("uninstall", "DESTDIR=" + root2)
left = [f for f in pkgcheck.tree(root2) if not f.endswith("/") or "quiesce" in f]
t.ok(r1.returncode == 0 and r2.returncode == 0 and left == [],
     "install then uninstall, nothing changed: nothing left (not the example config either)",
     "left: %s\n%s" % (left, r2.stdout[-2000:]))
t.exit()
