# SPDX-License-Identifier: MIT
# Fuzzing: one libFuzzer target per parser or decoder (tests/fuzz/README.md).
#
# A target NAME is tests/fuzz/fuzz_NAME.c (it defines LLVMFuzzerTestOneInput), its seed
# corpus tests/fuzz/corpus/NAME/, an optional dictionary tests/fuzz/NAME.dict, and two
# lines in any fragment:
#
#   FUZZ_TARGETS += NAME
#   FUZZ_SRC_NAME := the sources under test      (FUZZ_LIBS_NAME := -l... if needed,
#                                                 FUZZ_OPTS_NAME := libFuzzer options)
#
# The top Makefile makes FUZZ_RULES for each, once every fragment is read:
#
#   $(BUILD)/tests/fuzz_NAME  $(CC) build with tests/fuzz/replay.c as main: replays the
#                             corpus and prints TAP; run by `make check` (and under
#                             ASan+UBSan by `make check SANITIZE=1`)
#   $(BUILD)/fuzz/fuzz_NAME   the libFuzzer binary: clang -fsanitize=fuzzer,address,undefined
#
#   make fuzz                 run every target for FUZZ_SECONDS (default 60), one after
#                             the other, each on its work corpus $(BUILD)/fuzz/work/NAME/
#                             (a copy of the tree's corpus plus whatever earlier runs
#                             found); a crash stops it, its input is in
#                             $(BUILD)/fuzz/artifacts/NAME/
#   make fuzz-NAME            only that target
#   make fuzz-build           only build the libFuzzer binaries
#   make fuzz-merge           merge what the work corpora found that reaches new edges
#                             into tests/fuzz/corpus/ (libFuzzer -merge=1, -use_counters=0:
#                             new hit counts alone do not count); never done otherwise
#   make fuzz-coverage        line and function coverage of the code under test (llvm-cov)
#                             by the tree's and the work corpus; fuzz-coverage-NAME
#   FUZZ_ARGS=...             more libFuzzer options, e.g. FUZZ_ARGS=-jobs=2

FUZZ_CC      ?= clang
FUZZ_DIR     := $(BUILD)/fuzz
FUZZ_SECONDS ?= 60
FUZZ_ARGS    ?=
# Objects get coverage instrumentation without libFuzzer's main; the link adds it.
FUZZ_CFLAGS  := -g -O1 -fno-omit-frame-pointer -fno-sanitize-recover=all \
                -fsanitize=fuzzer-no-link,address,undefined
FUZZ_LDFLAGS := -fsanitize=fuzzer,address,undefined
# make fuzz-coverage: the replay programs built for source-based coverage.
FUZZ_COV_FLAGS := -O0 -g -fprofile-instr-generate -fcoverage-mapping
LLVM_PROFDATA ?= llvm-profdata
LLVM_COV      ?= llvm-cov

# appwire: the app socket's wire format (libquiesce and the daemon).
FUZZ_TARGETS += appwire
FUZZ_SRC_appwire := src/common/appwire.c src/common/appfslist.c
# guardwire: quiesced <-> thaw guardian messages.
FUZZ_TARGETS += guardwire
FUZZ_SRC_guardwire := src/common/guardwire.c
# mountinfo: /proc/self/mountinfo and the freeze plan made from it.
FUZZ_TARGETS += mountinfo
FUZZ_SRC_mountinfo := src/fs/mountinfo.c src/fs/policy.c src/common/util.c
FUZZ_LIBS_mountinfo := -lm
# config: quiesced's config file (inih), from memory.
FUZZ_TARGETS += config
FUZZ_SRC_config := src/daemon/config.c src/daemon/confline.c src/common/util.c
FUZZ_LIBS_config := -linih -lm
# json: the JSON command layer behind the control and QGA sockets (no src/fs: nothing
# can be frozen).
FUZZ_TARGETS += json
FUZZ_SRC_json := src/host/jsonconn.c src/host/jsontext.c src/host/listener.c src/host/cmd.c \
	src/host/cmd_control.c src/host/cmd_guest.c \
	src/host/control.c src/host/qga.c src/host/qgafwd.c src/host/qgaback.c src/host/qgaconf.c \
	src/host/qgaproto.c \
	$(wildcard src/engine/*.c) src/common/loop.c src/common/log.c src/common/nodump.c \
	src/common/slots.c src/common/util.c
FUZZ_LIBS_json := -ljson-c -lm
$(if $(filter src/fs/%,$(FUZZ_SRC_json)),$(error fuzz_json must never link src/fs/ (FIFREEZE)))
# Its corpus has 64 KiB inputs (the size limits) for the replay, but each input costs
# about 40 us per answer (a line of garbage is one per byte): fuzz short ones.
FUZZ_OPTS_json := -max_len=2048
# jsonconn: the framing alone, with small limits set by the input.
FUZZ_TARGETS += hookrecord
FUZZ_SRC_hookrecord := src/hooks/hookrecord.c src/common/util.c
FUZZ_LIBS_hookrecord := -lm
FUZZ_TARGETS += jsonconn
FUZZ_SRC_jsonconn := src/host/jsonconn.c src/host/jsontext.c src/common/loop.c src/common/log.c src/common/util.c
FUZZ_LIBS_jsonconn := -ljson-c -lm

# qgaproto: what the qemu-ga backend sends quiesced (lines, answers, guest-info).
FUZZ_TARGETS += qgaproto
FUZZ_SRC_qgaproto := src/host/qgaproto.c
FUZZ_LIBS_qgaproto := -ljson-c

$(FUZZ_DIR)/obj/%.o: %.c | $(PATHS_H)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC [fuzz] $<")
	$(Q)$(FUZZ_CC) $(CSTD) $(WARN) $(FUZZ_CFLAGS) $(CPPFLAGS) -MMD -MP \
	    -DQUIESCE_VERSION='"$(VERSION)"' -c -o $@ $<

define FUZZ_RULES
$(BUILD)/obj/tests/fuzz/replay_$(1).o: tests/fuzz/replay.c
	@mkdir -p $$(dir $$@)
	@$$(if $$(Q),echo "  CC      $$< ($(1))")
	$$(Q)$$(CC) $$(ALL_CFLAGS) -DFUZZ_CORPUS='"$(abspath tests/fuzz/corpus/$(1))"' -c -o $$@ $$<

$(BUILD)/tests/fuzz_$(1): $(BUILD)/obj/tests/fuzz/fuzz_$(1).o $(BUILD)/obj/tests/fuzz/replay_$(1).o \
		$(patsubst %.c,$(BUILD)/obj/%.o,$(FUZZ_SRC_$(1)))
	@mkdir -p $$(dir $$@)
	@$$(if $$(Q),echo "  LD      $$@")
	$$(Q)$$(CC) $$(LDFLAGS) -o $$@ $$^ $(FUZZ_LIBS_$(1))

$(FUZZ_DIR)/fuzz_$(1): $(patsubst %.c,$(FUZZ_DIR)/obj/%.o,tests/fuzz/fuzz_$(1).c $(FUZZ_SRC_$(1)))
	@$$(if $$(Q),echo "  LD [fuzz] $$@")
	$$(Q)$$(FUZZ_CC) $$(FUZZ_LDFLAGS) -o $$@ $$^ $(FUZZ_LIBS_$(1))

.PHONY: fuzz-$(1)
fuzz-$(1): $(FUZZ_DIR)/fuzz_$(1)
	tests/fuzz/run-fuzz $(1) $(FUZZ_DIR) $$(FUZZ_SECONDS) $(FUZZ_OPTS_$(1)) $$(FUZZ_ARGS)

fuzz-build: $(FUZZ_DIR)/fuzz_$(1)
fuzz: fuzz-$(1)
TEST_PROGRAMS += $(BUILD)/tests/fuzz_$(1)

$(FUZZ_DIR)/cov/fuzz_$(1): tests/fuzz/fuzz_$(1).c tests/fuzz/replay.c $(FUZZ_SRC_$(1)) | $(PATHS_H)
	@mkdir -p $$(dir $$@)
	$$(Q)$$(FUZZ_CC) $$(CSTD) $$(FUZZ_COV_FLAGS) $$(CPPFLAGS) -DQUIESCE_VERSION='"$$(VERSION)"' \
	    -DFUZZ_CORPUS='"$(abspath tests/fuzz/corpus/$(1))"' -o $$@ $$^ $(FUZZ_LIBS_$(1))

.PHONY: fuzz-coverage-$(1)
fuzz-coverage-$(1): $(FUZZ_DIR)/cov/fuzz_$(1)
	@rm -f $(FUZZ_DIR)/cov/$(1).profraw
	@LLVM_PROFILE_FILE=$(FUZZ_DIR)/cov/$(1).profraw $$< tests/fuzz/corpus/$(1) \
	    $$$$(test -d $(FUZZ_DIR)/work/$(1) && echo $(FUZZ_DIR)/work/$(1)) >/dev/null 2>&1 || true
	@$$(LLVM_PROFDATA) merge -o $(FUZZ_DIR)/cov/$(1).profdata $(FUZZ_DIR)/cov/$(1).profraw
	@echo "fuzz-coverage: $(1) (tree and work corpus)"
	@$$(LLVM_COV) report $$< -instr-profile=$(FUZZ_DIR)/cov/$(1).profdata $(FUZZ_SRC_$(1))
fuzz-coverage: fuzz-coverage-$(1)
endef

.PHONY: fuzz fuzz-build fuzz-merge fuzz-coverage
# `make fuzz` runs the targets one after the other (they share the machine), unless -j.
fuzz:
	@echo "fuzz: summary (last status line of each target):"
	@for t in $(FUZZ_TARGETS); do \
		printf '  %-10s %s\n' "$$t" "$$(grep -a '^#[0-9]*	DONE' $(FUZZ_DIR)/log/$$t.log 2>/dev/null | tail -n 1)"; \
	done

fuzz-merge: fuzz-build
	@for t in $(FUZZ_TARGETS); do \
		[ -d $(FUZZ_DIR)/work/$$t ] || continue; \
		echo "fuzz-merge: $$t"; \
		$(FUZZ_DIR)/fuzz_$$t -merge=1 -use_counters=0 tests/fuzz/corpus/$$t $(FUZZ_DIR)/work/$$t \
			|| exit 1; \
	done
