#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The folders under src/ are the layers, and no #include runs upward.

    daemon/   main and config: the wiring; may include every layer below
    host/     the transports (control, QGA, Hyper-V) and the JSON command layer
    engine/   the transaction engine and the stage interface
    fs/ apps/ hooks/   the participants: each implements the engine's stage interface
    common/   event loop, log, wire formats, the guardian's client, small utils
    lib/ cli/ guardian/ group/   libquiesce, quiescectl, quiesce-guardian,
              quiesce-group (host side): on common/ only

A folder may include itself and what ALLOWED names; anything else is an arrow the
wrong way. KNOWN would list arrows still to be taken out (none now): none may be added,
and one that is gone must leave the list too, so the list only shrinks."""
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import qtest  # noqa: E402

TOP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
SRC = os.path.join(TOP, "src")

ALLOWED = {
    "daemon": {"host", "engine", "fs", "apps", "hooks", "common"},
    "host": {"engine", "common"},
    "engine": {"common"},
    "fs": {"engine", "common"},
    "apps": {"engine", "common"},
    "hooks": {"engine", "common"},
    "common": set(),
    "lib": {"common"},
    "cli": {"common"},
    "guardian": {"common"},
    "group": {"common"},
}

# file -> included header, each still to be taken out (never added to).
KNOWN = set()

INCLUDE = re.compile(r'^\s*#\s*include\s+"([a-z_]+)/([^"]+)"', re.M)

t = qtest.start(root=False)
folders = sorted(d for d in os.listdir(SRC) if os.path.isdir(os.path.join(SRC, d)))
t.eq([d for d in folders if d not in ALLOWED], [], "every folder under src/ has its place in the layers")

found = set()
wrong = []
for d in folders:
    for name in sorted(os.listdir(os.path.join(SRC, d))):
        if not name.endswith((".c", ".h")):
            continue
        with open(os.path.join(SRC, d, name), errors="replace") as f:
            text = f.read()
        for m in INCLUDE.finditer(text):
            to = m.group(1)
            if to == d or to in ALLOWED.get(d, set()):
                continue
            edge = ("%s/%s" % (d, name), "%s/%s" % (to, m.group(2)))
            if edge in KNOWN:
                found.add(edge)
            else:
                wrong.append(edge)
t.eq(wrong, [], "no #include runs upward (or sideways between participants)")
t.eq(sorted(KNOWN - found), [], "every known upward #include still exists (take a fixed one off KNOWN)")


# No .c under src/ over 600 lines: the files still over it are listed, and may only shrink.
BIG = {}
over = []
for d in folders:
    for name in os.listdir(os.path.join(SRC, d)):
        if not name.endswith(".c"):
            continue
        key = "%s/%s" % (d, name)
        with open(os.path.join(SRC, d, name), errors="replace") as f:
            n = sum(1 for _ in f)
        if n > BIG.get(key, 600):
            over.append((key, n, BIG.get(key, 600)))
t.eq(over, [], "no .c under src/ over 600 lines (those listed over it do not grow)")


# No function under src/ over 80 lines, counted from its opening "{" to its closing "}"
# (both included). The code is written with a function's braces at column 0 and nothing
# else's, so that is all the parser needs. LONG_FUNCS lists the functions still over it,
# with their length now: they may only shrink, and a fixed one must leave the list, so
# the list only shrinks (empty it once they are split).
LONG_FUNCS = {}
FUNC_NAME = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*\(")


def long_functions(path, limit=80):
    """(name, lines) of each function in path longer than limit lines."""
    with open(path, errors="replace") as f:
        lines = f.read().split("\n")
    found, start = [], None
    for i, line in enumerate(lines):
        if line.startswith("{"):
            start = i
        elif line.startswith("}") and start is not None:
            n = i - start + 1
            if n > limit:
                # The name: the first "name(" on the signature's first line (the
                # nearest line above the "{" that is not indented: a continuation is).
                j = start - 1
                while j > 0 and lines[j][:1] in (" ", "\t"):
                    j -= 1
                m = FUNC_NAME.search(lines[j]) if j >= 0 else None
                found.append((m.group(1) if m else "line %d" % (start + 1), n))
            start = None
    return found


too_long, seen = [], set()
for d in folders:
    for name in sorted(os.listdir(os.path.join(SRC, d))):
        if not name.endswith(".c"):
            continue
        for func, n in long_functions(os.path.join(SRC, d, name)):
            key = "%s/%s:%s" % (d, name, func)
            seen.add(key)
            if n > LONG_FUNCS.get(key, 80):
                too_long.append((key, n, LONG_FUNCS.get(key, 80)))
t.eq(too_long, [], "no function under src/ over 80 lines (those listed over it do not grow)")
t.eq(sorted(set(LONG_FUNCS) - seen), [], "every function listed as over 80 lines still is (take a split one off LONG_FUNCS)")

# Every source file says its licence (MIT, LICENSE at the top): debian/copyright and
# anyone linking libquiesce rely on it.
SOURCE_DIRS = ("src", "include", "tests", "agents", "tools", "bench", "examples", "scripts")
unlicensed = []
for d in SOURCE_DIRS:
    for root, _dirs, names in os.walk(os.path.join(TOP, d)):
        for name in names:
            if name.endswith((".c", ".h", ".py", ".sh")):
                path = os.path.join(root, name)
                with open(path, errors="replace") as f:
                    if "SPDX-License-Identifier:" not in f.read(2000):
                        unlicensed.append(os.path.relpath(path, TOP))
t.eq(sorted(unlicensed), [], "every source file has an SPDX-License-Identifier line")
t.exit()
