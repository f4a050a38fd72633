#!/usr/bin/env bash
# Boots the smoke kernel under QEMU/KVM and prints every console line with the seconds since
# QEMU was started: the reference the VMM's own smoke boots are compared with
# (docs/smoke-kernel.md lists the measured runs).
#
# Usage: qemu-boot.sh [options] [-- extra QEMU args]
#   -k FILE   kernel (default: vmlinux from build.sh, i.e. the PVH entry)
#   -r IMG    ext2 root image on virtio-blk (adds root=/dev/vda rw rootfstype=ext2)
#   -i FILE   initramfs (-initrd)
#   -a ARGS   extra kernel command line
#   -A        leave ACPI on (default: acpi=off)
#   -s N      vCPUs (default 1)
#   -m MB     memory (default 256)
#   -t SECS   kill QEMU after this long (default 180)
# The PVM workarounds (clearcpuid=..., -cpu qemu64,+xsaveerptr) are added when
# /sys/module/kvm_pvm exists.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

kernel="" root="" initrd="" extra="" acpi=0 smp=1 mem=256 timeout=180
while getopts "k:r:i:a:As:m:t:" o; do
    case $o in
        k) kernel=$OPTARG ;; r) root=$OPTARG ;; i) initrd=$OPTARG ;; a) extra=$OPTARG ;;
        A) acpi=1 ;; s) smp=$OPTARG ;; m) mem=$OPTARG ;; t) timeout=$OPTARG ;;
        *) sed -n "5,16p" "$0" >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
[[ "${1:-}" == -- ]] && shift

[[ -n "$kernel" ]] || kernel="$("$here/build.sh" | tail -n1)/vmlinux"

append="console=ttyS0"
((acpi)) || append+=" acpi=off"
append+=" panic=-1"
[[ -d /sys/module/kvm_pvm ]] && append+=" clearcpuid=smap,smep,cx16,xsave,popcnt,fsgsbase,pcid,invpcid,rdrand,rdseed,avx,avx2,avx512f,bmi1,bmi2,rtm,hle,la57,umip,pku"
args=(-accel kvm -m "$mem" -smp "$smp" -no-reboot -nographic -kernel "$kernel")
# PVM: qemu64 is an AMD model without XSAVEERPTR, so the guest runs the FXSAVE-leak workaround
# (fnclex) on each return to user mode, which the PVM emulator cannot execute. (A later -cpu in
# the extra arguments wins.)
[[ -d /sys/module/kvm_pvm ]] && args+=(-cpu qemu64,+xsaveerptr)
if [[ -n "$root" ]]; then
    append+=" root=/dev/vda rw rootfstype=ext2"
    args+=(-drive "file=$root,if=virtio,format=raw")
fi
[[ -n "$initrd" ]] && args+=(-initrd "$initrd")
[[ -n "$extra" ]] && append+=" $extra"
args+=(-append "$append" "$@")

echo "# qemu-system-x86_64 ${args[*]}" >&2
start=$EPOCHREALTIME
# Sets $elapsed to the seconds since $start, 3 decimals (EPOCHREALTIME is "s.micros"). No
# subshell: forking one per line made the stamps lag behind bursts of console output.
elapsed() {
    local us=$(( ${EPOCHREALTIME/./} - ${start/./} ))
    printf -v elapsed '%4d.%03d' $((us / 1000000)) $((us / 1000 % 1000))
}
# QEMU writes the serial console straight to its stdout, byte by byte: stamping each line
# as it arrives measures when the guest printed it (to within the pipe's latency).
# (No tr/sed in the pipe: they would buffer and smear the times.)
set +e
timeout -k 5 "$timeout" qemu-system-x86_64 "${args[@]}" </dev/null 2>&1 |
    while IFS= read -r line || [[ -n "$line" ]]; do
        elapsed
        printf '%s %s\n' "$elapsed" "${line%$'\r'}"
    done
rc=${PIPESTATUS[0]}
set -e
elapsed
printf '%s # qemu exit status %s%s\n' "$elapsed" "$rc" "$( ((rc == 124)) && echo ' (timeout)')"
