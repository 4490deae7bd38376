#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""libquiesce as a user gets it: exported symbols, soname, static archive, pkg-config,
the header on its own (C99 pedantic, C++), the man page (renders without warnings, its
example compiles), and how the sample apps are linked."""

import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import qtest  # noqa: E402

t = qtest.start(root=False)
B = qtest.BUILD
TOP = qtest.TOP
so = os.path.join(B, "libquiesce.so.0")
if not os.path.exists(so):
    t.skip_all("libquiesce not built")
sanitize = os.environ.get("SANITIZE") == "1" or B.rstrip("/").endswith("sanitize")
san_flags = ["-fsanitize=address,undefined"] if sanitize else []

with open(os.path.join(TOP, "include", "quiesce.h")) as f:
    header = f.read()
api = set(re.findall(r"QUIESCE_API\s+[^;(]*?\**\b(quiesce_\w+)\s*\(", header))
t.ok(len(api) >= 13, "header declares the API (%d functions)" % len(api))

out = qtest.run(["nm", "-D", "--defined-only", so]).stdout
exported = set(line.split()[-1].split("@")[0] for line in out.splitlines()
               if line.split()[1] in "TtWDBR" and not line.split()[-1].startswith("QUIESCE_"))
t.eq(exported, api, "the shared library exports exactly the declared API")
t.ok(all("@@QUIESCE_0" in line for line in out.splitlines() if " T " in line),
     "every export carries the QUIESCE_0 version")
dyn = qtest.run(["readelf", "-d", so]).stdout
t.ok("Library soname: [libquiesce.so.0]" in dyn, "soname libquiesce.so.0")
link = os.path.join(B, "libquiesce.so")
t.ok(os.path.islink(link) and os.readlink(link) == "libquiesce.so.0", "libquiesce.so -> libquiesce.so.0")
syms = qtest.run(["nm", os.path.join(B, "libquiesce.a")]).stdout
t.ok(" T quiesce_open" in syms and " T appwire_decode_request" in syms,
     "static archive holds the library and the wire format")

with open(os.path.join(B, "quiesce.pc")) as f:
    pc = f.read()
t.ok("Libs: -L${libdir} -lquiesce" in pc and "Version: " in pc, "quiesce.pc for the install")

work = tempfile.mkdtemp(prefix="quiesce-abi-")
try:
    env = dict(os.environ, PKG_CONFIG_PATH=B)
    r = subprocess.run(["pkg-config", "--cflags", "--libs", "quiesce"], env=env,
                       capture_output=True, text=True)
    flags = r.stdout.split()
    t.ok(r.returncode == 0 and ("-I" + os.path.join(TOP, "include")) in flags and "-lquiesce" in flags,
         "pkg-config finds the uninstalled tree", r.stdout + r.stderr)

    prog = os.path.join(work, "user.c")
    with open(prog, "w") as f:
        f.write("""#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <quiesce.h>
int main(void)
{
    struct quiesce *q = NULL;
    int r = quiesce_open("/nonexistent/app.sock", "abi-test", NULL, 100, &q);
    printf("%d %s %s\\n", r == -ENOENT, quiesce_strerror(r), quiesce_op_name(QUIESCE_FREEZE));
    return q != NULL;
}
""")
    exe = os.path.join(work, "user")
    r = subprocess.run(["cc", "-std=c99", "-Wall", "-Wextra", "-pedantic", "-Werror", prog, "-o", exe,
                        "-Wl,-rpath," + B] + san_flags + flags, capture_output=True, text=True)
    t.ok(r.returncode == 0, "the header builds in strict C99 (-pedantic -Werror)", r.stderr)
    r = subprocess.run([exe], capture_output=True, text=True)
    t.ok(r.returncode == 0 and r.stdout.startswith("1 ") and "FREEZE" in r.stdout,
         "a program linked through pkg-config runs: ENOENT without a daemon", r.stdout + r.stderr)

    cxx = shutil.which("c++") or shutil.which("g++") or shutil.which("clang++")
    if cxx is None:
        t.skip("header in C++", "no C++ compiler")
    else:
        cc = os.path.join(work, "user.cc")
        with open(cc, "w") as f:
            f.write("#include <quiesce.h>\nint main() { return quiesce_op_name(1)[0] != 'C'; }\n")
        r = subprocess.run([cxx, "-Wall", "-Werror", "-c", cc, "-I" + os.path.join(TOP, "include"),
                            "-o", os.path.join(work, "cc.o")], capture_output=True, text=True)
        t.ok(r.returncode == 0, "the header builds as C++", r.stderr)

    # The man page renders without warnings, and its example compiles.
    man = os.path.join(TOP, "man", "libquiesce.3")
    if shutil.which("man") is None:
        t.skip("man page renders", "no man")
    else:
        r = subprocess.run(["man", "--warnings", "-l", man], capture_output=True, text=True,
                           env=dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8", MANPAGER="cat"))
        t.ok(r.returncode == 0 and r.stderr == "" and "quiesce_open" in r.stdout,
             "man -l renders libquiesce.3 without warnings", r.stderr)
    with open(man) as f:
        src = f.read()
    ex = src[src.index(".EX\n") + 4:src.index(".EE\n")]
    ex = ex.replace("\\-", "-").replace("\\e", "\\")
    ex = "int db_flush_and_lock(void *);\nvoid db_unlock(void *);\nint serve(void *);\n" + ex
    exfile = os.path.join(work, "example.c")
    with open(exfile, "w") as f:
        f.write(ex)
    r = subprocess.run(["cc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-c", exfile,
                        "-I" + os.path.join(TOP, "include"), "-o", os.path.join(work, "ex.o")],
                       capture_output=True, text=True)
    t.ok(r.returncode == 0, "the man page's example compiles", r.stderr)
finally:
    shutil.rmtree(work, ignore_errors=True)

ldd = subprocess.run(["ldd", qtest.bin_path("appvss-sim")], capture_output=True, text=True).stdout
t.ok(re.search(r"libquiesce\.so\.0 => " + re.escape(B), ldd) is not None,
     "appvss-sim uses the shared library beside it ($ORIGIN)", ldd)
ldd = subprocess.run(["ldd", qtest.bin_path("recwriter")], capture_output=True, text=True).stdout
t.ok("libquiesce" not in ldd, "recwriter is linked statically (copies alone into a VM)")

t.exit()
