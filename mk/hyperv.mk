# SPDX-License-Identifier: MIT
# The Hyper-V channel's message encoding (src/host/hvwire.c; the adapter itself is part
# of quiesced, mk/daemon.mk): its unit test and its fuzz target (mk/fuzz.mk builds
# it: build/tests/fuzz_hvwire replays the corpus, make fuzz-hvwire fuzzes).

# (The rule is mk/unit.mk's.)
UNIT_TESTS += hvwire
UNIT_SRC_hvwire := src/host/hvwire.c

# hvwire: what /dev/vmbus/hv_vss (or hvsim) sends.
FUZZ_TARGETS += hvwire
FUZZ_SRC_hvwire := src/host/hvwire.c

# The adapter (hyperv.c: requests, answers, budgets) and its channel (hvchan.c): the
# channel is a Unix SOCK_SEQPACKET socket in a temp dir (the test is the kernel's
# side), the engine faked (tests/unit/fakeengine.c): nothing is frozen.
UNIT_TESTS += hyperv
UNIT_SRC_hyperv := src/host/hyperv.c src/host/hvchan.c src/host/hvwire.c src/common/loop.c \
	src/common/log.c src/common/util.c tests/unit/unitloop.c tests/unit/fakeengine.c
UNIT_LIBS_hyperv := -ljson-c -lm
