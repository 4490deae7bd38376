#!/bin/sh
# SPDX-License-Identifier: MIT
# The end-to-end VM test (tools/vm/README.md): a real guest kernel runs quiesced on the
# virtio-serial guest agent port and the example app recwriter; the host freezes it over
# QGA, takes a snapshot and a backup over QMP while frozen, thaws, and checks the copies.
# TAP from tools/vm/vmtest.py. make check builds the VM first ($QUIESCE_BUILD/vm, or
# $QUIESCE_VM_DIR), when qemu-system-x86_64 is installed; without it this test is skipped.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
: "${QUIESCE_BUILD:=$top/build}"
vm_dir=${QUIESCE_VM_DIR:-$QUIESCE_BUILD/vm}

if ! command -v qemu-system-x86_64 > /dev/null 2>&1; then
	echo "1..0 # SKIP qemu-system-x86_64 is not installed (Debian package qemu-system-x86)"
	exit 0
fi
if [ ! -f "$vm_dir/initrd.cpio" ]; then
	# qemu is here, so make check should have built the VM: not a reason to skip.
	echo "1..1"
	echo "not ok 1 - VM image in $vm_dir"
	echo "# missing $vm_dir/initrd.cpio: build it with make vm (make check does)"
	exit 1
fi
exec "$top/tools/vm/vmtest.py" --vm-dir "$vm_dir"
