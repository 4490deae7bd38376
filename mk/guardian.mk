# SPDX-License-Identifier: MIT
# quiesce-guardian: the thaw guardian, started by quiesced.
GUARDIAN_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard src/guardian/*.c) src/common/guardwire.c)

$(BUILD)/quiesce-guardian: $(GUARDIAN_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^

PROGRAMS += $(BUILD)/quiesce-guardian
