# The Hyper-V channel's message encoding (src/host/hvwire.c; the adapter itself is part
# of quiesced, mk/daemon.mk): its unit test and its fuzz target.
#
#   make fuzz-hvwire   the libFuzzer binary (clang), build/fuzz/fuzz_hvwire; run it as
#                      build/fuzz/fuzz_hvwire NEWDIR tests/fuzz/corpus/hvwire (libFuzzer
#                      writes what it finds into the first directory)
#
# The fuzz target also builds as a TAP program that replays tests/fuzz/corpus/hvwire/;
# it is named test_* so that tests/run-suite runs it in every `make check`.

HVWIRE_OBJ := $(BUILD)/obj/src/host/hvwire.o

$(BUILD)/tests/test_hvwire: $(BUILD)/obj/tests/unit/test_hvwire.o $(HVWIRE_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ -lcmocka

$(BUILD)/obj/tests/fuzz/fuzz_hvwire_replay.o: tests/fuzz/fuzz_hvwire.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -DFUZZ_REPLAY -DFUZZ_CORPUS='"$(abspath tests/fuzz/corpus/hvwire)"' \
	    -c -o $@ $<

$(BUILD)/tests/test_fuzz_hvwire: $(BUILD)/obj/tests/fuzz/fuzz_hvwire_replay.o $(HVWIRE_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^

TEST_PROGRAMS += $(BUILD)/tests/test_hvwire $(BUILD)/tests/test_fuzz_hvwire

FUZZ_CC ?= clang
HVWIRE_FUZZ_FLAGS := -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all

$(BUILD)/fuzz/fuzz_hvwire: tests/fuzz/fuzz_hvwire.c src/host/hvwire.c src/host/hvwire.h
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CSTD) $(WARN) $(HVWIRE_FUZZ_FLAGS) $(CPPFLAGS) -o $@ tests/fuzz/fuzz_hvwire.c \
	    src/host/hvwire.c

.PHONY: fuzz-hvwire
fuzz-hvwire: $(BUILD)/fuzz/fuzz_hvwire
