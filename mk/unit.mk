# Unit tests: one cmocka binary per module, printing TAP (tests/unit/test_<module>.c).
# The one rule for all of them; a fragment read before this one (mk/agents.mk,
# mk/group.mk) declares its own with UNIT_TESTS += NAME, UNIT_SRC_NAME, UNIT_LIBS_NAME.
#
# Each links its own object with just the objects of the code under test, so a test
# binary shows what the module depends on. The objects come from the top Makefile's
# $(BUILD)/obj/%.o rule, and are the same ones the programs link (SANITIZE=1 included).

UNIT_TESTS += mountinfo policy util loop guardpath workpool hookpath hookrecord qgaproto qgaback \
	slots jsontext admit listener engine

UNIT_SRC_mountinfo := src/fs/mountinfo.c
UNIT_SRC_policy    := src/fs/policy.c src/fs/mountinfo.c src/common/util.c
UNIT_SRC_util      := src/common/util.c
# log.c for fatal() (the timer heap's out-of-memory exit).
UNIT_SRC_loop      := src/common/loop.c src/common/log.c src/common/util.c
UNIT_SRC_guardpath := src/daemon/guardpath.c
UNIT_SRC_workpool  := src/fs/workpool.c src/common/loop.c src/common/log.c src/common/util.c
UNIT_SRC_hookpath  := src/hooks/hookpath.c src/common/util.c
UNIT_SRC_hookrecord := src/hooks/hookrecord.c src/common/util.c

UNIT_SRC_qgaproto  := src/host/qgaproto.c
# The binary is also its own stand-in qemu-ga (run with qemu-ga's arguments).
UNIT_SRC_qgaback   := src/host/qgaback.c src/host/qgaconf.c src/host/qgaproto.c src/common/loop.c \
	src/common/log.c src/common/nodump.c \
	src/common/util.c
UNIT_SRC_engine    := src/engine/txn.c src/common/loop.c src/common/log.c src/common/util.c
UNIT_SRC_slots     := src/common/slots.c
UNIT_SRC_jsontext  := src/host/jsontext.c
UNIT_SRC_admit     := src/apps/admit.c src/common/slots.c
UNIT_SRC_listener  := src/host/listener.c src/common/loop.c src/common/log.c src/common/util.c

UNIT_LIBS_mountinfo :=
UNIT_LIBS_policy    := -lm
UNIT_LIBS_util      := -lm
UNIT_LIBS_loop      := -lm
UNIT_LIBS_guardpath :=
UNIT_LIBS_workpool  := -lm -lpthread
UNIT_LIBS_hookpath  := -lm
UNIT_LIBS_hookrecord := -lm
UNIT_LIBS_qgaproto  := -ljson-c
UNIT_LIBS_qgaback   := -ljson-c -lm
UNIT_LIBS_engine    := -ljson-c -lm
UNIT_LIBS_slots     :=
UNIT_LIBS_jsontext  := -ljson-c
UNIT_LIBS_admit     :=
UNIT_LIBS_listener  := -lm

# The plan cache: a real /proc/self/mountinfo, and a real mount in a namespace of its own.
UNIT_TESTS += plancache
UNIT_SRC_plancache := src/fs/plancache.c src/fs/policy.c src/fs/mountinfo.c src/common/util.c
UNIT_LIBS_plancache := -lm

define UNIT_TEST_RULE
$(BUILD)/tests/test_$(1): $(BUILD)/obj/tests/unit/test_$(1).o \
		$(patsubst %.c,$(BUILD)/obj/%.o,$(UNIT_SRC_$(1)))
	@mkdir -p $$(dir $$@)
	@$$(if $$(Q),echo "  LD      $$@")
	$$(Q)$$(CC) $$(LDFLAGS) -o $$@ $$^ -lcmocka $(UNIT_LIBS_$(1))
endef
$(foreach t,$(UNIT_TESTS),$(eval $(call UNIT_TEST_RULE,$(t))))

TEST_PROGRAMS += $(UNIT_TESTS:%=$(BUILD)/tests/test_%)

.PHONY: unit
# Build and run only the unit tests (no integration tests, no deps check).
unit: $(UNIT_TESTS:%=$(BUILD)/tests/test_%)
	prove $(PROVE_FLAGS) $^
