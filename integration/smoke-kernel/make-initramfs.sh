#!/usr/bin/env bash
# Makes the smoke-test initramfs: a gzip'd newc cpio with a static /init (init.c) and
# /smoke-marker, for -initrd / the Linux boot protocol's ramdisk fields. No root needed.
# /dev/console comes from the kernel's built-in initramfs, which is unpacked before this one.
#
# Usage: make-initramfs.sh OUT.cpio.gz
# Prints OUT.cpio.gz on its last stdout line.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/lib.sh"

(($# == 1)) || { echo "usage: ${0##*/} OUT.cpio.gz" >&2; exit 2; }
out=$1

MARKER="vmm-smoke-initramfs-v1"

sk_need_packages cpio gzip

stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/{dev,proc,sys,tmp,root}
sk_build_init "$stage/init" initramfs
echo "$MARKER" >"$stage/smoke-marker"

mkdir -p "$(dirname "$out")"
# Sorted names and -n (no gzip timestamp) keep the archive byte-for-byte reproducible;
# -R 0:0 makes everything root's whoever runs this.
(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) \
    | gzip -9 -n >"$out.tmp" || sk_die "cpio/gzip failed"
mv "$out.tmp" "$out"
echo "$out"
