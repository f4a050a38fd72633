#!/usr/bin/env bash
# Fetches Debian's stock cloud kernel and busybox-static and builds an initramfs whose /init
# starts an interactive busybox shell on the console: the "real guest" boot for hosts with
# hardware virtualisation (VT-x/SVM). On a PVM host a stock kernel cannot boot (its kernel code
# is emulated and needs instructions the emulator lacks); StockKernelTest skips there.
#
# Usage: stock-kernel.sh
# Prints the directory holding vmlinuz and initramfs.cpio.gz on its last stdout line; cached
# under ~/.cache/vmm/stock-kernel/<kernel package version> (a second run costs nothing).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/lib.sh"

sk_need_packages cpio gzip
meta=linux-image-cloud-amd64
pkg=$(apt-cache depends "$meta" 2>/dev/null | awk '/Depends: linux-image-/ { print $2; exit }')
[[ -n $pkg ]] || sk_die "apt-cache knows no $meta (run apt-get update?)"
ver=$(apt-cache policy "$pkg" | awk '/Candidate:/ { print $2 }')
cache="${XDG_CACHE_HOME:-$HOME/.cache}/vmm/stock-kernel/$pkg-$ver"
if [[ -f $cache/vmlinuz && -f $cache/initramfs.cpio.gz ]]; then
    echo "$cache"
    exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get download -q "$pkg" busybox-static >&2) || sk_die "apt-get download $pkg busybox-static failed"
for deb in "$work"/*.deb; do dpkg-deb -x "$deb" "$work/x"; done

stage="$work/initramfs"
mkdir -p "$stage"/{bin,dev,proc,sys,tmp,root}
cp "$work/x/bin/busybox" "$stage/bin/busybox"
cat >"$stage/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
echo "vmm-stock-init: $(uname -r) up, $(grep -c ^processor /proc/cpuinfo) CPU(s)"
export PS1='vmm-stock# '
exec setsid cttyhack sh -i
INIT
chmod 755 "$stage/init"
mkdir -p "$cache.tmp"
(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) | gzip -9 -n >"$cache.tmp/initramfs.cpio.gz"
cp "$work"/x/boot/vmlinuz-* "$cache.tmp/vmlinuz"
rm -rf "$cache" && mv "$cache.tmp" "$cache"
echo "$cache"
