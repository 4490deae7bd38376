# tools/vm: the QEMU end-to-end snapshot test (see tools/vm/README.md).
#
#   make vmtest      build the VM (cached kernel, fresh initramfs) and run tools/vm/vmtest.py
#   make vm          only build the VM into $(BUILD)/vm
#
# Not part of `check` yet. Phase 2 swaps the agent: set VM_BUILD_ARGS to
#   --agent-bin $(BUILD)/quiesced --extra-bin <app> --app '<app command>' --app-ready '<test>'
# (build-vm.sh knows quiesced's command line; see tools/vm/README.md).

VM_DIR := $(BUILD)/vm
VM_RECWRITER := $(BUILD)/tools/vm/recwriter

# The stand-in record writer runs in the guest: static, so it needs no libraries there,
# and never sanitized (an ASan runtime cannot be linked statically).
$(VM_RECWRITER): tools/vm/recwriter.c
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(WARN) $(CFLAGS) -static -o $@ $<

PROGRAMS += $(VM_RECWRITER)

# Phase 1: Debian's qemu-ga is the guest agent (its fsfreeze hook drives the writer),
# the stand-in recwriter is the app.
VM_BUILD_PREREQS ?= $(VM_RECWRITER)
VM_BUILD_ARGS ?= --agent-bin /usr/sbin/qemu-ga --extra-bin $(VM_RECWRITER) \
	--app 'recwriter -s /run/recwriter.sock /mnt/data/records.bin' \
	--app-ready '[ -S /run/recwriter.sock ]'
VMTEST_ARGS ?=
# One kernel download for build/ and build/sanitize/ alike.
VM_KERNEL_CACHE ?= build/vm-kernel

.PHONY: vm vmtest
vm: $(VM_BUILD_PREREQS)
	tools/vm/build-vm.sh $(VM_DIR) --kernel-cache $(VM_KERNEL_CACHE) $(VM_BUILD_ARGS)

vmtest: deps vm
	tools/vm/vmtest.py --vm-dir $(VM_DIR) --recwriter $(VM_RECWRITER) $(VMTEST_ARGS)
