#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The man pages and the programs agree, and the pages are clean roff.

Every option a program's --help lists is in its page, and every option the page
lists is in --help: quiesced(8), quiesce-guardian(8), quiesce-group(1), the database
agents' quiesce-agent-*(8), quiescectl(8) with each verb and its options, and every
setting of quiesced --print-config in quiesced.conf(5)
(and the other way round). Then mandoc -T lint and groff -ww say nothing, and man -l
renders each page. Nothing here needs root or freezes anything."""
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import qtest  # noqa: E402

t = qtest.start(root=False)
MAN = os.path.join(qtest.TOP, "man")
PAGES = sorted(os.path.join(MAN, f) for f in os.listdir(MAN) if re.search(r"\.[1-8]$", f))
OPT = re.compile(r"(?<![\w-])(--?[A-Za-z][\w-]*)")


def run(*cmd):
    return subprocess.run(list(cmd), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          timeout=30 * qtest.SLOW, env=dict(os.environ, MANWIDTH="80"))


# ---- roff: the tags of the .TP entries, with their section, subsection and depth


def plain(line):
    """A roff line as text: no font macro, no quotes, no escapes."""
    line = re.sub(r"^\.(?:B|I|BI|IB|BR|RB|IR|RI)(?:\s+|$)", "", line)
    line = line.replace('"', "")
    line = re.sub(r"\\f(?:[BIRP]|\(..|\[[^]]*\])", "", line)
    return line.replace("\\-", "-").replace("\\&", "").replace("\\(aq", "'").strip()


def entries(path):
    """[(section, subsection, depth, tag)] for every .TP entry of a page."""
    out, sh, ss, depth, want_tag = [], None, None, 0, False
    with open(path) as f:
        for line in f.read().splitlines():
            if line.startswith('.\\"'):
                continue
            if want_tag:
                out.append((sh, ss, depth, plain(line)))
                want_tag = False
            elif line.startswith(".SH"):
                sh, ss, depth = plain(line[3:]), None, 0
            elif line.startswith(".SS"):
                ss, depth = plain(line[3:]), 0
            elif line.startswith(".RS"):
                depth += 1
            elif line.startswith(".RE"):
                depth -= 1
            elif line.startswith(".TP"):
                want_tag = True
    return out


def page_options(path, section="OPTIONS"):
    return {o for sh, _, d, tag in entries(path) if sh == section and d == 0
            for o in OPT.findall(tag)}


# ---- --help: the options in its option lines and in its Usage line


def help_options(text):
    opts = set()
    for line in text.splitlines():
        m = re.match(r"^\s+((?:-\w, )?--?[A-Za-z][\w-]*)", line)
        if m:
            opts.update(OPT.findall(m.group(1)))
        if line.startswith("Usage:"):
            opts.update(re.findall(r"\[(--?[A-Za-z][\w-]*)", line))
    return opts


def compare(name, in_help, in_page):
    t.ok(in_help == in_page, "%s: --help and the page list the same options" % name,
         "only in --help: %s\nonly in the page: %s" % (sorted(in_help - in_page) or "-",
                                                       sorted(in_page - in_help) or "-"))


def help_of(*cmd):
    r = run(*cmd)
    if r.returncode != 0:
        t.ok(False, "%s exits 0" % " ".join(cmd[1:]), r.stderr)
    return r.stdout


QD, QC, QG = (qtest.bin_path(p) for p in ("quiesced", "quiescectl", "quiesce-guardian"))

# quiesced(8) and quiesce-guardian(8)
compare("quiesced(8)", help_options(help_of(QD, "--help")),
        page_options(os.path.join(MAN, "quiesced.8")))
compare("quiesce-guardian(8)", help_options(help_of(QG, "--help")),
        page_options(os.path.join(MAN, "quiesce-guardian.8")))
# The database agents (agents/<db>/): quiesce-agent-<db>(8) each.
for agent in sorted(f[:-2] for f in os.listdir(MAN) if f.startswith("quiesce-agent-") and f.endswith(".8")):
    compare("%s(8)" % agent, help_options(help_of(qtest.bin_path(agent), "--help")),
            page_options(os.path.join(MAN, agent + ".8")))
compare("quiesce-group(1)", help_options(help_of(qtest.bin_path("quiesce-group"), "--help")),
        page_options(os.path.join(MAN, "quiesce-group.1")))

# quiescectl(8): the common options, the verbs, each verb's own options
QC_PAGE = os.path.join(MAN, "quiescectl.8")
main_help = help_of(QC, "--help")
compare("quiescectl(8)", help_options(main_help), page_options(QC_PAGE))
verbs, in_verbs = [], False
for line in main_help.splitlines():
    if line == "Verbs:":
        in_verbs = True
    elif in_verbs and not line:
        break
    elif in_verbs and re.match(r"^  \S", line):
        verbs.append(line.split()[0])
cmds = {}
current = None
for sh, _, depth, tag in entries(QC_PAGE):
    if sh != "COMMANDS":
        continue
    if depth == 0:
        current = tag.split()[0]
        cmds[current] = set()
    elif current:
        cmds[current].update(OPT.findall(tag))
t.ok(len(verbs) >= 7 and sorted(verbs) == sorted(cmds),
     "quiescectl(8): COMMANDS has every verb of --help, and no other",
     "--help: %s\npage: %s" % (sorted(verbs), sorted(cmds)))
for verb in verbs:
    own = help_options(help_of(QC, verb, "--help")) - {"-h", "--help"}
    compare("quiescectl(8) %s" % verb, own, cmds.get(verb, set()))

# quiesced.conf(5): every setting, in its section
conf = run(QD, "-c", "/dev/null", "--print-config")
in_conf, section = set(), None
for line in conf.stdout.splitlines():
    m = re.match(r"^\[([\w-]+)\]$", line) or re.match(r"^(?:# )?([\w-]+) ?=", line)
    if m and line.startswith("["):
        section = m.group(1)
    elif m:
        in_conf.add("[%s] %s" % (section, m.group(1)))
in_page = {"%s %s" % (ss, tag.split()[0]) for sh, ss, d, tag in
           entries(os.path.join(MAN, "quiesced.conf.5")) if sh == "SETTINGS"}
t.ok(conf.returncode == 0 and len(in_conf) > 20 and in_conf == in_page,
     "quiesced.conf(5) lists every setting of --print-config in its section, and no other",
     "only in --print-config: %s\nonly in the page: %s\n%s" % (
         sorted(in_conf - in_page) or "-", sorted(in_page - in_conf) or "-", conf.stderr))

# ---- clean roff, and each page renders
t.ok(len(PAGES) >= 5, "the pages are there", PAGES)
for page in PAGES:
    name = os.path.basename(page)
    with open(page) as f:
        first = f.readline()
    if name != "libquiesce.3":   # the lead adds its SPDX line
        t.eq(first.strip(), '.\\" SPDX-License-Identifier: MIT', "%s: the SPDX line first" % name)
    if shutil.which("mandoc"):
        r = run("mandoc", "-T", "lint", page)
        t.ok(r.returncode == 0 and not (r.stdout + r.stderr).strip(),
             "%s: mandoc -T lint says nothing" % name, r.stdout + r.stderr)
    else:
        t.skip("%s: mandoc -T lint" % name, "no mandoc (scripts/deps.sh installs it)")
    if shutil.which("groff"):
        r = run("groff", "-man", "-ww", "-z", page)
        t.ok(r.returncode == 0 and not (r.stdout + r.stderr).strip(),
             "%s: groff -ww -z says nothing" % name, r.stdout + r.stderr)
    else:
        t.skip("%s: groff -ww -z" % name, "no groff")
    if shutil.which("man"):
        r = run("man", "-l", page)
        title = re.sub(r"\..*", "", name).upper()
        t.ok(r.returncode == 0 and r.stdout.startswith(title) and not r.stderr.strip(),
             "%s: man -l renders it" % name, r.stderr)
    else:
        t.skip("%s: man -l" % name, "no man")
t.exit()
