#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Checker for QREC record files (tools/vm/recwriter.c, examples/recwriter).

A record is 64 bytes, little-endian:

    0  magic[4]  b"QREC"
    4  u32 type  0 data, 1 freeze, 2 thaw, 3 start
    8  u64 seq   0, 1, 2, ... contiguous across all types
   16  u64 time_ns  CLOCK_REALTIME
   24  payload[36]  payload[i] = (seq + i) & 0xff
   60  u32 crc32    zlib.crc32 of bytes 0..59

Used as a module by vmtest.py, and on its own:

    qrec.py FILE           summary of a record file, exit 1 if it is not valid
    qrec.py --selftest     TAP: the checker must reject torn and inconsistent files
"""

import struct
import sys
import zlib
from collections import namedtuple

REC_SIZE = 64
DATA, FREEZE, THAW, START = 0, 1, 2, 3
TYPE_NAMES = {DATA: "data", FREEZE: "freeze", THAW: "thaw", START: "start"}
MAX_ERRORS = 8

Record = namedtuple("Record", "index type seq time_ns raw")


def make_record(rtype, seq, time_ns):
    """The bytes of one valid record (for the self-test and synthetic files)."""
    head = struct.pack("<4sIQQ", b"QREC", rtype, seq, time_ns)
    payload = bytes((seq + i) & 0xFF for i in range(36))
    body = head + payload
    return body + struct.pack("<I", zlib.crc32(body))


def parse(data):
    """Parse and validate a record file.

    Returns (records, errors): every whole 64-byte slot as a Record (valid or not),
    and a list of error strings (empty when the file is valid). Valid means: the size
    is a multiple of 64, and every record has the magic, a known type, the payload,
    the CRC, and seq == its index (so seq runs 0, 1, 2, ... with no gap)."""
    errors = []
    bad = 0
    if len(data) % REC_SIZE:
        errors.append("size %d is not a multiple of %d: a torn record of %d bytes at the end"
                      % (len(data), REC_SIZE, len(data) % REC_SIZE))
    records = []
    for index in range(len(data) // REC_SIZE):
        raw = data[index * REC_SIZE:(index + 1) * REC_SIZE]
        magic, rtype, seq, time_ns = struct.unpack_from("<4sIQQ", raw)
        (crc,) = struct.unpack_from("<I", raw, 60)
        problems = []
        if magic != b"QREC":
            problems.append("bad magic %r" % magic)
        if rtype not in TYPE_NAMES:
            problems.append("bad type %d" % rtype)
        if zlib.crc32(raw[:60]) != crc:
            problems.append("bad crc")
        if raw[24:60] != bytes((seq + i) & 0xFF for i in range(36)):
            problems.append("bad payload")
        if not problems and seq != index:
            problems.append("seq %d where %d was expected" % (seq, index))
        if problems:
            bad += 1
            if bad <= MAX_ERRORS:
                errors.append("record %d (offset %d): %s" % (index, index * REC_SIZE,
                                                            ", ".join(problems)))
        records.append(Record(index, rtype, seq, time_ns, raw))
    if bad > MAX_ERRORS:
        errors.append("... %d bad records in all" % bad)
    return records, errors


def check_frozen(data):
    """Checks of a copy taken while the guest was frozen. Returns (records, errors).

    The file must be valid, start with a start record, hold at least one data record,
    and end with a freeze record: the app wrote its freeze record, made it durable
    and then held every write until THAW."""
    records, errors = parse(data)
    if errors:
        return records, errors
    if not records:
        return records, ["no records"]
    if records[0].type != START:
        errors.append("first record is %s, not start" % TYPE_NAMES[records[0].type])
    if not any(r.type == DATA for r in records):
        errors.append("no data record before the freeze")
    last = records[-1]
    if last.type != FREEZE:
        freezes = [r.index for r in records if r.type == FREEZE]
        errors.append("last record (%d) is %s, not freeze%s"
                      % (last.index, TYPE_NAMES[last.type],
                         "; freeze record(s) at %s" % freezes if freezes else "; no freeze record"))
    return records, errors


def check_prefix(frozen_records, data):
    """The file must be valid and the frozen copy a byte-exact prefix of it.
    Returns (records, errors)."""
    records, errors = parse(data)
    if errors:
        return records, errors
    n = len(frozen_records)
    if n == 0:
        return records, ["the frozen copy has no records"]
    if len(records) < n:
        return records, ["%d records, fewer than the frozen copy's %d" % (len(records), n)]
    for fr, lr in zip(frozen_records, records):
        if fr.raw != lr.raw:
            return records, ["record %d differs from the frozen copy's" % fr.index]
    return records, []


def check_live(frozen_records, data):
    """Checks of the disk after the test (the guest shut down cleanly).

    The file must be valid; the frozen copy must be a byte-exact prefix of it; and the
    record right after the frozen copy's freeze record must be a thaw record no older
    than the freeze record (the app held its writes from FREEZE to THAW).
    Returns (records, errors)."""
    records, errors = check_prefix(frozen_records, data)
    if errors:
        return records, errors
    n = len(frozen_records)
    if len(records) == n:
        return records, ["no record after the freeze record %d (no thaw record)" % (n - 1)]
    nxt = records[n]
    if nxt.type != THAW:
        thaws = [r.index for r in records[n:] if r.type == THAW]
        errors.append("record %d after the freeze record is %s, not thaw (writes were not held%s)"
                      % (nxt.index, TYPE_NAMES[nxt.type],
                         "; thaw at %s" % thaws[:3] if thaws else "; no thaw record"))
    elif nxt.time_ns < frozen_records[-1].time_ns:
        errors.append("thaw record %d is older than the freeze record" % nxt.index)
    return records, errors


def check_holds(records):
    """Every freeze record is followed at once by a thaw record no older than it (each
    hold lasted from FREEZE to THAW). Returns a list of errors."""
    errors = []
    for r in records:
        if r.type != FREEZE:
            continue
        if r.index + 1 >= len(records):
            errors.append("freeze record %d is the last record (no thaw)" % r.index)
            continue
        nxt = records[r.index + 1]
        if nxt.type != THAW:
            errors.append("freeze record %d is followed by a %s record, not thaw"
                          % (r.index, TYPE_NAMES[nxt.type]))
        elif nxt.time_ns < r.time_ns:
            errors.append("thaw record %d is older than the freeze record" % nxt.index)
    return errors


def summary(records):
    counts = {}
    for r in records:
        counts[TYPE_NAMES.get(r.type, "?")] = counts.get(TYPE_NAMES.get(r.type, "?"), 0) + 1
    marks = ["%s@%d" % (TYPE_NAMES[r.type], r.index) for r in records
             if r.type in (FREEZE, THAW, START)]
    return "%d records (%s); %s" % (len(records), ", ".join(
        "%s %d" % kv for kv in sorted(counts.items())), " ".join(marks[:12]) or "no markers")


# ---------------------------------------------------------------- self-test


def synthetic(n_before=50, n_after=20, t0=1_700_000_000_000_000_000):
    """A good (frozen, live) pair: start, data..., freeze | thaw, data..."""
    seq = 0
    recs = []

    def add(rtype):
        nonlocal seq
        recs.append(make_record(rtype, seq, t0 + seq * 5_000_000))
        seq += 1

    add(START)
    for _ in range(n_before):
        add(DATA)
    add(FREEZE)
    frozen = b"".join(recs)
    add(THAW)
    for _ in range(n_after):
        add(DATA)
    return frozen, b"".join(recs)


def selftest(tap):
    """Each case must pass the checker, or fail it for the stated reason (TAP via tap.ok)."""
    frozen, live = synthetic()
    n = len(frozen) // REC_SIZE
    fr_recs, _ = parse(frozen)

    def rec(i, data):
        return data[i * REC_SIZE:(i + 1) * REC_SIZE]

    def with_rec(data, i, new):
        return data[:i * REC_SIZE] + new + data[(i + 1) * REC_SIZE:]

    def flip(data, offset):
        return data[:offset] + bytes([data[offset] ^ 1]) + data[offset + 1:]

    def reseal(body60):  # a record body with a correct crc
        return body60 + struct.pack("<I", zlib.crc32(body60))

    def expect(name, errors, want):
        """want: True (must pass) or a substring the first error must contain."""
        if want is True:
            tap.ok(not errors, "checker accepts " + name, "errors: %s" % errors)
        else:
            tap.ok(errors and want in errors[0], "checker rejects " + name,
                   "want an error with %r, got: %s" % (want, errors))

    bad_payload = reseal(flip(rec(10, frozen), 30)[:60])
    half = bytearray(rec(n - 1, frozen))
    half[32:] = bytes(32)
    frozen_cases = [
        ("a good frozen copy", frozen, True),
        ("a torn tail (size not a multiple of 64)", frozen + rec(n - 1, live)[:20], "not a multiple"),
        ("a record cut short at the end", frozen[:-20], "not a multiple"),
        ("a half-written last record (zeros, bad crc)", with_rec(frozen, n - 1, bytes(half)), "bad crc"),
        ("a zero-filled block in the middle (unflushed page)",
         frozen[:1024] + bytes(4096) + frozen[1024 + 4096:], "bad magic"),
        ("a wrong payload with a recomputed crc", with_rec(frozen, 10, bad_payload), "bad payload"),
        ("a flipped bit (crc)", flip(frozen, 5 * REC_SIZE + 40), "bad crc"),
        ("a bad magic (crc recomputed)", with_rec(frozen, 7, reseal(b"QREX" + rec(7, frozen)[4:60])),
         "bad magic"),
        ("a seq gap (one record missing)", frozen[:20 * REC_SIZE] + frozen[21 * REC_SIZE:], "seq 21 where 20"),
        ("a duplicated record", frozen[:21 * REC_SIZE] + rec(20, frozen) + frozen[21 * REC_SIZE:], "seq 20 where 21"),
        ("a data record after the freeze record (writes not held)",
         frozen + make_record(DATA, n, 1), "is data, not freeze"),
        ("no freeze record (the app never saw FREEZE)", frozen[:-REC_SIZE], "no freeze record"),
        ("an empty file", b"", "no records"),
    ]
    for name, data, want in frozen_cases:
        expect(name, check_frozen(data)[1], want)

    t_freeze = fr_recs[-1].time_ns
    live_cases = [
        ("a good live disk", live, True),
        ("a live disk with a data record between freeze and thaw",
         frozen + make_record(DATA, n, t_freeze + 1) + make_record(THAW, n + 1, t_freeze + 2), "not held"),
        ("a live disk with no thaw record",
         frozen + b"".join(make_record(DATA, n + i, t_freeze + i) for i in range(5)), "no thaw record"),
        ("a live disk that ends at the freeze record", frozen, "no record after"),
        ("a live disk whose early record differs from the frozen copy",
         with_rec(live, 3, make_record(DATA, 3, 42)), "differs"),
        ("a thaw record older than the freeze record",
         frozen + make_record(THAW, n, t_freeze - 1), "older"),
        ("a torn live disk", live[:-7], "not a multiple"),
    ]
    for name, data, want in live_cases:
        expect(name, check_live(fr_recs, data)[1], want)

    # A second freeze cycle later in the live file: every freeze must be followed by
    # its thaw.
    m = len(live) // REC_SIZE
    t_end = t_freeze + 10_000_000_000
    twice = live + make_record(FREEZE, m, t_end) + make_record(THAW, m + 1, t_end + 1)
    holds_cases = [
        ("two holds, each freeze followed by its thaw", twice, True),
        ("a second freeze followed by data", live + make_record(FREEZE, m, t_end)
         + make_record(DATA, m + 1, t_end + 1), "followed by a data record"),
        ("a second freeze as the last record", live + make_record(FREEZE, m, t_end), "no thaw"),
    ]
    for name, data, want in holds_cases:
        expect(name + " (holds)", check_holds(parse(data)[0]), want)


class _Tap:
    def __init__(self):
        self.n = 0
        self.failed = 0

    def ok(self, cond, name, diag=None):
        self.n += 1
        print("%s %d - %s" % ("ok" if cond else "not ok", self.n, name), flush=True)
        if not cond:
            self.failed += 1
            if diag:
                for line in str(diag).splitlines():
                    print("# " + line)
        return cond


def main(argv):
    if len(argv) == 2 and argv[1] == "--selftest":
        tap = _Tap()
        selftest(tap)
        print("1..%d" % tap.n)
        return 1 if tap.failed else 0
    if len(argv) != 2 or argv[1].startswith("-"):
        print(__doc__.strip().split("\n\n")[-1], file=sys.stderr)
        return 2
    with open(argv[1], "rb") as f:
        data = f.read()
    records, errors = parse(data)
    print(summary(records))
    for e in errors:
        print("error: " + e)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
