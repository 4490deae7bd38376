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
