# SPDX-License-Identifier: MIT
# quiesce-group: the host-side program that freezes several libvirt guests as one
# (src/group/). It alone links libvirt: the daemon's package never pulls it in.
GROUP_SRC := $(wildcard src/group/*.c) src/common/util.c
GROUP_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(GROUP_SRC))
GROUP_LIBS := $(shell pkg-config --libs libvirt libvirt-qemu 2>/dev/null || echo -lvirt -lvirt-qemu) \
	-ljson-c -linih -lpthread -lm

$(BUILD)/obj/src/group/%.o: CPPFLAGS += $(shell pkg-config --cflags libvirt 2>/dev/null)

$(BUILD)/quiesce-group: $(GROUP_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(GROUP_LIBS)

PROGRAMS += $(BUILD)/quiesce-group

# Unit tests of the logic without libvirt: the group's definition, the window and the
# state machine with fake guests (tests/unit/test_g*.c).
# (The rule is mk/unit.mk's.)
UNIT_TESTS += gspec gwindow gmachine
UNIT_SRC_gspec := src/group/gspec.c src/common/util.c
UNIT_SRC_gwindow := src/group/gwindow.c
UNIT_SRC_gmachine := src/group/gmachine.c src/group/gwindow.c src/group/gagent.c \
	src/group/greport.c src/group/gspec.c src/common/util.c
UNIT_LIBS_gspec := -ljson-c -linih -lpthread -lm
UNIT_LIBS_gwindow := -ljson-c -linih -lpthread -lm
UNIT_LIBS_gmachine := -ljson-c -linih -lpthread -lm
# The report (text, JSON) of runs built by hand: every time known, no threads.
UNIT_TESTS += greport
UNIT_SRC_greport := src/group/greport.c src/group/gmachine.c src/group/gwindow.c \
	src/group/gspec.c src/common/util.c
UNIT_LIBS_greport := -ljson-c -linih -lpthread -lm

# guest-info's shapes at their edges (test_gmachine.c has the common ones), out of memory.
UNIT_TESTS += gagent
UNIT_SRC_gagent := src/group/gagent.c
UNIT_LIBS_gagent := -ljson-c
# The user's command while the group is frozen: real sh, its environment, exit status,
# signals, the hold limit and a stop (its process group killed).
UNIT_TESTS += gcmd
UNIT_SRC_gcmd := src/group/gcmd.c src/group/gspec.c src/common/util.c tests/unit/capture.c
UNIT_LIBS_gcmd := -linih -lpthread -lm
# The libvirt side on libvirt's test driver (test:///default: in libvirt.so, no daemon,
# no VM); --wrap answers for the guest agent (the test driver has none) and sees the
# snapshot's flags.
UNIT_TESTS += gvirt
UNIT_SRC_gvirt := src/group/gvirt.c src/group/gagent.c src/group/gspec.c src/common/util.c
UNIT_LIBS_gvirt := $(GROUP_LIBS)
UNIT_WRAP_gvirt := -Wl,--wrap=virDomainQemuAgentCommand,--wrap=virDomainSnapshotCreateXML
# main.c (included by the test, its main renamed, run in child processes): options, the
# state file, the thaw verb, exit statuses, on the test driver; --wrap as for gvirt.
UNIT_TESTS += gmain
UNIT_SRC_gmain := $(filter-out src/group/main.c,$(GROUP_SRC)) tests/unit/capture.c
UNIT_LIBS_gmain := $(GROUP_LIBS)
UNIT_WRAP_gmain := -Wl,--wrap=virDomainQemuAgentCommand,--wrap=virDomainFSThaw

# The config file (also the state file): inih, from memory.
FUZZ_TARGETS += gspec
FUZZ_SRC_gspec := src/group/gspec.c src/common/util.c
FUZZ_LIBS_gspec := -linih -lm

# make install: the program (its man page goes with every man/*.[1-8], mk/install.mk).
.PHONY: install-group uninstall-group
installable: $(BUILD)/quiesce-group
install: install-group
install-group: $(BUILD)/quiesce-group
	$(INSTALL) -d $(DESTDIR)$(BINDIR)
	$(INSTALL) -m 0755 $(BUILD)/quiesce-group $(DESTDIR)$(BINDIR)/quiesce-group
uninstall: uninstall-group
uninstall-group:
	rm -f $(DESTDIR)$(BINDIR)/quiesce-group
