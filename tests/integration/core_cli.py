#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Options, config file and error messages of quiesced and quiescectl."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import qtest  # noqa: E402

t = qtest.start()
QD = qtest.bin_path("quiesced")
QC = qtest.bin_path("quiescectl")


def run(*cmd, env=None):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run(list(cmd), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          timeout=30 * qtest.SLOW, env=e)


# ---- quiesced
r = run(QD, "--help")
t.ok(r.returncode == 0 and "--scope DIR" in r.stdout and "--lease SECONDS" in r.stdout
     and "--timeout SECONDS" in r.stdout and "-n, --foreground" in r.stdout, "quiesced --help lists the options", r.stdout)
r = run(QD, "--version")
t.ok(r.returncode == 0 and r.stdout.startswith("quiesced "), "quiesced --version")
r = run(QD, "--bogus")
t.eq(r.returncode, 2, "an unknown option: exit 2")
r = run(QD, "-n", "--scope", "/tmp", "--lease", "soon")
t.ok(r.returncode == 2 and "--lease" in r.stderr and "expected seconds" in r.stderr, "a bad --lease: exit 2 and says why", r.stderr)
r = run(QD, "-n", "--scope", "/nonexistent/dir")
t.ok(r.returncode == 2 and "/nonexistent/dir" in r.stderr, "a --scope that does not exist: exit 2", r.stderr)
# Set here, not only by run-suite: this is the one run without --scope.
r = run(QD, "-n", "--run-dir", "/tmp/quiesce-never", env={"QUIESCE_REQUIRE_SCOPE": "1"})
t.ok(r.returncode == 2 and "QUIESCE_REQUIRE_SCOPE" in r.stderr, "refuses to run unscoped while tests run", r.stderr)

s = qtest.Scratch(n=2)
conf = os.path.join(s.dir, "quiesced.conf")
with open(conf, "w") as f:
    f.write("# test\n[daemon]\nlease = 42\ntimeout = 2.5\n[filesystems]\nexclude = */m1\nexclude = */nothing\n")
r = run(QD, "-c", conf, "--scope", s.mnt, "--timeout", "3", "--print-config")
t.ok(r.returncode == 0 and "lease = 42" in r.stdout and "timeout = 3" in r.stdout
     and "exclude = */m1" in r.stdout and "exclude = */nothing" in r.stdout,
     "the config file is read and the command line wins", r.stdout + r.stderr)
r = run(QD, "-c", conf, "--scope", s.mnt, "--exclude", "*/m0", "--print-config")
t.ok("exclude = */m0" in r.stdout and "*/m1" not in r.stdout, "a list on the command line replaces the file's list", r.stdout)
bad = os.path.join(s.dir, "bad.conf")
with open(bad, "w") as f:
    f.write("[daemon]\nleese = 5\n")
r = run(QD, "-c", bad, "--scope", s.mnt)
t.ok(r.returncode == 2 and "unknown setting 'leese'" in r.stderr, "an unknown setting in the config file: exit 2, named", r.stderr)
with open(bad, "w") as f:
    f.write("[daemon]\nlease = -1\n")
r = run(QD, "-c", bad, "--scope", s.mnt)
t.ok(r.returncode == 2 and "lease" in r.stderr, "a bad value in the config file: exit 2", r.stderr)
r = run(QD, "-c", os.path.join(s.dir, "missing.conf"), "--scope", s.mnt)
t.ok(r.returncode == 2 and "missing.conf" in r.stderr, "a missing config file: exit 2", r.stderr)

d = qtest.Daemon(s, "-c", conf)
try:
    r = d.ctl("--json", "freeze")
    ans = json.loads(r.stdout) if r.returncode == 0 else {}
    t.eq(ans.get("count"), 1, "exclude = */m1 from the config file: only m0 is frozen")
    t.eq(s.frozen(), [s.mounts[0]], "m1 is not frozen")
    d.ctl("thaw")
    st = d.call("quiesce-status")["return"]
    t.eq(st.get("lease_default_ms"), 42000, "the lease from the config file is in force")

    # A second daemon on the same control socket must not steal it.
    r = run(QD, "-n", "--scope", s.mnt, "--run-dir", d.run_dir)
    t.ok(r.returncode != 0 and "already running" in r.stderr, "a second quiesced on the same socket refuses to start", r.stderr)
    t.eq(d.state(), "idle", "the first one still answers")

    # A run dir that others could write to is refused (it holds what quiesced trusts).
    loose = os.path.join(s.dir, "loose-run")
    os.makedirs(loose)
    os.chmod(loose, 0o777)
    r = run(QD, "-n", "--scope", s.mnt, "--run-dir", loose)
    t.ok(r.returncode != 0 and "writable by it alone" in r.stderr, "a world-writable run dir: refuses to start", r.stderr)

    # A regular file where the control socket should be is not deleted.
    victim = os.path.join(s.dir, "not-a-socket")
    with open(victim, "w") as f:
        f.write("precious\n")
    r = run(QD, "-n", "--scope", s.mnt, "--run-dir", os.path.join(s.dir, "run3"), "--control", victim)
    t.ok(r.returncode != 0 and "not a socket" in r.stderr, "a non-socket at --control PATH: refuses to start", r.stderr)
    t.ok(open(victim).read() == "precious\n", "... and leaves the file alone")

    # ---- quiescectl
    r = run(QC, "--help")
    t.ok(r.returncode == 0 and all(v in r.stdout for v in ("status", "check", "freeze", "thaw", "snapshot"))
         and "Exit status" in r.stdout, "quiescectl --help lists the verbs and exit codes")
    for verb in ("status", "check", "freeze", "thaw", "snapshot"):
        r = run(QC, verb, "--help")
        t.ok(r.returncode == 0 and r.stdout.startswith("Usage: quiescectl " + verb), "quiescectl %s --help" % verb)
    r = run(QC, "frobnicate")
    t.ok(r.returncode == 2 and "unknown verb" in r.stderr, "an unknown verb: exit 2")
    r = run(QC, "status", "extra")
    t.eq(r.returncode, 2, "an unexpected argument: exit 2")
    r = run(QC, "--socket", os.path.join(s.dir, "nothing.sock"), "status")
    t.ok(r.returncode == 3 and "is quiesced running?" in r.stderr, "no daemon: exit 3 and a hint", r.stderr)
    r = run(QC, "--socket", d.control, "--json", "status")
    t.ok(r.returncode == 0 and json.loads(r.stdout)["state"] == "idle", "--json status is JSON")
    r = run(QC, "status", env={"QUIESCE_CONTROL": d.control})
    t.eq(r.returncode, 0, "QUIESCE_CONTROL names the socket")

    # Options after the verb work as before it (as in systemctl and virsh).
    r = run(QC, "status", "--json", "--socket", d.control)
    t.ok(r.returncode == 0 and json.loads(r.stdout)["state"] == "idle",
         "status --json --socket P: options after the verb", r.stdout + r.stderr)
    r = run(QC, "status", "--wait", "soon", "--socket", d.control)
    t.ok(r.returncode == 2 and "--wait" in r.stderr, "a bad --wait after the verb: exit 2", r.stderr)
    r = run(QC, "freeze", "--lease", "30", "--json", "--socket", d.control)
    ans = json.loads(r.stdout) if r.returncode == 0 else {}
    t.ok(r.returncode == 0 and ans.get("count") == 1, "freeze --lease 30 --json --socket P",
         r.stdout + r.stderr)
    st = d.call("quiesce-status")["return"]
    t.ok(st.get("state") == "frozen" and st.get("lease_ms") == 30000,
         "... holds with the lease given after the verb", repr(st))
    r = run(QC, "thaw", "--socket", d.control)
    t.ok(r.returncode == 0 and d.state() == "idle" and s.frozen() == [],
         "thaw --socket P", r.stdout + r.stderr)
    # freeze takes its mountpoints before or after the options.
    r = run(QC, "freeze", s.mounts[0], "--json", "--socket", d.control)
    ans = json.loads(r.stdout) if r.returncode == 0 else {}
    t.ok(r.returncode == 0 and ans.get("count") == 1 and s.frozen() == [s.mounts[0]],
         "freeze MOUNT --json --socket P", r.stdout + r.stderr)
    run(QC, "thaw", "--socket", d.control)
    t.eq(s.frozen(), [], "... and thawed")
    # Everything after "--" (or after CMD) is CMD's, even what looks like our options.
    r = run(QC, "snapshot", "--socket", d.control, "--json", "--", "sh", "-c",
            'printf "%s|" "$@"', "sh", "--json", "--socket", "x", "--wait")
    t.ok(r.returncode == 0 and r.stdout == "--json|--socket|x|--wait|",
         "snapshot --socket P --json -- CMD ARGS: CMD gets its arguments untouched",
         r.stdout + r.stderr)
    # --json: the freeze's and the thaw's lines have the same shape (their return
    # values, as freeze --json and thaw --json print them), on stderr (stdout is CMD's).
    lines = [json.loads(x) for x in r.stderr.splitlines() if x.startswith("{")]
    t.ok(len(lines) == 2 and all("report" in x and "count" in x and "return" not in x
                                 for x in lines),
         "snapshot --json: the freeze and the thaw each one return value, alike", r.stderr)
    r = run(QC, "snapshot", "--socket", d.control, "printf", "%s|", "--json", "--lease")
    t.ok(r.returncode == 0 and r.stdout == "--json|--lease|",
         "snapshot --socket P CMD ARGS (no --): the options end at CMD", r.stdout + r.stderr)
    t.eq(d.state(), "idle", "... and thawed after each")
    # qemu-ga passes one argument to its hook; the options come before it.
    r = run(QC, "fsfreeze-hook", "--socket", os.path.join(s.dir, "nothing.sock"), "--if-running", "freeze")
    t.ok(r.returncode == 0, "fsfreeze-hook --socket P --if-running freeze: no daemon there, exit 0",
         r.stderr)
    r = run(QC, "fsfreeze-hook", "--socket", d.control, "freeze")
    st = d.call("quiesce-status")["return"]
    t.ok(r.returncode == 0 and st.get("state") == "frozen" and s.frozen() == [],
         "fsfreeze-hook --socket P freeze: the apps-only freeze", r.stderr + repr(st))
    r = run(QC, "fsfreeze-hook", "--socket", d.control, "thaw")
    t.ok(r.returncode == 0 and d.state() == "idle", "fsfreeze-hook --socket P thaw", r.stderr)
    r = run(QC, "fsfreeze-hook", "--socket", d.control, "freeze", "--json")
    t.ok(r.returncode == 2 and d.state() == "idle",
         "fsfreeze-hook freeze --json: nothing may follow freeze|thaw (exit 2)", r.stderr)

    # Garbage on the control socket gets an error and the daemon goes on.
    c = d.client()
    c.send_raw(b'{"execute": "quiesce-status"\n]]]\n')
    ans = c.recv()
    t.ok(ans and ans.get("error", {}).get("class") == "GenericError", "a JSON parse error gets an error answer", repr(ans))
    c.close()
    c = d.client()
    ans = c.call("no-such-command")
    t.eq(ans.get("error", {}).get("class"), "CommandNotFound", "an unknown command: CommandNotFound")
    c.send_raw(b"[1,2,3]\n")
    ans = c.recv()
    t.eq(ans.get("error", {}).get("class"), "GenericError", "a non-object request: GenericError")
    c.send_raw(b"{" * 100 + b"\n")
    ans = c.recv()
    t.ok(ans is None or ans.get("error", {}).get("class") == "GenericError", "deep nesting is refused", repr(ans))
    c.close()
    c = d.client()
    c.send_raw(b'{"execute": "quiesce-status", "arguments": {"x": "' + b"a" * 200000 + b'"}}\n')
    ans = c.recv()
    t.ok(ans is not None and "error" in ans, "an oversized request is refused", repr(ans)[:200])
    c.close()
    t.eq(d.state(), "idle", "the daemon goes on after bad input")
finally:
    qtest.stop_clean(t, d)
    s.cleanup()
t.exit()
