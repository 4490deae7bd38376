#!/bin/bash
# SPDX-License-Identifier: MIT
# Build the quiesce test VM from Debian packages: a kernel, an initramfs and a data disk.
#
#   tools/vm/build-vm.sh OUTDIR [--agent-bin PATH]... [--extra-bin PATH]...
#                               [--agent CMD] [--app CMD] [--app-ready TEST]
#                               [--file SRC:DEST]... [--kernel-cache DIR]
#
# OUTDIR gets (see tools/vm/README.md):
#   kernel/<pkg>_<version>/   the kernel .deb, vmlinuz, vmlinux and the 12 modules (cached;
#                             --kernel-cache DIR puts them in DIR/<pkg>_<version>/ instead,
#                             so several OUTDIRs share one download)
#   vmlinux                   the cached uncompressed kernel (PVH direct boot; a symlink)
#   initrd.cpio               busybox-static, modules, /init, the binaries and their libraries
#   disk.qcow2                pristine ext4 data disk (mkfs.ext4 -d), copied per test run
#   vm.conf                   copy of the guest's /etc/vm/vm.conf (what the guest runs)
#
# Binaries (--agent-bin, --extra-bin) go to /usr/bin/<basename> in the guest with every
# library ldd names at its own path. The guest agent command defaults by the basename of
# the first --agent-bin: "qemu-ga" (the default agent) or "quiesced"; --agent overrides.
# --app is the app command (none by default); --app-ready a shell test that /init waits
# for before it reports "ready" to the host: it must hold only once the app takes part
# in freezes (for quiesced: once it has registered).
#
# The quiesced preset adds --app-socket only if that quiesced has the option (the app
# registry). Without it the app cannot register: the build says so, drops --app-ready,
# and writes APP_HOLDS=0 to vm.conf, and vmtest.py then checks only what a filesystem
# freeze alone guarantees (the app-consistency checks are skipped, and say why).
#
# The kernel package is the one linux-image-amd64 depends on, fetched with apt-get
# download and unpacked here, never installed: nothing on the host (or in /boot) changes.
# Idempotent: the kernel is reused, the disk is made once, the initramfs is rebuilt each
# run (about a second) and replaced only when its content changed.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
QGA_PORT=/dev/virtio-ports/org.qemu.guest_agent.0

# Load order, dependencies first (pitfalls: no modules.dep in the .deb, no kmod here;
# ext4 needs crc32c through the crypto API, a softdep; crc32c-intel needs SSE4.2, which
# TCG's default CPU lacks, so the generic one).
MODULES="virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci
virtio_blk virtio_console crc16 mbcache jbd2 crc32c_generic ext4"

die() { echo "build-vm: $*" >&2; exit 1; }
say() { echo "build-vm: $*" >&2; }

usage() { sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//' >&2; exit 2; }

# ---------------------------------------------------------------- arguments

[ $# -ge 1 ] || usage
case "$1" in -h|--help) usage ;; esac
OUT=$1; shift
AGENT_BINS=()
EXTRA_BINS=()
FILES=()
KCACHE=
AGENT_CMD=
APP_CMD=
APP_READY=
APP_HOLDS=1
while [ $# -gt 0 ]; do
	case "$1" in
	--agent-bin) AGENT_BINS+=("$2"); shift 2 ;;
	--extra-bin) EXTRA_BINS+=("$2"); shift 2 ;;
	--agent) AGENT_CMD=$2; shift 2 ;;
	--app) APP_CMD=$2; shift 2 ;;
	--app-ready) APP_READY=$2; shift 2 ;;
	--file) FILES+=("$2"); shift 2 ;;
	--kernel-cache) KCACHE=$2; shift 2 ;;
	-h|--help) usage ;;
	*) die "unknown option: $1 (see --help)" ;;
	esac
done
[ ${#AGENT_BINS[@]} -gt 0 ] || AGENT_BINS=(/usr/sbin/qemu-ga)
for b in "${AGENT_BINS[@]}" "${EXTRA_BINS[@]}"; do
	[ -x "$b" ] || die "not an executable: $b"
done

if [ -z "$AGENT_CMD" ]; then
	case "$(basename "${AGENT_BINS[0]}")" in
	qemu-ga)
		# The fsfreeze hook tells the phase-1 stand-in writer to write its freeze
		# record and hold writes (qemu-ga runs it before FIFREEZE and after FITHAW).
		AGENT_CMD="qemu-ga -m virtio-serial -p $QGA_PORT -t /run -f /run/qemu-ga.pid -l /run/qemu-ga.log -F/etc/vm/fsfreeze-hook"
		FILES+=("$HERE/fsfreeze-hook:/etc/vm/fsfreeze-hook")
		;;
	quiesced)
		AGENT_CMD="quiesced -n --qga $QGA_PORT --scope /mnt/data --run-dir /run/quiesce"
		# qemu-ga in the image: quiesced runs it behind itself (--qga-backend).
		for b in "${EXTRA_BINS[@]}"; do
			if [ "$(basename "$b")" = qemu-ga ] &&
			   "${AGENT_BINS[0]}" --help 2>&1 | grep -q -- '--qga-backend'; then
				AGENT_CMD="$AGENT_CMD --qga-backend /usr/bin/qemu-ga"
			fi
		done
		if "${AGENT_BINS[0]}" --help 2>&1 | grep -q -- '--app-socket'; then
			AGENT_CMD="$AGENT_CMD --app-socket /run/quiesce/app.sock"
		elif [ -n "$APP_CMD" ]; then
			say "WARNING: ${AGENT_BINS[0]} has no --app-socket (no app registry yet):"
			say "WARNING: the app cannot register and will not hold its writes; the VM test"
			say "WARNING: then checks filesystem consistency only (app checks are skipped)"
			APP_READY=
			APP_HOLDS=0
		fi
		;;
	*) die "no default command for agent $(basename "${AGENT_BINS[0]}"): give --agent" ;;
	esac
fi
[ -n "$APP_CMD" ] || APP_HOLDS=0

command -v busybox > /dev/null || die "busybox not found (apt-get install busybox-static)"
BUSYBOX=$(command -v busybox)
ldd "$BUSYBOX" > /dev/null 2>&1 && die "$BUSYBOX is not static (apt-get install busybox-static)"

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
[ -n "$KCACHE" ] || KCACHE=$OUT/kernel
mkdir -p "$KCACHE"
KCACHE=$(cd "$KCACHE" && pwd)

# ---------------------------------------------------------------- kernel (cached)

# The kernel package linux-image-amd64 depends on, and its candidate version: sets
# pkg and ver, or returns 1 (no package lists, as in a fresh container).
kernel_pkg() {
	pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
	ver=
	[ -n "$pkg" ] && ver=$(apt-cache policy "$pkg" 2>/dev/null | awk '/Candidate:/ {print $2}')
	[ -n "$pkg" ] && [ -n "$ver" ] && [ "$ver" != "(none)" ]
}

# apt-get update, once per run and only as root; the retry of a failed download needs
# it when the lists are stale (the archive dropped the old kernel version) or missing.
APT_UPDATED=
apt_update() {
	[ -z "$APT_UPDATED" ] || return 1
	APT_UPDATED=1
	[ "$(id -u)" = 0 ] || { say "not root: cannot apt-get update"; return 1; }
	say "apt-get update"
	apt-get update -q > "$KCACHE/apt-update.log" 2>&1 || { cat "$KCACHE/apt-update.log" >&2; return 1; }
}

# An older kernel built here before, for when the archive cannot be reached.
cached_kernel() {
	local old
	old=$(ls -d "$KCACHE"/*/.done 2>/dev/null | tail -1 || true)
	[ -n "$old" ] || return 1
	KDIR=$(dirname "$old")
	say "using the cached kernel $(basename "$KDIR")"
}

unreachable() {
	die "cannot download the kernel package${pkg:+ $pkg $ver} from the Debian archive$1.
build-vm: The VM test needs the archive once (about 70 MB); the kernel is then cached in
build-vm: $KCACHE. Check the network and the sources in /etc/apt, or copy a kernel
build-vm: cache from a machine that has one."
}

kernel() {
	local dir deb tmp off m f n try
	if ! kernel_pkg; then
		say "apt-cache names no kernel package for linux-image-amd64 (no package lists?)"
		if ! apt_update || ! kernel_pkg; then
			cached_kernel && return
			unreachable " (apt-cache knows no linux-image-amd64)"
		fi
	fi
	for try in 1 2; do
		dir=$KCACHE/${pkg}_$ver
		if [ -f "$dir/.done" ]; then
			KDIR=$dir
			return
		fi
		mkdir -p "$dir"
		deb=$(ls "$dir"/*.deb 2>/dev/null | head -1 || true)
		[ -z "$deb" ] || break
		say "downloading $pkg $ver"
		# As root into a dir _apt cannot read, apt warns "Download is performed
		# unsandboxed as root"; harmless.
		# Into a scratch dir first, so an interrupted download never looks complete.
		rm -rf "$dir/dl" && mkdir "$dir/dl"
		if (cd "$dir/dl" && apt-get download -q "$pkg=$ver" > "$dir/download.log" 2>&1) &&
		    mv "$dir"/dl/*.deb "$dir/" 2> /dev/null; then
			rm -rf "$dir/dl"
			deb=$(ls "$dir"/*.deb | head -1)
			break
		fi
		cat "$dir/download.log" >&2
		rm -rf "$dir"
		[ $try = 1 ] || break
		# Retry once: after an apt-get update (stale lists name a version the archive
		# no longer has; the update may also name a newer kernel), else after a pause.
		say "download failed; retrying once"
		if apt_update; then
			kernel_pkg || break
		else
			sleep 2
		fi
	done
	if [ -z "$deb" ]; then
		cached_kernel && return
		unreachable ""
	fi

	# Unpack only what we need: the whole package is 400 MB unpacked.
	say "unpacking $(basename "$deb")"
	tmp=$dir/unpack
	rm -rf "$tmp" && mkdir -p "$tmp"
	local pats=('./boot/vmlinuz-*' './boot/config-*')
	for m in $MODULES; do pats+=("*/$m.ko"); done
	dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp" --wildcards "${pats[@]}"
	cp "$tmp"/boot/vmlinuz-* "$dir/vmlinuz"
	cp "$tmp"/boot/config-* "$dir/config"
	mkdir -p "$dir/modules"
	for m in $MODULES; do
		f=$(find "$tmp/lib/modules" -name "$m.ko")
		n=$(printf '%s\n' "$f" | grep -c . || true)
		[ "$n" = 1 ] || die "expected one $m.ko in $pkg, found $n"
		cp "$f" "$dir/modules/"
	done
	rm -rf "$tmp"

	# The load order must hold every module's depends= before it; a new kernel that
	# adds a dependency fails here rather than at boot.
	local seen=" "
	for m in $MODULES; do
		local deps d
		deps=$(strings -a "$dir/modules/$m.ko" | sed -n 's/^depends=//p' | tr , ' ')
		for d in $deps; do
			case "$seen" in *" $d "*) ;; *) die "$m.ko depends on $d, which is not loaded before it" ;; esac
		done
		seen="$seen$m "
	done

	# Uncompressed vmlinux for PVH direct boot (as scripts/extract-vmlinux does): under
	# TCG this halves boot time, since SeaBIOS and the in-guest XZ decompression go.
	for off in $(LC_ALL=C grep -abo $'\xfd''7zXZ' "$dir/vmlinuz" | cut -d: -f1); do
		# xz complains about the trailing data after the stream; expected.
		tail -c +$((off + 1)) "$dir/vmlinuz" | xz -dc > "$dir/vmlinux.tmp" 2>/dev/null || true
		if [ "$(head -c 4 "$dir/vmlinux.tmp" | od -An -tx1 | tr -d ' ')" = 7f454c46 ]; then
			break
		fi
	done
	[ "$(head -c 4 "$dir/vmlinux.tmp" | od -An -tx1 | tr -d ' ')" = 7f454c46 ] || die "no vmlinux found in vmlinuz"
	readelf -n "$dir/vmlinux.tmp" | grep -q 0x00000012 || die "vmlinux has no Xen PVH entry note (CONFIG_PVH)"
	mv "$dir/vmlinux.tmp" "$dir/vmlinux"
	echo "$pkg $ver" > "$dir/.done"
	KDIR=$dir
	say "kernel $pkg $ver ready"
}

# ---------------------------------------------------------------- initramfs

# Copy a program and every library ldd names to the same paths under the tree.
copy_with_libs() { # copy_with_libs TREE SRC DEST
	local tree=$1 src=$2 dest=$3 lib
	install -D -m 755 "$src" "$tree$dest"
	if ldd "$src" > /dev/null 2>&1; then
		for lib in $(ldd "$src" | awk '/=> \// {print $3} /^[[:space:]]*\// {print $1}'); do
			[ -e "$tree$lib" ] || install -D -m 755 "$(readlink -f "$lib")" "$tree$lib"
		done
		# Resolve once inside the tree, as the guest will: catches a missing library.
		if chroot "$tree" "$(ldd "$src" | awk '/^[[:space:]]*\// {print $1; exit}')" --list "$dest" 2>&1 | grep -q 'not found'; then
			die "$src: a library does not resolve in the initramfs"
		fi
	fi
}

sq() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }

initramfs() {
	local tree=$OUT/initrd.tree m b f src dest
	rm -rf "$tree"
	mkdir -p "$tree"/{bin,dev,etc/vm,lib/modules,mnt/data,proc,run,sys,tmp,usr/bin}
	install -m 755 "$BUSYBOX" "$tree/bin/busybox"
	ln -s busybox "$tree/bin/sh"
	for m in $MODULES; do cp "$KDIR/modules/$m.ko" "$tree/lib/modules/"; done
	echo $MODULES | tr ' ' '\n' > "$tree/lib/modules/load.order"
	for b in "${AGENT_BINS[@]}" "${EXTRA_BINS[@]}"; do
		copy_with_libs "$tree" "$b" "/usr/bin/$(basename "$b")"
	done
	for f in ${FILES[@]+"${FILES[@]}"}; do
		src=${f%%:*} dest=${f#*:}
		[ -f "$src" ] && [ "${dest#/}" != "$dest" ] || die "--file wants SRC:/DEST, got $f"
		install -D -m "$(stat -c %a "$src")" "$src" "$tree$dest"
	done
	echo 'root:x:0:0:root:/:/bin/sh' > "$tree/etc/passwd"
	echo 'root:x:0:' > "$tree/etc/group"
	{
		echo "# Written by tools/vm/build-vm.sh; read by /init."
		echo "AGENT_CMD=$(sq "$AGENT_CMD")"
		echo "APP_CMD=$(sq "$APP_CMD")"
		echo "APP_READY=$(sq "$APP_READY")"
		echo "# 1: the app is expected to hold its writes from FREEZE to THAW (vmtest.py)"
		echo "APP_HOLDS=$APP_HOLDS"
	} > "$tree/etc/vm/vm.conf"
	install -m 755 "$HERE/init.sh" "$tree/init"

	# The cpio package is not installed here; busybox cpio is. Uncompressed: the guest
	# then spends no time on gunzip under TCG.
	(cd "$tree" && find . | LC_ALL=C sort | "$BUSYBOX" cpio -o -H newc -R 0:0 2>/dev/null) > "$OUT/initrd.cpio.tmp"
	# Keep the old file (and its mtime) when nothing changed. cpio records mtimes,
	# so compare the trees' contents instead.
	(cd "$tree" && find . -type f | LC_ALL=C sort | xargs md5sum; find . -type l -printf '%p -> %l\n' | LC_ALL=C sort) > "$OUT/initrd.sum.tmp"
	if [ -f "$OUT/initrd.cpio" ] && cmp -s "$OUT/initrd.sum.tmp" "$OUT/initrd.sum"; then
		rm -f "$OUT/initrd.cpio.tmp" "$OUT/initrd.sum.tmp"
	else
		mv "$OUT/initrd.cpio.tmp" "$OUT/initrd.cpio"
		mv "$OUT/initrd.sum.tmp" "$OUT/initrd.sum"
		say "initramfs: $(du -k "$OUT/initrd.cpio" | cut -f1) KB"
	fi
	cp "$tree/etc/vm/vm.conf" "$OUT/vm.conf"
	rm -rf "$tree"
}

# ---------------------------------------------------------------- data disk

disk() {
	[ -f "$OUT/disk.qcow2" ] && return
	local root=$OUT/disk.root
	rm -rf "$root" && mkdir -p "$root"
	echo "quiesce test VM data disk" > "$root/hello.txt"
	# -d populates the filesystem from a directory: no loop device, no mount.
	truncate -s 64M "$OUT/disk.raw"
	mkfs.ext4 -q -F -L qvmdata -d "$root" "$OUT/disk.raw"
	qemu-img convert -f raw -O qcow2 "$OUT/disk.raw" "$OUT/disk.qcow2.tmp"
	mv "$OUT/disk.qcow2.tmp" "$OUT/disk.qcow2"
	rm -rf "$root" "$OUT/disk.raw"
	say "data disk: 64 MB ext4"
}

kernel
# A relative link when the cache is inside OUTDIR, so the tree can be moved.
case "$KDIR" in
"$OUT"/*) ln -sfn "${KDIR#"$OUT"/}/vmlinux" "$OUT/vmlinux" ;;
*) ln -sfn "$KDIR/vmlinux" "$OUT/vmlinux" ;;
esac
initramfs
disk
say "ready in $OUT: vmlinux -> $(readlink "$OUT/vmlinux"), initrd.cpio, disk.qcow2"
