# The Hyper-V channel's message encoding (src/host/hvwire.c; the adapter itself is part
# of quiesced, mk/daemon.mk): its unit test and its fuzz target (mk/fuzz.mk builds
# it: build/tests/fuzz_hvwire replays the corpus, make fuzz-hvwire fuzzes).

HVWIRE_OBJ := $(BUILD)/obj/src/host/hvwire.o

$(BUILD)/tests/test_hvwire: $(BUILD)/obj/tests/unit/test_hvwire.o $(HVWIRE_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ -lcmocka

TEST_PROGRAMS += $(BUILD)/tests/test_hvwire

# hvwire: what /dev/vmbus/hv_vss (or hvsim) sends.
FUZZ_TARGETS += hvwire
FUZZ_SRC_hvwire := src/host/hvwire.c
