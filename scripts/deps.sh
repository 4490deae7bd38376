#!/bin/sh
# SPDX-License-Identifier: MIT
# Install the Debian packages quiesce needs to build, test, benchmark and demo.
# Idempotent and quick when everything is there: it asks dpkg first and calls
# apt-get only for what is missing. Run as root on Debian 12.
#   scripts/deps.sh        everything (make ci, make check, make bench)
#   scripts/deps.sh demo   only what make demo needs: the build and the few tools it runs
set -eu

# Build: compiler, JSON (json-c), config (inih), unit tests (cmocka), libvirt's C API
# (quiesce-group only).
BUILD_PKGS="gcc make pkg-config libjson-c-dev libinih-dev libcmocka-dev libvirt-dev"
# Tests: TAP runner, python, filesystems for the scratch mounts, sanitizer runtime
# and fuzzing (clang), valgrind, the peers we compare with (qemu-ga, hv_vss_daemon).
TEST_PKGS="perl python3 util-linux mount e2fsprogs xfsprogs btrfs-progs clang libclang-rt-14-dev \
valgrind qemu-guest-agent hyperv-daemons"
# VM test (tools/vm) and benchmark chart.
VM_PKGS="qemu-system-x86 qemu-utils busybox-static xz-utils binutils gnuplot-nox"
# Man pages: tests/integration/doc_manpages.py lints them (mandoc -T lint, groff -ww)
# and renders them (man -l).
DOC_PKGS="mandoc groff-base man-db"
# Packaging (tests/packaging): the Debian packages and their checks, systemd-analyze
# verify for the units (works offline: PID 1 need not be systemd).
PKG_PKGS="dpkg-dev debhelper lintian systemd"
# The real libvirt driving the test VM's agent (tests/integration/vm_libvirt.py): the
# daemon, its QEMU driver and virsh, without libvirt-daemon-system (no services; the
# test starts libvirtd by hand).
VM_PKGS="$VM_PKGS libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients"
# Database agents (agents/): their client libraries, and the servers the restore tests
# start by themselves (tests/integration/db_*.py; the packages' own clusters and
# services are never started here: see the policy file below).
DB_PKGS="libpq-dev postgresql libmariadb-dev mariadb-server"

# The demo builds everything (so every -dev library) and runs quiesced on loop mounts.
DEMO_PKGS="$BUILD_PKGS libpq-dev libmariadb-dev python3 util-linux mount e2fsprogs"

case "${1:-all}" in
all) want="$BUILD_PKGS $TEST_PKGS $VM_PKGS $DOC_PKGS $PKG_PKGS $DB_PKGS" ;;
demo) want="$DEMO_PKGS" ;;
*) echo "usage: scripts/deps.sh [all|demo]" >&2; exit 2 ;;
esac

missing=
for p in $want; do
	if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing Debian packages:$missing" >&2
	echo "deps: run as root (or: sudo apt-get install$missing)" >&2
	exit 1
fi

echo "deps: installing:$missing"
# qemu-guest-agent and hyperv-daemons ship services. On a test machine they must not
# start: hv_vss_daemon freezes every /dev mount it sees. Keep invoke-rc.d from
# starting anything while we install, unless the admin already has a policy.
# (QUIESCE_POLICY_RC: another path, for tests/integration/scripts_deps.py only.)
policy=${QUIESCE_POLICY_RC:-/usr/sbin/policy-rc.d}
own_policy=
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' > "$policy"
	chmod 755 "$policy"
	own_policy=1
fi
# The script's status is apt-get's, whatever the clean-up's last command returns: a
# '[ ] && rm' here once made every run on a machine with its own policy file (every
# Debian container image has one) exit 1 after a successful install.
cleanup() {
	rc=$?
	if [ -n "$own_policy" ]; then
		rm -f "$policy"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

export DEBIAN_FRONTEND=noninteractive
# Another apt or dpkg at work (an unattended upgrade, a package test) holds the lock
# for a while: wait for it, bounded, rather than fail at once.
lock="-o DPkg::Lock::Timeout=300"
if ! apt-get install -y -q $lock --no-install-recommends $missing; then
	apt-get update -q $lock
	apt-get install -y -q $lock --no-install-recommends $missing
fi

# The database servers are here for the tests, which start their own: a server this
# script installed is not left to start at the next boot (one the admin had is left
# as it was).
for p in postgresql mariadb-server; do
	case " $missing " in
	*" $p "*) systemctl disable --quiet "${p%-server}.service" 2>/dev/null || true ;;
	esac
done
