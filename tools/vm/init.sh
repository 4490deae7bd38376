#!/bin/sh
# SPDX-License-Identifier: MIT
# /init of the quiesce test VM (busybox ash). Installed by build-vm.sh.
#
# It loads the modules, mounts the data disk on /mnt/data, starts the guest agent on
# the virtio-serial port org.qemu.guest_agent.0 and the app, then serves the control
# port org.quiesce.vmctl.0 for the host driver (vmtest.py):
#   guest -> host  "ready"      agent and app started and the app's ready test passed
#                  "not-ready"  the same, but the ready test still failed after 10 s
#   host -> guest  "time"       answered "time SEC USEC": the guest's CLOCK_REALTIME,
#                               the clock of the app's records
#   host -> guest  "shutdown"   stop the app, then the agent (logging their exit
#                               status), unmount the data disk cleanly, power off
# The control port keeps the test independent of the agent's command set: the host
# never needs guest-exec or guest-shutdown, which quiesced alone does not serve.
#
# What to run comes from /etc/vm/vm.conf (written by build-vm.sh):
#   AGENT_CMD  the guest agent command line (runs in the foreground)
#   APP_CMD    the app command line, or empty
#   APP_READY  a shell test that is true once the app is ready, or empty

/bin/busybox --install -s /bin
export PATH=/usr/bin:/usr/sbin:/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /run
mkdir -p /var /mnt/data /tmp && ln -s /run /var/run   # qemu-ga keeps its state in /var/run
mkdir -p /run/quiesce                                  # quiesced's --run-dir in its preset

# Stamped with the uptime (no fork: read is a builtin), to see where boot time goes.
log() { read -r up _ < /proc/uptime; echo "vm-init: [$up] $*" > /dev/console; }

AGENT_CMD=
APP_CMD=
APP_READY=
. /etc/vm/vm.conf
# quiesced refuses to run without --scope when this is set, as in the test suite.
export QUIESCE_REQUIRE_SCOPE=1

wait_for() { # wait_for <shell test>: poll every 20 ms, up to ~10 s
	i=0
	while ! eval "$1"; do
		i=$((i + 1)); [ $i -gt 500 ] && return 1
		usleep 20000
	done
}

AGENT_PID=
APP_PID=
READY=ready
# stop NAME PID: SIGTERM, SIGKILL after 10 s, then log "NAME exit status N" (the host
# checks it: 0 is a clean exit, and a sanitizer build reports leaks at exit).
stop() {
	[ -n "$2" ] || return 0
	kill -0 "$2" 2>/dev/null && kill -TERM "$2"
	( sleep 10; kill -0 "$2" 2>/dev/null && { log "$1 did not stop, killing it"; kill -KILL "$2"; } ) &
	killer=$!
	wait "$2"
	log "$1 exit status $?"
	kill "$killer" 2>/dev/null
}
stop_and_poweroff() {
	stop app "$APP_PID"      # first: it may be registered with the agent
	stop agent "$AGENT_PID"
	sync
	umount /mnt/data && log "unmounted /mnt/data" || log "umount /mnt/data failed"
	for f in /run/agent.log /run/app.log /run/qemu-ga.log; do
		[ -s "$f" ] && sed "s|^|${f##*/}: |" "$f" > /dev/console
	done
	log "power off"
	poweroff -f
}

# qemu-ga's guest-shutdown execs /sbin/shutdown -P +0; busybox has no shutdown.
# The host driver uses the control port instead; this is for hand use.
mkdir -p /sbin
cat > /sbin/shutdown <<'EOF'
#!/bin/sh
echo shutdown > /run/vmctl.fifo
EOF
chmod 755 /sbin/shutdown

# Modules in dependency order (the .deb has no modules.dep and there is no modprobe).
for m in $(cat /lib/modules/load.order); do
	insmod /lib/modules/$m.ko || log "insmod $m failed"
done

wait_for '[ -b /dev/vda ]' || log "no /dev/vda"
if mount -t ext4 /dev/vda /mnt/data; then log "mounted /dev/vda on /mnt/data"; else log "mount /dev/vda failed"; fi

# Without udev there is no /dev/virtio-ports/<name>: find the ports by name in sysfs.
# The host announces them asynchronously after virtio_console binds, so poll.
port_dev() { # port_dev NAME: print /dev/vportNpM for the named port
	for d in /sys/class/virtio-ports/*; do
		[ -e "$d/name" ] && [ "$(cat "$d/name")" = "$1" ] && { echo "/dev/${d##*/}"; return 0; }
	done
	return 1
}
mkdir -p /dev/virtio-ports
for name in org.qemu.guest_agent.0 org.quiesce.vmctl.0; do
	if wait_for 'p=$(port_dev '$name') && [ -c "$p" ]'; then
		ln -sf "$p" /dev/virtio-ports/$name
	else
		log "virtio port $name not found"; ls /sys/class/virtio-ports > /dev/console
	fi
done

log "starting agent: $AGENT_CMD"
sh -c "exec $AGENT_CMD" > /run/agent.log 2>&1 &
AGENT_PID=$!
if [ -n "$APP_CMD" ]; then
	log "starting app: $APP_CMD"
	sh -c "exec $APP_CMD" > /run/app.log 2>&1 &
	APP_PID=$!
	if [ -n "$APP_READY" ]; then
		if wait_for "$APP_READY"; then
			log "app ready"
		else
			log "app not ready after 10 s ($APP_READY)"
			READY=not-ready
		fi
	fi
fi

# Control loop. Commands come from the host on the control port and from
# /sbin/shutdown through a FIFO; one reader each, both feed this loop.
CTL=/dev/virtio-ports/org.quiesce.vmctl.0
mkfifo /run/vmctl.fifo
if [ -c "$CTL" ]; then
	exec 3<>"$CTL"
	echo "$READY" >&3
	log "told the host: $READY"
	# A read returns EOF while the host side is not connected; retry then.
	( while :; do
		if read -r cmd <&3; then echo "$cmd" > /run/vmctl.fifo; else usleep 200000; fi
	done ) &
fi
exec 4<>/run/vmctl.fifo
while read -r cmd <&4; do
	case "$cmd" in
	time) adjtimex | awk '/time.tv_sec/ {s = $2} /time.tv_usec/ {u = $2} END {print "time", s, u}' >&3 ;;
	shutdown) stop_and_poweroff ;;
	*) log "unknown control command: $cmd" ;;
	esac
done
log "control loop ended"; stop_and_poweroff
