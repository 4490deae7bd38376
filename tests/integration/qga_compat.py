#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""quiesced --qga against the real qemu-ga 7.2: the same requests, the same replies.

Both agents serve a Unix socket over the same scratch filesystems, one after the
other (qemu-ga first, killed, then quiesced), with everything thawed in between.
qemu-ga runs sandboxed (qgapeer.py: it can see no device but the scratch mounts),
with guest-fsfreeze-freeze disabled, and is sent only freeze-list with explicit
scratch mountpoints.

Each step is sent followed by a guest-sync fence; the replies before the fence are
compared member by member. Normalised, and nothing else: the version string;
guest-info's list (qemu-ga has many more commands: compared on ours); the text after
"JSON parse error, " where json-c and qemu's lexer word things differently (marked
per step). The known differences are run too, in EXPECTED_DIFFERENCES below, with
each agent's own answer asserted (docs/qga.md explains them)."""

import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import qtest  # noqa: E402
import qgapeer  # noqa: E402

tap = qtest.start()
if not qgapeer.qemu_ga_available():
    tap.skip_all("qemu-ga is not installed (Debian package qemu-guest-agent)")

scratch = qtest.Scratch(n=2)
M0, M1 = scratch.mounts
NOT_A_MOUNT = scratch.mnt + "/not-a-mount"
OUR_COMMANDS = ["guest-sync-delimited", "guest-sync", "guest-ping", "guest-info",
                "guest-fsfreeze-status", "guest-fsfreeze-freeze", "guest-fsfreeze-freeze-list",
                "guest-fsfreeze-thaw"]


def req(execute, arguments=None, id=None):
    r = {"execute": execute}
    if arguments is not None:
        r["arguments"] = arguments
    if id is not None:
        r["id"] = id
    return json.dumps(r).encode()


def freeze_list(mounts, **extra):
    for m in mounts:
        assert m.startswith(scratch.mnt + "/"), m
    assert mounts
    return req("guest-fsfreeze-freeze-list", dict({"mountpoints": mounts}, **extra))


PARSE = "parse"      # error text after "JSON parse error, " may differ
INFO = "info"        # guest-info: normalised
RECONNECT = b""      # not sent: close the client and connect again

# (label, bytes, flags). The state carries from one step to the next.
SCRIPT = [
    ("0xFF then guest-sync-delimited", b'\xff' + req("guest-sync-delimited", {"id": 11}), ()),
    ("guest-ping", req("guest-ping"), ()),
    ("guest-ping, integer id", req("guest-ping", id=5), ()),
    ("guest-ping, object id", req("guest-ping", id={"a": [1, "b", None, True]}), ()),
    ("guest-ping, null id", b'{"execute":"guest-ping","id":null}', ()),
    ("guest-ping, unexpected argument", req("guest-ping", {"x": 1}), ()),
    ("guest-sync", req("guest-sync", {"id": 1234}), ()),
    ("guest-sync with request id", req("guest-sync", {"id": -7}, id="x"), ()),
    ("guest-sync, int64 max", req("guest-sync", {"id": 9223372036854775807}), ()),
    ("guest-sync, above int64", req("guest-sync", {"id": 9223372036854775808}), ()),
    ("guest-sync, float id", req("guest-sync", {"id": 1.5}), ()),
    ("guest-sync, string id", req("guest-sync", {"id": "1"}), ()),
    ("guest-sync, no id", req("guest-sync"), ()),
    ("guest-sync, unexpected argument", req("guest-sync", {"id": 1, "y": 2}), ()),
    ("guest-sync, bad id and unexpected", req("guest-sync", {"id": "s", "y": 2}, id=8), ()),
    ("guest-sync-delimited", req("guest-sync-delimited", {"id": 12}, id="d"), ()),
    ("guest-sync-delimited, no id", req("guest-sync-delimited"), ()),
    ("unknown command", req("guest-no-such", id=4), ()),
    ("NUL in the command name", req("guest-ping\u0000junk", id=4), ()),
    ("NUL at the end of the command name", req("guest-ping\u0000"), ()),
    ("NUL in the id", req("guest-ping", id="a\u0000b"), ()),
    ("execute not a string", b'{"execute":5,"id":6}', ()),
    ("arguments not an object", b'{"execute":"guest-ping","arguments":[]}', ()),
    ("unexpected member", b'{"execute":"guest-ping","control":1,"id":2}', ()),
    ("exec-oob", b'{"exec-oob":"guest-ping"}', ()),
    ("no execute", b'{"id":3}', ()),
    ("an array", b'[1,2]', ()),
    ("a number", b'42', ()),
    ("two requests, no separator", req("guest-ping") + req("guest-ping", id=2), ()),
    ("single quotes", b"{'execute':'guest-ping'}", ()),
    ("whitespace and newlines", b' \t\r\n{"execute":\n"guest-ping"}', ()),
    ("garbage", b'garbage', (PARSE,)),
    ("a stray brace", b'}', (PARSE,)),
    ("invalid UTF-8 in a string", b'{"execute":"guest-ping","id":"\xc3"}', (PARSE,)),
    ("a surrogate in UTF-8", b'{"execute":"guest-ping","id":"\xed\xa0\x80"}', (PARSE,)),
    ("an overlong form", b'{"execute":"guest-ping","id":"\xe0\x80\xaf"}', (PARSE,)),
    ("past U+10FFFF", b'{"execute":"guest-ping","id":"\xf4\x90\x80\x80"}', (PARSE,)),
    ("a noncharacter", b'{"execute":"guest-ping","id":"\xef\xbf\xbf"}', (PARSE,)),
    ("4-byte UTF-8", b'{"execute":"guest-ping","id":"\xf0\x9f\x98\x80"}', ()),
    ("0xFF mid-object", b'{"execute":"guest-sync","arguments":{"id":\xff' + req("guest-ping", id=1),
     ()),
    ("guest-info", req("guest-info"), (INFO,)),
    ("status, thawed", req("guest-fsfreeze-status"), ()),
    ("thaw, nothing frozen", req("guest-fsfreeze-thaw"), ()),
    ("freeze-list, not a mountpoint", freeze_list([NOT_A_MOUNT]), ()),
    ("freeze-list, mountpoint with a slash", freeze_list([M0 + "/"]), ()),
    ("freeze-list, unexpected argument", freeze_list([M0], bogus=1), ()),
    ("freeze-list, NUL in a mountpoint", freeze_list([M0 + "\u0000/../.."]), ()),
    ("freeze-list, NUL right after the mountpoint", freeze_list([M0 + "\u0000"]), ()),
    ("status, still thawed", req("guest-fsfreeze-status"), ()),
    ("freeze-list m0 m1 m0", freeze_list([M0, M1, M0]), ()),
    ("status, frozen", req("guest-fsfreeze-status"), ()),
    ("frozen: guest-ping", req("guest-ping", id="f"), ()),
    ("frozen: guest-sync", req("guest-sync", {"id": 5}), ()),
    ("frozen: guest-sync-delimited", req("guest-sync-delimited", {"id": 6}), ()),
    ("frozen: guest-info", req("guest-info"), (INFO,)),
    ("frozen: freeze-list", freeze_list([M1]), ()),
    ("frozen: freeze-list, bad arguments", freeze_list([M1], bogus=1), ()),
    ("frozen: unknown command", req("guest-no-such"), ()),
    ("frozen: arguments not an object", b'{"execute":"guest-info","arguments":1}',
     ()),
    ("frozen: garbage", b'garbage', (PARSE,)),
    ("reconnect while frozen", RECONNECT, ()),
    ("status after reconnecting", req("guest-fsfreeze-status"), ()),
    ("thaw", req("guest-fsfreeze-thaw"), ()),
    ("status after thaw", req("guest-fsfreeze-status"), ()),
    ("thaw again", req("guest-fsfreeze-thaw"), ()),
    ("freeze-list m1", freeze_list([M1]), ()),
    ("thaw m1", req("guest-fsfreeze-thaw"), ()),
]

for label, data, _ in SCRIPT:
    # The rules for the real agent, checked on what we are about to send it.
    assert b'"guest-fsfreeze-freeze"' not in data, label
    if b"guest-fsfreeze-freeze-list" in data and b"\xff" not in data:
        args = json.loads(data).get("arguments", {})
        assert isinstance(args, dict) and args.get("mountpoints"), label


class Run:
    """One agent: a client, the fence, the transcript."""

    def __init__(self, connect):
        self.connect = connect
        self.c = connect()
        self.fence = 1000

    def step(self, data):
        if data == RECONNECT:
            self.c.close()
            time.sleep(0.2)
            self.c = self.connect()
            return []
        self.fence += 1
        self.c.send_raw(data + b"\n" + req("guest-sync", {"id": self.fence}) + b"\n")
        out = []
        while True:
            r = self.c.reply(timeout=15)
            if r is None:
                out.append("<no reply>")
                return out
            if r == (False, {"return": self.fence}):
                return out
            out.append(r)

    def close(self):
        self.c.close()


def normalise(replies, flags):
    out = []
    for ff, obj in (r if isinstance(r, tuple) else (False, r) for r in replies):
        obj = json.loads(json.dumps(obj))
        e = obj.get("error") if isinstance(obj, dict) else None
        if PARSE in flags and e and e.get("desc", "").startswith("JSON parse error, "):
            e["desc"] = "JSON parse error, ..."
        if INFO in flags and isinstance(obj, dict) and "return" in obj:
            obj["return"]["version"] = "<version>"
            cmds = {x["name"]: x for x in obj["return"]["supported_commands"]}
            # guest-fsfreeze-freeze is -b'ed on qemu-ga (safety): see EXPECTED_DIFFERENCES.
            obj["return"]["supported_commands"] = sorted(
                (cmds.get(n) or {"name": n, "missing": True} for n in OUR_COMMANDS
                 if n != "guest-fsfreeze-freeze"), key=lambda x: x["name"])
        out.append((ff, obj))
    return out


def transcript(connect):
    run = Run(connect)
    out = []
    for label, data, flags in SCRIPT:
        out.append(run.step(data))
    return run, out


def leave_partial(run):
    """A client sends half a request and goes; then run's client comes back. (qemu-ga
    serves one client at a time: the others wait in the backlog.)"""
    run.c.close()
    time.sleep(0.2)
    c2 = run.connect()
    c2.send_raw(b'{"execute":"guest-sync","arguments":{"id":')
    time.sleep(0.3)
    c2.close()
    time.sleep(0.3)
    run.c = run.connect()


# ---------------------------------------------------------------- qemu-ga

ga = qgapeer.QemuGa(scratch)
tap.ok(ga.check_confinement() is None, "qemu-ga is confined to the scratch filesystems")
ga_version = qgapeer.qemu_ga_version()
tap.diag("qemu-ga " + ga_version)
run, theirs = transcript(ga.client)

# The known differences, qemu-ga's side.
ga_diff = {}
info = json.loads(json.dumps(run.step(req("guest-info"))[0][1]))
ga_diff["info"] = info["return"]
qtest.freeze_path(M1)  # a foreign freezer
ga_diff["foreign"] = [run.step(freeze_list([M0, M1])), run.step(req("guest-fsfreeze-status")),
                      scratch.frozen(), run.step(req("guest-fsfreeze-thaw")), scratch.frozen()]
leave_partial(run)
ga_diff["partial"] = run.step(b'21}}')
ga_diff["duplicate"] = run.step(b'{"execute":"guest-ping","execute":"guest-sync","arguments":{"id":3}}')
ga_diff["trailing-comma"] = run.step(b'{"execute":"guest-ping",}')
ga_diff["deep"] = run.step(req("guest-ping", id=json.loads("[" * 40 + "]" * 40)))
ga_diff["big"] = run.step(req("guest-ping", id="a" * (70 * 1024)))
ga_diff["other-command"] = run.step(req("guest-get-host-name"))
ga_diff["nul-key"] = run.step(b'{"execute\\u0000x":"guest-ping"}')
ga_diff["c080"] = run.step(b'{"execute":"guest-ping","id":"\xc0\x80"}')
run.close()
ga.kill()
tap.eq(scratch.frozen(), [], "qemu-ga done, nothing left frozen")
for m in scratch.mounts:
    qtest.thaw_path(m)

# ---------------------------------------------------------------- quiesced

q = qgapeer.Quiesced(scratch)
run, ours = transcript(q.client)
our_diff = {}
our_diff["info"] = run.step(req("guest-info"))[0][1]["return"]
qtest.freeze_path(M1)
our_diff["foreign"] = [run.step(freeze_list([M0, M1])), run.step(req("guest-fsfreeze-status")),
                       scratch.frozen(), run.step(req("guest-fsfreeze-thaw")), scratch.frozen()]
qtest.thaw_path(M1)
leave_partial(run)
our_diff["partial"] = run.step(b'21}}')
our_diff["duplicate"] = run.step(b'{"execute":"guest-ping","execute":"guest-sync","arguments":{"id":3}}')
our_diff["trailing-comma"] = run.step(b'{"execute":"guest-ping",}')
our_diff["deep"] = run.step(req("guest-ping", id=json.loads("[" * 40 + "]" * 40)))
our_diff["big"] = run.step(req("guest-ping", id="a" * (70 * 1024)))
our_diff["other-command"] = run.step(req("guest-get-host-name"))
our_diff["nul-key"] = run.step(b'{"execute\\u0000x":"guest-ping"}')
our_diff["c080"] = run.step(b'{"execute":"guest-ping","id":"\xc0\x80"}')
run.close()
tap.eq(q.stop(), 0, "quiesced done, exits cleanly")

# ---------------------------------------------------------------- the same replies

for (label, data, flags), a, b in zip(SCRIPT, theirs, ours):
    na, nb = normalise(a, flags), normalise(b, flags)
    tap.ok(na == nb and "<no reply>" not in a, "same reply: " + label,
           "qemu-ga:  %r\nquiesced: %r" % (a, b))

# Some must be more than "the same": make sure the script did what it says.
by_label = {label: normalise(b, flags) for (label, _, flags), b in zip(SCRIPT, ours)}
tap.eq(by_label["freeze-list m0 m1 m0"], [(False, {"return": 2})], "  (and that was a freeze of 2)")
tap.eq(by_label["thaw"], [(False, {"return": 2})], "  (and a thaw of 2)")
tap.eq(by_label["freeze-list, NUL in a mountpoint"], [(False, {"return": 0})],
       "  (and a NUL mountpoint froze nothing: not cut at the NUL)")
tap.eq(by_label["NUL in the command name"],
       [(False, {"error": {"class": "CommandNotFound",
                           "desc": "The command guest-ping\u0000junk has not been found"}, "id": 4})],
       "  (and the command name is named whole)")
tap.eq(by_label["frozen: freeze-list"],
       [(False, {"error": {"class": "CommandNotFound", "desc": "Command guest-fsfreeze-freeze-list "
                           "has been disabled: the agent is in frozen state"}})],
       "  (and frozen meant the allow-list)")
tap.eq(by_label["0xFF then guest-sync-delimited"],
       [(False, {"error": {"class": "GenericError", "desc": "JSON parse error, stray '\ufffd'"}}),
        (True, {"return": 11})], "  (and 0xFF is answered, then the delimited reply)")

# ---------------------------------------------------------------- expected differences

tap.diag("expected differences (docs/qga.md):")
tap.ok(ga_diff["info"]["version"] == ga_version and our_diff["info"]["version"] != ga_version,
       "difference: guest-info version is quiesced's (%s), not qemu-ga's (%s)" %
       (our_diff["info"]["version"], ga_diff["info"]["version"]))
ga_names = {x["name"]: x for x in ga_diff["info"]["supported_commands"]}
our_names = {x["name"]: x for x in our_diff["info"]["supported_commands"]}
tap.ok(set(our_names) == set(OUR_COMMANDS) and set(our_names) < set(ga_names),
       "difference: guest-info lists the fsfreeze subset only (%d of qemu-ga's %d)" %
       (len(our_names), len(ga_names)))
tap.ok(ga_names["guest-fsfreeze-freeze"]["enabled"] is False and
       our_names["guest-fsfreeze-freeze"]["enabled"] is True,
       "difference: guest-fsfreeze-freeze is enabled in ours; the test disables it in qemu-ga (-b)")

NL = (False, {"error": {"class": "GenericError",
                        "desc": "%s is already frozen by another freezer (busy)" % M1}})
tap.eq(ga_diff["foreign"], [[(False, {"return": 1})], [(False, {"return": "frozen"})], [M0, M1],
                            [(False, {"return": 2})], []],
       "qemu-ga over a foreign freeze of m1: freezes m0 (1), skips m1; its thaw returns 2 and "
       "thaws the foreign freeze too")
tap.eq(our_diff["foreign"], [[NL], [(False, {"return": "thawed"})], [M1],
                             [(False, {"return": 0})], [M1]],
       "difference: quiesced refuses the freeze (busy), stays thawed, and its thaw leaves the "
       "foreign freeze alone")

tap.eq(ga_diff["partial"], [(False, {"return": 21})],
       "qemu-ga: a request left half-sent by a client is completed by the next client's input")
tap.ok(our_diff["partial"] and our_diff["partial"][0] ==
       (False, {"error": {"class": "GenericError", "desc": "QMP input must be a JSON object"}}),
       "difference: in quiesced each client starts with a clean parser", our_diff["partial"])

tap.eq(ga_diff["duplicate"],
       [(False, {"error": {"class": "GenericError", "desc": "JSON parse error, duplicate key"}})],
       "qemu-ga refuses duplicate keys")
tap.eq(our_diff["duplicate"], [(False, {"return": 3})],
       "difference: json-c keeps the last of duplicate keys")
tap.ok(ga_diff["trailing-comma"][0][1]["error"]["desc"].startswith("JSON parse error"),
       "qemu-ga refuses a trailing comma")
tap.eq(our_diff["trailing-comma"], [(False, {"return": {}})],
       "difference: json-c accepts a trailing comma")
tap.eq(ga_diff["deep"], [(False, {"return": {}, "id": json.loads("[" * 40 + "]" * 40)})],
       "qemu-ga takes 41 levels of nesting (its limit is 1024)")
tap.eq(our_diff["deep"], [(False, {"error": {"class": "GenericError",
                                             "desc": "JSON nesting depth limit exceeded"}})],
       "difference: quiesced's limit is 32 levels, with qemu-ga's error text")
tap.ok(ga_diff["big"] and ga_diff["big"][0][1].get("return") == {},
       "qemu-ga takes a 70 KiB request (its limit is 64 MiB)")
tap.eq(our_diff["big"], [(False, {"error": {"class": "GenericError",
                                            "desc": "JSON token size limit exceeded"}})],
       "difference: quiesced's limit is 64 KiB, with qemu-ga's error text")
tap.ok(ga_diff["other-command"] and "return" in ga_diff["other-command"][0][1],
       "qemu-ga serves its other commands (guest-get-host-name)")
tap.eq(our_diff["other-command"],
       [(False, {"error": {"class": "CommandNotFound",
                           "desc": "The command guest-get-host-name has not been found"}})],
       "difference: quiesced serves only the fsfreeze subset")

tap.eq(ga_diff["nul-key"],
       [(False, {"error": {"class": "GenericError",
                           "desc": "QMP input member 'execute\u0000x' is unexpected"}})],
       "qemu-ga names a member with a NUL in it as unexpected")
tap.eq(our_diff["nul-key"],
       [(False, {"error": {"class": "GenericError",
                           "desc": "JSON parse error, a member name holds a NUL character (\\u0000)"}})],
       "difference: quiesced refuses it as a parse error (json-c cuts member names at a NUL)")
tap.eq(ga_diff["c080"], [(False, {"return": {}, "id": "\u0000"})],
       "qemu-ga reads C0 80 (modified UTF-8) as a NUL")
tap.ok(our_diff["c080"] and our_diff["c080"][0][1].get("error", {}).get("desc", "").startswith("JSON parse error"),
       "difference: quiesced refuses C0 80 as not UTF-8", our_diff["c080"])

tap.exit()
