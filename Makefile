# quiesce: top-level build.
#
#   make                 build everything into build/
#   make check           build and run the whole test suite (installs Debian packages it lacks)
#   make check SANITIZE=1  the same under ASan+UBSan, built into build/sanitize/
#   make demo            freeze two scratch filesystems through quiesced and show what happened
#   make fuzz            run every fuzz target for FUZZ_SECONDS (tests/fuzz/README.md)
#   make ci              what .ci/run runs: check, check SANITIZE=1, valgrind, fuzz replay
#   make bench           the freeze benchmark, as root (bench/README.md, bench/RESULTS.md)
#
# Each area of the tree adds its programs and tests in a fragment under mk/ (see
# docs/hacking.md); this file holds only the shared flags and rules.

BUILD ?= build
ifeq ($(SANITIZE),1)
BUILD := build/sanitize
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
endif

CC      ?= cc
CSTD    := -std=c11 -D_GNU_SOURCE
WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wpointer-arith -Wformat=2 -Wno-format-nonliteral
CFLAGS  ?= -O2 -g
CPPFLAGS += -Iinclude -Isrc
ALL_CFLAGS = $(CSTD) $(WARN) $(CFLAGS) $(SAN_FLAGS) $(CPPFLAGS) -MMD -MP
LDFLAGS += $(SAN_FLAGS)

VERSION := 0.1.0

# Filled in by the fragments.
PROGRAMS :=
LIBRARIES :=
TEST_PROGRAMS :=
FUZZ_TARGETS :=

.PHONY: all check demo ci deps clean
all:

# V=1 shows the full commands.
ifeq ($(V),1)
Q :=
else
Q := @
endif

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) -DQUIESCE_VERSION='"$(VERSION)"' -c -o $@ $<

# Position-independent objects for the shared library.
$(BUILD)/pic/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC [pic] $<")
	$(Q)$(CC) $(ALL_CFLAGS) -fPIC -fvisibility=hidden -DQUIESCE_VERSION='"$(VERSION)"' -c -o $@ $<

include $(sort $(wildcard mk/*.mk))
# The rules of every fuzz target the fragments declared (mk/fuzz.mk).
$(foreach t,$(FUZZ_TARGETS),$(eval $(call FUZZ_RULES,$(t))))

all: $(PROGRAMS) $(LIBRARIES)

deps:
	scripts/deps.sh

# The suite: unit tests (TAP binaries) and integration tests (TAP scripts), run by prove.
check: deps all $(TEST_PROGRAMS)
	QUIESCE_BUILD=$(abspath $(BUILD)) SANITIZE=$(SANITIZE) tests/run-suite

demo: deps all
	QUIESCE_BUILD=$(abspath $(BUILD)) scripts/demo.py

ci: deps
	scripts/ci.sh

clean:
	rm -rf build

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
