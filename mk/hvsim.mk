# SPDX-License-Identifier: MIT
# hvsim: the kernel side of /dev/vmbus/hv_vss on a socket (tools/hvsim/README.md), and the
# sandbox that runs the stock hv_vss_daemon against it.

HVSIM_OBJ := $(BUILD)/obj/tools/hvsim/hvsim.o
$(BUILD)/hvsim: $(HVSIM_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ -lm

# The shim is preloaded into the stock daemon and the helper is static: neither may carry
# the sanitizer runtime, so both are built with the plain flags even under SANITIZE=1.
HVSIM_PLAIN_CFLAGS = $(CSTD) $(WARN) $(CFLAGS) $(CPPFLAGS)

$(BUILD)/hvshim.so: tools/hvsim/sandbox/hvshim.c
	@mkdir -p $(dir $@)
	$(CC) $(HVSIM_PLAIN_CFLAGS) -fPIC -shared -o $@ $< -ldl

$(BUILD)/hvsim-sandbox-exec: tools/hvsim/sandbox/sandbox-exec.c
	@mkdir -p $(dir $@)
	$(CC) $(HVSIM_PLAIN_CFLAGS) -static -o $@ $<

PROGRAMS += $(BUILD)/hvsim $(BUILD)/hvshim.so $(BUILD)/hvsim-sandbox-exec
