# SPDX-License-Identifier: MIT
# quiesced: the daemon.
DAEMON_SRC := $(wildcard src/daemon/*.c src/host/*.c src/engine/*.c src/fs/*.c src/apps/*.c src/hooks/*.c \
	src/common/*.c)
DAEMON_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(DAEMON_SRC))
DAEMON_LIBS := -ljson-c -linih -lpthread

$(BUILD)/quiesced: $(DAEMON_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(DAEMON_LIBS)

PROGRAMS += $(BUILD)/quiesced
