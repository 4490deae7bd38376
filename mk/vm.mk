# SPDX-License-Identifier: MIT
# tools/vm: the QEMU end-to-end snapshot test (see tools/vm/README.md).
#
#   make vmtest                    build the VM (cached kernel, fresh initramfs), run tools/vm/vmtest.py
#   make vmtest VM_AGENT=qemu-ga   the same with Debian's qemu-ga and the phase-1 stand-ins, to compare
#   make vm                        only build the VM into $(BUILD)/vm
#   make check                     also runs the VM test (tests/integration/vm_snapshot.sh) when
#                                  qemu-system-x86_64 is installed
#
# The default guest runs quiesced on the virtio-serial guest agent port and the example
# app recwriter, registered as a required app. With SANITIZE=1 the guest runs the
# sanitized binaries from build/sanitize (ASan and UBSan work in the guest: /proc is
# mounted and build-vm.sh copies libasan and libubsan; /init stops them with SIGTERM so
# LeakSanitizer runs, and vmtest.py fails on any sanitizer report in the console).

VM_AGENT ?= quiesced
VM_RECWRITER := $(BUILD)/tools/vm/recwriter

# The phase-1 stand-in record writer runs in the guest with qemu-ga: static, so it
# needs no libraries there, and never sanitized (an ASan runtime cannot be linked
# statically).
$(VM_RECWRITER): tools/vm/recwriter.c
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(WARN) $(CFLAGS) -static -o $@ $<

PROGRAMS += $(VM_RECWRITER)

# Phase 1, for comparison: Debian's qemu-ga, whose fsfreeze hook drives the stand-in
# writer over its own socket (VM_AGENT=qemu-ga, and tests/integration/vm_libvirt.py).
VM_QGA_DIR := $(BUILD)/vm-qemu-ga
VM_QGA_PREREQS := $(VM_RECWRITER)
VM_QGA_ARGS := --agent-bin /usr/sbin/qemu-ga --extra-bin $(VM_RECWRITER) \
	--app 'recwriter -s /run/recwriter.sock /mnt/data/records.bin' \
	--app-ready '[ -S /run/recwriter.sock ]'

ifeq ($(VM_AGENT),quiesced)
# Phase 2: quiesced serves QGA, its thaw guardian beside it, quiescectl for hand use,
# and recwriter registered with quiesced as a required app. The guest's /init waits
# for the app's "registered" line before it reports ready, so the host never freezes
# before the app takes part. (A quiesced without --app-socket: see build-vm.sh.)
VM_DIR := $(BUILD)/vm
VM_BUILD_PREREQS := $(BUILD)/quiesced $(BUILD)/quiesce-guardian $(BUILD)/quiescectl $(BUILD)/recwriter
# Debian's qemu-ga goes in too, as quiesced's backend for every other agent command.
VM_BUILD_ARGS := --agent-bin $(BUILD)/quiesced --extra-bin $(BUILD)/quiesce-guardian \
	--extra-bin $(BUILD)/quiescectl --extra-bin $(BUILD)/recwriter \
	$(if $(wildcard /usr/sbin/qemu-ga),--extra-bin /usr/sbin/qemu-ga) \
	--app 'recwriter -n -s /run/quiesce/app.sock /mnt/data/records.bin' \
	--app-ready 'grep -q "registered as app" /run/app.log'
VMTEST_AGENT_ARGS :=
else ifeq ($(VM_AGENT),qemu-ga)
VM_DIR := $(VM_QGA_DIR)
VM_BUILD_PREREQS := $(VM_QGA_PREREQS)
VM_BUILD_ARGS := $(VM_QGA_ARGS)
VMTEST_AGENT_ARGS := --recwriter $(VM_RECWRITER)
else
$(error VM_AGENT must be quiesced or qemu-ga, not "$(VM_AGENT)")
endif
VMTEST_ARGS ?=
# One kernel download for build/ and build/sanitize/ alike.
VM_KERNEL_CACHE ?= build/vm-kernel
VM_BUILD = tools/vm/build-vm.sh $(VM_DIR) --kernel-cache $(VM_KERNEL_CACHE) $(VM_BUILD_ARGS)

.PHONY: vm vmtest vm-if-qemu
vm: $(VM_BUILD_PREREQS)
	$(VM_BUILD)

vmtest: deps vm
	tools/vm/vmtest.py --vm-dir $(VM_DIR) $(VMTEST_AGENT_ARGS) $(VMTEST_ARGS)

# make check: the VM, if QEMU is there. Asked when the recipe runs, not when make reads
# this file: `deps` (check's first prerequisite) may just have installed it.
# The libvirt test (not in the sanitizer stage, where it is skipped) also needs the
# qemu-ga VM, to compare.
vm-if-qemu: deps $(VM_BUILD_PREREQS) $(VM_QGA_PREREQS)
	@if command -v qemu-system-x86_64 > /dev/null; then \
		echo "vm: building $(VM_DIR) for the VM test"; $(VM_BUILD); \
	else \
		echo "vm: qemu-system-x86_64 is not installed: the VM test will be skipped"; \
	fi
	@if [ -z "$(SANITIZE)" ] && [ "$(VM_AGENT)" = quiesced ] && [ -x /usr/sbin/qemu-ga ] && \
	    command -v qemu-system-x86_64 > /dev/null && command -v libvirtd > /dev/null; then \
		echo "vm: building $(VM_QGA_DIR) for the libvirt test"; \
		tools/vm/build-vm.sh $(VM_QGA_DIR) --kernel-cache $(VM_KERNEL_CACHE) $(VM_QGA_ARGS); \
	fi

check: vm-if-qemu
check: export QUIESCE_VM_DIR := $(abspath $(VM_DIR))
check: export QUIESCE_VM_QGA_DIR := $(abspath $(VM_QGA_DIR))
