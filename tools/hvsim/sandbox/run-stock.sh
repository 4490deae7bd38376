#!/bin/bash
# SPDX-License-Identifier: MIT
# Run the stock hv_vss_daemon (Debian hyperv-daemons) against hvsim, sandboxed so that the
# only filesystems it can see, and so freeze, are the given scratch loop mounts.
#
#   run-stock.sh -s SOCKNAME -w WORKDIR [-b BUILD] [-i INJECT_FILE] [-k N] [-t] [-c] MOUNTPOINT...
#
#   -s NAME   hvsim's abstract socket name (without the leading @)
#   -w DIR    the test's scratch dir (/tmp/quiesce-test-*); every MOUNTPOINT must be a
#             /dev/loop* mount directly under DIR/mnt/
#   -b DIR    where hvshim.so and hvsim-sandbox-exec are (default: build/)
#   -i FILE   HVSHIM_INJECT_FILE inside the sandbox (e.g. /inject); the test writes it
#             through /proc/<daemon pid>/root/FILE
#   -k N      put only the first N mounts in sandbox-exec's allowlist (a refusal test:
#             sandbox-exec must then refuse to exec)
#   -t        HVSHIM_TRACE=1: the shim logs every FIFREEZE/FITHAW and its result
#   -c        check only: build the sandbox, verify, exit 0 without running the daemon
#
# Layers (tools/hvsim/README.md): private mount namespace; tmpfs root with only the daemon,
# libc, the shim and the helper; bind mounts of the scratch mounts as the only /dev entries;
# no /sys; sandbox-exec re-reads /proc/mounts after pivot_root and refuses on any surprise;
# hvshim.so fences FIFREEZE/FITHAW to the scratch devices.
#
# The process started keeps its pid through every exec, so the caller's child pid is the
# daemon's pid. The daemon exits by itself when hvsim goes away (reopen fails); the
# namespace and its mounts vanish with it.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/../../.." && pwd)
DAEMON=/usr/sbin/hv_vss_daemon

die() { echo "run-stock: $*" >&2; exit 112; }

if [ "${HVSIM_SANDBOX_INNER:-}" != 1 ]; then
	[ "$(id -u)" = 0 ] || die "needs root"
	# setsid: own session, no controlling terminal. -w keeps our pid if it has to fork.
	export HVSIM_SANDBOX_INNER=1
	exec setsid -w unshare -m --propagation private "$0" "$@"
fi

# ---- from here on we are inside the private mount namespace
sock= work= build="${QUIESCE_BUILD:-$TOP/build}" inject= keep= check= trace=
while getopts "s:w:b:i:k:tc" o; do
	case $o in
	s) sock=$OPTARG ;;
	w) work=$OPTARG ;;
	b) build=$OPTARG ;;
	i) inject=$OPTARG ;;
	k) keep=$OPTARG ;;
	t) trace=1 ;;
	c) check=1 ;;
	*) die "bad option" ;;
	esac
done
shift $((OPTIND - 1))
[ -n "$sock" ] && [ -n "$work" ] && [ $# -gt 0 ] || die "usage: run-stock.sh -s NAME -w WORKDIR MOUNTPOINT..."
case $sock in *[!A-Za-z0-9._-]*) die "bad socket name" ;; esac
work=$(realpath -e "$work")
case $work in /tmp/quiesce-test-*) ;; *) die "work dir must be a scratch dir /tmp/quiesce-test-*: $work" ;; esac
[ -x "$DAEMON" ] || die "$DAEMON not installed (hyperv-daemons)"
[ -f "$build/hvshim.so" ] && [ -x "$build/hvsim-sandbox-exec" ] || die "build hvshim.so and hvsim-sandbox-exec first (make)"

# Check the mounts before touching anything.
allow=() devs=() names=() srcs=() mps=()
for mp in "$@"; do
	mp=$(realpath -e "$mp")
	[ "$(dirname "$mp")" = "$work/mnt" ] || die "$mp is not directly under $work/mnt"
	src=$(findmnt -n -o SOURCE --mountpoint "$mp") || die "$mp is not a mountpoint"
	case $src in /dev/loop[0-9]*) ;; *) die "$mp is on $src, not a loop device" ;; esac
	[ -b "$src" ] || die "$src is not a block device"
	name=$(basename "$mp")
	case " ${names[*]:-} " in *" $name "*) die "duplicate mount name $name" ;; esac
	ma=$((0x$(stat -c %t "$src"))) mi=$((0x$(stat -c %T "$src")))
	[ "$(mountpoint -d "$mp")" = "$ma:$mi" ] || die "$mp is not the filesystem on $src"
	names+=("$name") srcs+=("$src") mps+=("$mp") devs+=("$ma:$mi")
done

root=$work/sandbox-root
mkdir -p "$root"
mount -t tmpfs -o size=64m,mode=0755 hvsim-sandbox "$root"
mkdir -p "$root"/{bin,lib,dev,mnt,proc,oldroot}

# The daemon, its loader and libs at their usual paths, the shim and the static helper.
cp "$DAEMON" "$root/bin/hv_vss_daemon"
for lib in $( (ldd "$DAEMON"; ldd "$build/hvshim.so") | grep -o '/[^ ]*' | sort -u); do
	mkdir -p "$root$(dirname "$lib")"
	cp -L "$lib" "$root$lib"
done
cp "$build/hvshim.so" "$root/lib/hvshim.so"
cp "$build/hvsim-sandbox-exec" "$root/bin/sandbox-exec"

n=0
for i in "${!names[@]}"; do
	name=${names[$i]} src=${srcs[$i]}
	mkdir "$root/mnt/$name"
	# The bind mount's source in /proc/mounts stays /dev/loopN: the daemon will freeze it.
	mount --bind "${mps[$i]}" "$root/mnt/$name"
	ma=${devs[$i]%%:*} mi=${devs[$i]##*:}
	mknod "$root$src" b "$ma" "$mi"
	if [ -z "$keep" ] || [ "$n" -lt "$keep" ]; then
		allow+=(--allow "$src=/mnt/$name")
	fi
	n=$((n + 1))
done
mount -t proc proc "$root/proc"
# No /sys: the daemon's loop test finds nothing, so the loop mounts count as disks.

cd "$root"
alldevs=$(IFS=,; echo "${devs[*]}")
envs=(PATH=/bin HVSHIM_SOCK="@$sock" HVSHIM_ALLOW_DEV="$alldevs" LD_PRELOAD=/lib/hvshim.so)
[ -n "$inject" ] && envs+=(HVSHIM_INJECT_FILE="$inject")
[ -n "$trace" ] && envs+=(HVSHIM_TRACE=1)
if [ -n "$check" ]; then
	exec env -i "${envs[@]}" ./bin/sandbox-exec --check-only "${allow[@]}"
fi
exec env -i "${envs[@]}" ./bin/sandbox-exec "${allow[@]}" -- /bin/hv_vss_daemon -n
