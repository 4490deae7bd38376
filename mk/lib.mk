# The app socket's wire format: its fuzz target and corpus replay.

# Fuzzing. The target replays its corpus in every test run (a TAP binary with its own
# main); `make fuzz` builds the real libFuzzer binary with clang.
$(BUILD)/obj/tests/fuzz/fuzz_appwire_replay.o: tests/fuzz/fuzz_appwire.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -DFUZZ_REPLAY -DFUZZ_CORPUS='"$(abspath tests/fuzz/corpus/appwire)"' \
	    -c -o $@ $<

$(BUILD)/tests/fuzz_appwire: $(BUILD)/obj/tests/fuzz/fuzz_appwire_replay.o $(BUILD)/obj/src/common/appwire.o
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^

TEST_PROGRAMS += $(BUILD)/tests/fuzz_appwire

FUZZ_CC    ?= clang
FUZZ_FLAGS := -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all

$(BUILD)/fuzz/fuzz_appwire: tests/fuzz/fuzz_appwire.c src/common/appwire.c src/common/appwire.h
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CSTD) $(WARN) $(FUZZ_FLAGS) $(CPPFLAGS) -o $@ tests/fuzz/fuzz_appwire.c \
	    src/common/appwire.c

.PHONY: fuzz
fuzz: $(BUILD)/fuzz/fuzz_appwire

# Unit tests (cmocka, TAP).
CMOCKA_LIBS := $(shell pkg-config --libs cmocka 2>/dev/null || echo -lcmocka)

$(BUILD)/tests/test_appwire: $(BUILD)/obj/tests/unit/test_appwire.o $(BUILD)/obj/src/common/appwire.o
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(CMOCKA_LIBS)

TEST_PROGRAMS += $(BUILD)/tests/test_appwire
