#!/usr/bin/env bash
# Makes the guest-test initramfs: busybox (static) as /bin/busybox, guest-init.sh as /init and
# udhcpc.script as udhcpc's hook. The guest tests pick what /init does with smoketest=NAME on
# the kernel command line (guest-init.sh lists the names). Needs busybox-static (Debian).
#
# Usage: make-guest-initramfs.sh OUT.cpio.gz
# Prints OUT.cpio.gz on its last stdout line.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/lib.sh"

(($# == 1)) || { echo "usage: ${0##*/} OUT.cpio.gz" >&2; exit 2; }
out=$1

sk_need_packages busybox-static cpio gzip
busybox=/bin/busybox
[[ -x "$busybox" ]] || busybox=/usr/bin/busybox
file -L "$busybox" 2>/dev/null | grep -q 'dynamically' && sk_die "$busybox is not static (install busybox-static)"

stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/{bin,dev,proc,sys,tmp,mnt,etc}
cp "$busybox" "$stage/bin/busybox"
install -m 0755 "$here/guest-init.sh" "$stage/init"
install -m 0755 "$here/udhcpc.script" "$stage/etc/udhcpc.script"

mkdir -p "$(dirname "$out")"
# Sorted names and -n (no gzip timestamp): reproducible; -R 0:0: root's whoever runs this.
(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) \
    | gzip -9 -n >"$out.tmp" || sk_die "cpio/gzip failed"
mv "$out.tmp" "$out"
echo "$out"
