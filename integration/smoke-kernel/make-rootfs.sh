#!/usr/bin/env bash
# Makes the smoke-test root filesystem: an ext2 image (for root=/dev/vda rw rootfstype=ext2)
# with a static /sbin/init (init.c) and /smoke-marker. Built with `mke2fs -d` from a staged
# directory: no root, loop device or mount needed, so it works in CI containers.
#
# Usage: make-rootfs.sh OUT.img [SIZE]     SIZE as for mke2fs (default 8M)
# Prints OUT.img on its last stdout line.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/lib.sh"

(($# >= 1 && $# <= 2)) || { echo "usage: ${0##*/} OUT.img [SIZE]" >&2; exit 2; }
out=$1 size=${2:-8M}

# The marker the guest's init prints; tests look for it on the console.
MARKER="vmm-smoke-rootfs-v1"

sk_need_packages e2fsprogs
export PATH="$PATH:/sbin:/usr/sbin"   # mke2fs lives in /sbin, not always on a user's PATH

stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
# /dev stays empty: the kernel mounts devtmpfs there (CONFIG_DEVTMPFS_MOUNT).
mkdir -p "$stage"/{sbin,dev,proc,sys,tmp,root}
sk_build_init "$stage/sbin/init" rootfs
echo "$MARKER" >"$stage/smoke-marker"

mkdir -p "$(dirname "$out")"
rm -f "$out"
# root_owner: files belong to root in the image even when this runs as another user.
# -L: a label makes the disk recognisable; -q: mke2fs is chatty; -F: write to a regular file.
mke2fs -q -F -t ext2 -L smoke-root -E root_owner=0:0 -d "$stage" "$out" "$size" >&2 \
    || sk_die "mke2fs failed"
echo "$out"
