# SPDX-License-Identifier: MIT
# quiescectl: the command-line client.
CLI_SRC := $(wildcard src/cli/*.c) src/common/util.c
CLI_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(CLI_SRC))

$(BUILD)/quiescectl: $(CLI_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ -ljson-c -lm

PROGRAMS += $(BUILD)/quiescectl
