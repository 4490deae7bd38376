# SPDX-License-Identifier: MIT
# Unit tests: one cmocka binary per module, printing TAP (tests/unit/test_<module>.c).
# The one rule for all of them; a fragment read before this one (mk/agents.mk,
# mk/group.mk) declares its own with UNIT_TESTS += NAME, UNIT_SRC_NAME, UNIT_LIBS_NAME
# (and UNIT_WRAP_NAME: linker --wrap options for that test alone).
#
# Each links its own object with just the objects of the code under test, so a test
# binary shows what the module depends on. The objects come from the top Makefile's
# $(BUILD)/obj/%.o rule, and are the same ones the programs link (SANITIZE=1 included).

UNIT_TESTS += mountinfo policy util loop guardpath workpool hookpath hookrecord qgaproto qgaback \
	slots jsontext admit listener engine registry jsonconn cmd hooks guardwire

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
# The binary is also its own stand-in qemu-ga (run with qemu-ga's arguments: fakeqga.c).
UNIT_SRC_qgaback   := src/host/qgaback.c src/host/qgaconf.c src/host/qgaproto.c src/common/loop.c \
	src/common/log.c src/common/nodump.c \
	src/common/util.c tests/unit/unitloop.c tests/unit/fakeqga.c
UNIT_SRC_engine    := $(wildcard src/engine/*.c) src/common/loop.c src/common/log.c src/common/util.c \
	tests/unit/unitloop.c
UNIT_SRC_slots     := src/common/slots.c
UNIT_SRC_guardwire := src/common/guardwire.c
UNIT_SRC_jsontext  := src/host/jsontext.c
UNIT_SRC_admit     := src/apps/admit.c src/common/slots.c
UNIT_SRC_listener  := src/host/listener.c src/common/loop.c src/common/log.c src/common/util.c
# All of src/apps/ but the engine: the test plays it (engine_stage_done).
UNIT_SRC_registry  := $(wildcard src/apps/*.c) src/common/slots.c src/common/appwire.c \
	src/common/appfslist.c src/common/loop.c src/common/log.c src/common/util.c
UNIT_SRC_jsonconn  := src/host/jsonconn.c src/host/jsontext.c src/common/loop.c src/common/log.c \
	src/common/util.c
# The engine faked (tests/unit/fakeengine.c: every error class, nothing frozen).
UNIT_SRC_cmd       := src/host/cmd.c src/host/cmd_control.c src/host/cmd_guest.c \
	src/host/jsonconn.c src/host/jsontext.c src/common/loop.c src/common/log.c src/common/util.c \
	tests/unit/fakeengine.c
# The hooks runner: the stage with real scripts; the engine faked in the test.
UNIT_SRC_hooks     := src/hooks/hooks.c src/hooks/hookproc.c src/hooks/hookpath.c \
	src/hooks/hookrecord.c src/hooks/hookrestart.c src/common/loop.c src/common/log.c \
	src/common/nodump.c src/common/util.c

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
UNIT_LIBS_guardwire :=
UNIT_LIBS_jsontext  := -ljson-c
UNIT_LIBS_admit     :=
UNIT_LIBS_listener  := -lm
UNIT_LIBS_registry  := -ljson-c -lm
UNIT_LIBS_jsonconn  := -ljson-c -lm
UNIT_LIBS_cmd       := -ljson-c -lm
UNIT_LIBS_hooks     := -ljson-c -lm

# Every unit test links the guard against a hang (tests/unit/unitguard.h) and the
# allocation failure injection (tests/unit/failalloc.h): the
# linker's --wrap sends the calls to malloc & co. through it (it does nothing until a
# test arms it), and a test that links json-c gets the json-c wrappers too.
FAILALLOC_WRAP := -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=strdup,--wrap=strndup \
	-Wl,--wrap=asprintf
FAILALLOC_WRAP_JSON := -Wl,--wrap=json_object_new_object,--wrap=json_object_new_array \
	-Wl,--wrap=json_object_new_string,--wrap=json_object_new_string_len \
	-Wl,--wrap=json_object_new_int,--wrap=json_object_new_int64,--wrap=json_object_new_uint64 \
	-Wl,--wrap=json_object_new_boolean,--wrap=json_object_new_double \
	-Wl,--wrap=json_tokener_new,--wrap=json_tokener_new_ex,--wrap=json_tokener_parse \
	-Wl,--wrap=json_object_to_json_string_ext
unit_json = $(findstring -ljson-c,$(UNIT_LIBS_$(1)))

# The plan cache: a real /proc/self/mountinfo, and a real mount in a namespace of its own.
UNIT_TESTS += plancache
UNIT_SRC_plancache := src/fs/plancache.c src/fs/policy.c src/fs/mountinfo.c src/common/util.c
UNIT_LIBS_plancache := -lm

# quiesced's settings: the command line and the config file (inih).
UNIT_TESTS += config
UNIT_SRC_config := src/daemon/config.c src/daemon/confline.c src/common/util.c
UNIT_LIBS_config := -linih -lm

# The freezer's scheduler: the real workers, loop and order; the ioctls faked. The
# test's own --wrap (UNIT_WRAP_NAME, for that test only) sends ioctl to its script, so
# nothing is frozen: real directories, real open and mount id, FIFREEZE/FITHAW never.
UNIT_TESTS += freezer
UNIT_SRC_freezer := src/fs/freezer.c src/fs/fsjob.c src/fs/workpool.c src/fs/mountid.c \
	src/fs/policy.c src/fs/mountinfo.c src/common/loop.c src/common/log.c src/common/util.c \
	tests/unit/unitloop.c tests/unit/ioctlseam.c
UNIT_LIBS_freezer := -lm -lpthread
UNIT_WRAP_freezer := -Wl,--wrap=ioctl

# The control socket: a real Unix socket in a temp dir, the engine faked
# (tests/unit/fakeengine.c).
UNIT_TESTS += control
UNIT_SRC_control := src/host/control.c src/host/cmd.c src/host/cmd_control.c \
	src/host/jsonconn.c src/host/jsontext.c src/host/listener.c src/common/slots.c \
	src/common/loop.c src/common/log.c src/common/util.c tests/unit/unitloop.c \
	tests/unit/fakeengine.c tests/unit/jsonpeer.c
UNIT_LIBS_control := -ljson-c -lm

# The filesystems stage: the real policy, freezer and workers on a sample mount table
# of directories (fs_stage_mountinfo_path); the engine faked, the ioctls too (as freezer).
UNIT_TESTS += fs_stage
UNIT_SRC_fs_stage := src/fs/fs_stage.c src/fs/freezer.c src/fs/fsjob.c src/fs/workpool.c \
	src/fs/mountid.c src/fs/plancache.c src/fs/leftover.c src/fs/policy.c src/fs/mountinfo.c \
	src/common/loop.c src/common/log.c src/common/util.c tests/unit/unitloop.c \
	tests/unit/ioctlseam.c
UNIT_LIBS_fs_stage := -ljson-c -lm -lpthread
UNIT_WRAP_fs_stage := -Wl,--wrap=ioctl

# The run-dir record of what is frozen: written, read back and thawed, the thaw's
# FITHAW faked (--wrap=ioctl, as for the freezer): real directories, nothing frozen.
UNIT_TESTS += leftover
UNIT_SRC_leftover := src/fs/leftover.c src/fs/mountid.c src/fs/mountinfo.c src/common/log.c \
	src/common/util.c tests/unit/ioctlseam.c tests/unit/capture.c
UNIT_LIBS_leftover := -lm
UNIT_WRAP_leftover := -Wl,--wrap=ioctl

# quiesced's side of the thaw guardian: the binary is its own fake guardian (it hands
# its socket to the test and touches no fd); --wrap=poll lets the test read while
# guard.c waits for room in a full send buffer.
UNIT_TESTS += guard
UNIT_SRC_guard := src/common/guard.c src/common/guardwire.c src/common/loop.c \
	src/common/log.c src/common/util.c tests/unit/unitloop.c
UNIT_LIBS_guard := -lm -lpthread
UNIT_WRAP_guard := -Wl,--wrap=poll

# quiescectl's output: the human text of reports and status, and client.c's --json and
# error printing (stdout/stderr to a temp file); the answers are literals, no daemon.
UNIT_TESTS += output
UNIT_SRC_output := src/cli/output.c src/cli/client.c src/common/util.c tests/unit/capture.c
UNIT_LIBS_output := -ljson-c -lm

# quiescectl's verbs against a stand-in quiesced (tests/unit/fakectl.c: a thread serving
# a real Unix socket in a temp dir, playing a script): main.c (test_cli.c includes it,
# its main renamed), the simple verbs, apps and the client; snapshot (its commands real
# child processes); the qemu-ga hook.
CLI_UNIT_SRC := src/cli/apps.c src/cli/client.c src/cli/hook.c src/cli/opts.c src/cli/output.c \
	src/cli/snapshot.c src/cli/verbs.c src/common/util.c tests/unit/fakectl.c \
	tests/unit/capture.c
UNIT_TESTS += cli snapshot clihook
UNIT_SRC_cli := $(CLI_UNIT_SRC)
UNIT_SRC_snapshot := $(CLI_UNIT_SRC)
UNIT_SRC_clihook := $(CLI_UNIT_SRC)
UNIT_LIBS_cli := -ljson-c -lm -lpthread
UNIT_LIBS_snapshot := -ljson-c -lm -lpthread
UNIT_WRAP_snapshot := -Wl,--wrap=fork
UNIT_LIBS_clihook := -ljson-c -lm -lpthread

# No core dump while frozen: the core limit and dumpable flag, in child processes;
# --wrap=getrlimit,setrlimit lets the test fail them.
UNIT_TESTS += nodump
UNIT_SRC_nodump := src/common/nodump.c src/common/log.c src/common/util.c
UNIT_LIBS_nodump := -lm
UNIT_WRAP_nodump := -Wl,--wrap=getrlimit,--wrap=setrlimit

# The QEMU guest agent transport: the channel on a real Unix socket in a temp dir, the
# command layer, and the forwarding to a qemu-ga backend that is this binary (as in
# test_qgaback, tests/unit/fakeqga.c); the engine faked (tests/unit/fakeengine.c:
# nothing frozen).
UNIT_TESTS += qga
UNIT_SRC_qga := src/host/qga.c src/host/qgafwd.c src/host/qgaback.c src/host/qgaconf.c \
	src/host/qgaproto.c src/host/cmd.c src/host/cmd_guest.c src/host/jsonconn.c \
	src/host/jsontext.c src/host/listener.c src/common/loop.c src/common/log.c \
	src/common/nodump.c src/common/util.c tests/unit/unitloop.c tests/unit/fakeengine.c \
	tests/unit/fakeqga.c tests/unit/jsonpeer.c
UNIT_LIBS_qga := -ljson-c -lm

# The thaw guardian itself (guardian.c: all of quiesce-guardian but main), in a child
# process per case on a real socketpair; FITHAW faked (--wrap=ioctl, as for the
# freezer: directories, nothing frozen), mlockall faked (--wrap=mlockall: nothing locked);
# --wrap=poll,ppoll lets the test send a SIGTERM just as the guardian goes to wait.
UNIT_TESTS += guardian
UNIT_SRC_guardian := src/guardian/guardian.c src/common/guardwire.c tests/unit/ioctlseam.c tests/unit/capture.c
UNIT_LIBS_guardian :=
UNIT_WRAP_guardian := -Wl,--wrap=ioctl,--wrap=mlockall,--wrap=poll,--wrap=ppoll

define UNIT_TEST_RULE
$(BUILD)/tests/test_$(1): $(BUILD)/obj/tests/unit/test_$(1).o \
		$(patsubst %.c,$(BUILD)/obj/%.o,$(UNIT_SRC_$(1)) tests/unit/failalloc.c tests/unit/unitguard.c \
		$(if $(call unit_json,$(1)),tests/unit/failalloc_json.c))
	@mkdir -p $$(dir $$@)
	@$$(if $$(Q),echo "  LD      $$@")
	$$(Q)$$(CC) $$(LDFLAGS) $(FAILALLOC_WRAP) $(UNIT_WRAP_$(1)) $(if $(call unit_json,$(1)),$(FAILALLOC_WRAP_JSON)) \
		-o $$@ $$^ -lcmocka $(UNIT_LIBS_$(1))
endef
$(foreach t,$(UNIT_TESTS),$(eval $(call UNIT_TEST_RULE,$(t))))

TEST_PROGRAMS += $(UNIT_TESTS:%=$(BUILD)/tests/test_%)

.PHONY: unit
# Build and run only the unit tests (no integration tests, no deps check).
unit: $(UNIT_TESTS:%=$(BUILD)/tests/test_%)
	prove $(PROVE_FLAGS) $^
