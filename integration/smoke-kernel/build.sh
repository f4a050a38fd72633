#!/usr/bin/env bash
# Builds the smoke-test guest kernel (vmlinux with a PVH entry, and bzImage) from Debian's
# linux-source-6.1 package: tinyconfig + config-fragment + pvm-host.patch.
#
# Usage: build.sh            (no arguments; environment below)
# Prints the output directory (vmlinux, bzImage, config, System.map, build.log) on its LAST
# stdout line; everything else goes to stderr. Cached: a second run with the same inputs costs
# a dpkg-query and a hash.
#
# Environment:
#   XDG_CACHE_HOME     cache root (default ~/.cache); output in $XDG_CACHE_HOME/vmm/smoke-kernel/<key>/
#   SMOKE_KERNEL_JOBS  make -j (default: nproc)
#   SMOKE_KERNEL_KEEP_BUILD=1   keep the unpacked/built source tree (default: deleted, ~1.5 GB)
#   SMOKE_KERNEL_VERBOSE=1      stream the make output to stderr (default: only to build.log)
#
# The cache key is a hash of: the installed linux-source-6.1 version, config-fragment's options,
# pvm-host.patch, RECIPE_VERSION below and the gcc version. Safe to run concurrently: runs
# serialise on a lock file, and an output directory appears only complete (renamed into place).
set -euo pipefail

# Bump when the build steps change in a way that changes the output.
RECIPE_VERSION=1

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/lib.sh"

fragment="$here/config-fragment"
patchfile="$here/pvm-host.patch"
cache_root="${XDG_CACHE_HOME:-${HOME:?neither XDG_CACHE_HOME nor HOME is set}/.cache}/vmm/smoke-kernel"
jobs="${SMOKE_KERNEL_JOBS:-$(nproc)}"

# What the build really needs (measured on Debian 12, see docs/smoke-kernel.md):
#   linux-source-6.1  the source tarball in /usr/src (its Depends pull xz-utils, binutils)
#   make, gcc         (build-essential: also libc6-dev for the host tools, patch)
#   bc                kernel/time/timeconst.h is generated with bc
#   bison, flex       scripts/kconfig and scripts/genksyms parsers
#   libelf-dev        objtool (x86-64 ORC unwinder, selected by tinyconfig)
#   lz4               CONFIG_KERNEL_LZ4 compresses the bzImage payload with the lz4 tool
# Not needed with this config: libssl-dev (no module signing, no trusted keyring), kmod (no
# modules), cpio (no IKHEADERS; make-initramfs.sh installs it itself).
packages=(linux-source-6.1 build-essential bc bison flex libelf-dev lz4 xz-utils patch)

# The installed linux-source-6.1 version, empty if it is not installed.
source_version() {
    local v
    v="$(dpkg-query -W -f='${db:Status-Status} ${Version}' linux-source-6.1 2>/dev/null)" || true
    [[ "$v" == installed\ * ]] && echo "${v#installed }"
    return 0
}

# The cache key, from the source version ($src_version) and our inputs.
compute_key() {
    { echo "recipe $RECIPE_VERSION"
      echo "linux-source-6.1 $src_version"
      echo "gcc $(gcc -dumpfullversion 2>/dev/null)"
      # Only the options: editing a comment in the fragment must not cost a rebuild.
      echo "fragment"; grep -E '^[^#[:space:]]' "$fragment"
      echo "patch"; cat "$patchfile"; } | sha256sum | cut -c1-16
}

# Fast path without the lock: an output directory only ever appears complete (it is renamed
# into place), so a hit is safe to use even while another build runs.
src_version="$(source_version)"
key="$([[ -z "$src_version" ]] || compute_key)"
if [[ -n "$key" && -f "$cache_root/$key/vmlinux" && -f "$cache_root/$key/bzImage" ]]; then
    sk_log "cached (linux-source-6.1 $src_version)"
    echo "$cache_root/$key"
    exit 0
fi

mkdir -p "$cache_root"
exec 9>"$cache_root/.lock"
# One build at a time on a machine (2 cores: two parallel kernel builds only slow each other
# down); a run that waited then usually finds the output the other one built.
if ! flock -n 9; then
    sk_log "another smoke-kernel build holds $cache_root/.lock; waiting"
    flock 9
fi

sk_need_packages "${packages[@]}"

src_version="$(source_version)"
[[ -n "$src_version" ]] || sk_die "linux-source-6.1 is still not installed"
key="$(compute_key)"
out="$cache_root/$key"
if [[ -f "$out/vmlinux" && -f "$out/bzImage" ]]; then
    sk_log "cached (linux-source-6.1 $src_version)"
    echo "$out"
    exit 0
fi

tarball="$(ls /usr/src/linux-source-6.1.tar.* 2>/dev/null | head -n1)"
[[ -n "$tarball" ]] || sk_die "linux-source-6.1 is installed but /usr/src/linux-source-6.1.tar.* is missing"

work="$cache_root/build-$key"
staging="$cache_root/.staging-$key"
# We hold the lock, so no other build is running: whatever build trees and half-written outputs
# are here were left by killed runs (or SMOKE_KERNEL_KEEP_BUILD=1) and only take space.
rm -rf "$cache_root"/build-* "$cache_root"/.staging-*
mkdir -p "$work" "$staging"
log="$staging/build.log"
: >"$log"
cleanup() { [[ "${SMOKE_KERNEL_KEEP_BUILD:-0}" == 1 ]] || rm -rf "$work"; rm -rf "$staging"; }
trap cleanup EXIT

# Runs a build step with its output in build.log (and on stderr if verbose); on failure shows
# the end of the log, which is where the compiler error is.
step() {
    sk_log "$1"; shift
    local rc=0
    if [[ "${SMOKE_KERNEL_VERBOSE:-0}" == 1 ]]; then
        "$@" 2>&1 | tee -a "$log" >&2 || rc=${PIPESTATUS[0]}
    else
        "$@" >>"$log" 2>&1 || rc=$?
    fi
    if ((rc != 0)); then
        sk_log "failed (exit $rc): $*"
        tail -n 60 "$log" >&2
        exit "$rc"
    fi
}

start=$SECONDS
step "unpacking $tarball ($src_version)" tar -C "$work" --strip-components=1 -xf "$tarball"
cd "$work"
step "make tinyconfig" make -s tinyconfig
step "merging config-fragment" scripts/kconfig/merge_config.sh -m .config "$fragment"
step "make olddefconfig" make -s olddefconfig

# merge_config.sh -m does not check anything: an option whose dependencies are not met is
# silently dropped by olddefconfig. Check every line of the fragment against the result.
bad=0
while IFS= read -r line; do
    [[ "$line" =~ ^(CONFIG_[A-Za-z0-9_]+)=(.*)$ ]] || continue
    opt=${BASH_REMATCH[1]} want=${BASH_REMATCH[2]}
    got="$(grep -E "^$opt=" .config | cut -d= -f2- || true)"
    if [[ "$want" == n ]]; then
        [[ -z "$got" ]] || { sk_log "config: $opt=$got, wanted unset"; bad=1; }
    elif [[ "$got" != "$want" ]]; then
        sk_log "config: $opt=${got:-<unset>}, wanted $want"; bad=1
    fi
done <"$fragment"
((bad == 0)) || sk_die "the final .config does not have the options config-fragment asks for (see above)"

step "applying pvm-host.patch" patch -p1 --forward --no-backup-if-mismatch -i "$patchfile"
step "make -j$jobs vmlinux bzImage" make -j"$jobs" vmlinux bzImage

# The PVH entry note is what lets a VMM boot vmlinux directly; check it is really there.
if command -v readelf >/dev/null && ! readelf -n vmlinux | grep -q 'Xen'; then
    sk_die "vmlinux has no Xen ELF notes: the PVH entry point is missing"
fi

cp vmlinux "$staging/vmlinux"
cp arch/x86/boot/bzImage "$staging/bzImage"
cp .config "$staging/config"
cp System.map "$staging/System.map"
{ echo "linux-source-6.1 $src_version"
  echo "gcc $(gcc -dumpfullversion)"
  echo "recipe $RECIPE_VERSION"
  echo "built $(date -u +%Y-%m-%dT%H:%M:%SZ) in $((SECONDS - start)) s"
} >"$staging/BUILD-INFO"
rm -rf "$out"
mv "$staging" "$out"
sk_log "built in $((SECONDS - start)) s"
echo "$out"
