#!/bin/busybox sh
# /init of the guest-test initramfs (make-guest-initramfs.sh): busybox's shell and tools, so the
# guest tests of issues 15, 16 and 20 can do what the kernel alone cannot after boot (online a
# hot-added CPU, DHCP on a NIC added at run time, react to the ACPI power button, mount a USB
# disk). The test to run is the kernel parameter smoketest=NAME; every step it takes is printed
# as "smoke-guest: ..." on the console for the host side (ConsoleWatcher) to wait for.
/bin/busybox mkdir -p /proc /sys /dev /mnt /tmp
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
# An initramfs gets no automatic devtmpfs (DEVTMPFS_MOUNT acts on the real root only).
mount -t devtmpfs devtmpfs /dev 2>/dev/null

say() { echo "smoke-guest: $*"; }
param() { tr ' ' '\n' </proc/cmdline | sed -n "s/^$1=//p" | tail -n 1; }
# Polls a condition (the guest side waits for hot-plugged hardware; the host bounds the test).
until_true() { while ! eval "$1"; do sleep 0.1; done; }
finish() { say "done, powering off"; sync; poweroff -f; }

# Online every CPU the kernel knows but has not started: ACPI hot-add only makes a CPU
# present (as udev's rule would, user space onlines it). Ends when $1 CPUs are online.
cpu_hotplug() {
    want=$1
    say "cpu hot-plug: waiting for $want cpus"
    while :; do
        for f in /sys/devices/system/cpu/cpu[0-9]*/online; do
            [ -e "$f" ] || continue
            if [ "$(cat "$f")" = 0 ]; then
                c=${f%/online}; c=${c##*/}
                echo 1 >"$f" && say "$c online"
            fi
        done
        n=$(grep -c '^processor' /proc/cpuinfo)
        [ "$n" -ge "$want" ] && break
        sleep 0.1
    done
    say "cpus online: $n"
}

# DHCP on the first NIC that appears (the kernel's ip=dhcp runs only at boot).
net_hotplug() {
    say "net hot-plug: waiting for eth0"
    until_true '[ -e /sys/class/net/eth0 ]'
    say "eth0 appeared: $(cat /sys/class/net/eth0/address)"
    ip link set eth0 up
    udhcpc -i eth0 -f -q -n -t 20 -T 1 -s /etc/udhcpc.script || say "udhcpc failed"
}

# Waits for a hot-added virtio disk and prints its first line (the host wrote a marker there).
# The initramfs boot has no other virtio disk, so the hot-added one is vda.
blk_hotplug() {
    say "blk hot-plug: waiting for vda"
    until_true '[ -e /dev/vda ]'
    say "vda marker $(head -n 1 /dev/vda)"
}

# The ACPI power button (LNXPWRBN, "Power Button") reports KEY_POWER through evdev; the kernel
# itself does nothing with it. Each read of 24 bytes is one struct input_event (x86-64):
# 16 bytes of time, type (EV_KEY = 0x0001), code (KEY_POWER = 0x0074), value (1 = press).
power_button() {
    dev=
    for n in /sys/class/input/event*; do
        [ "$(cat "$n/device/name" 2>/dev/null)" = "Power Button" ] && dev=/dev/input/${n##*/}
    done
    [ -n "$dev" ] && [ -c "$dev" ] || { say "no ACPI power button"; finish; }
    exec 3<"$dev"
    say "power button: waiting on $dev"
    while :; do
        ev=$(dd bs=24 count=1 <&3 2>/dev/null | od -An -tx1 | tr -d ' \n')
        case $ev in *0100740001000000) break ;; esac
    done
    say "power button pressed"
}

# USB: the xHCI disk is the only sd disk; it holds an ext2 file system with /usb-marker.
usb() {
    say "usb: waiting for sda"
    until_true '[ -e /dev/sda ]'
    # The node appears before sd has read the capacity ("Attached SCSI disk" comes later): a mount
    # then fails with ENXIO (seen under QEMU on a loaded host), so it is tried until it works.
    until_true 'mount -t ext2 -o ro /dev/sda /mnt 2>/dev/null'
    say "usb marker $(cat /mnt/usb-marker)"
    umount /mnt
    # USB enumeration runs on its own: the tablet may register after the disk.
    until_true 'cat /sys/class/input/input*/name 2>/dev/null | grep -q Tablet'
    for n in /sys/class/input/input*; do say "input device: $(cat "$n/name")"; done
}

# S3 from user space (issue 16 test 3): the write returns once the machine has resumed (the host
# sends QMP system_wakeup while query-status says "suspended"); its status says whether it slept.
suspend_to_ram() {
    say "suspending to ram"
    if echo mem >/sys/power/state; then say "resumed from suspend"; else say "suspend failed"; fi
}

t=$(param smoketest)
say "test ${t:-none}"
case $t in
    # The host lists the CPUs while they are online, then presses the power button.
    cpuhp) cpu_hotplug "$(param smokecpus)"; power_button ;;
    nethp) net_hotplug ;;
    blkhp) blk_hotplug ;;
    power) power_button ;;
    usb) usb ;;
    suspend) suspend_to_ram ;;
    # init exits: the kernel panics "Attempted to kill init!" (pvpanic tells the host).
    panic) say "exiting init to panic"; exit 1 ;;
esac
finish
