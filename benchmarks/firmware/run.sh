#!/usr/bin/env bash
# Firmware boot: process start -> GRUB's marker on COM1, SeaBIOS -> GRUB from the same image, for
#   vmm-pc      vmm run --machine pc  --disk path=grub.qcow2       (virtio-blk)
#   vmm-q35     vmm run --machine q35 --ahci path=grub.qcow2       (ICH9 AHCI)
#   qemu-pc     qemu-system-x86_64 -M pc  -drive file=grub.qcow2,if=virtio
#   qemu-q35    qemu-system-x86_64 -M q35 -device ide-hd on the ICH9 AHCI
# Both use Debian's SeaBIOS (/usr/share/seabios/bios-256k.bin) and the GRUB image the integration
# tests build (grub-mkrescue; COM1 terminal; prints "vmm-grub-marker: start", lspci, then halts).
#
#   benchmarks/firmware/run.sh                 REPS=9 RUNNERS="vmm-q35 qemu-q35" benchmarks/firmware/run.sh
#
# Times are wall-clock from just before the process starts to the marker line on its stdout (the
# serial console), in ms; runs are interleaved, one unmeasured warm-up each; medians and the
# vmm/QEMU ratio per machine. Without /dev/kvm only the QEMU runners run (TCG, so their figures are
# not comparable with a KVM run) and the vmm side is reported as needing /dev/kvm. Not run in CI.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${OUT:-/tmp/vmm-bench-firmware}
REPS=${REPS:-7}
VMM=${VMM:-$ROOT/vmm/target/vmm}
QEMU=${QEMU:-qemu-system-x86_64}
MARKER="vmm-grub-marker: start"

if [[ -r /dev/kvm && -w /dev/kvm ]]; then
    KVM=1; ACCEL=kvm; RUNNERS=${RUNNERS:-"vmm-pc qemu-pc vmm-q35 qemu-q35"}
else
    KVM=0; ACCEL=tcg; RUNNERS=${RUNNERS:-"qemu-pc qemu-q35"}
    echo "no usable /dev/kvm: the vmm side needs /dev/kvm and is skipped; QEMU runs under TCG" >&2
fi
for t in grub-mkrescue xorriso mformat qemu-img "$QEMU"; do
    command -v "$t" >/dev/null || { echo "missing $t (apt-get install grub-pc-bin grub-common xorriso mtools qemu-utils qemu-system-x86)" >&2; exit 2; }
done

mkdir -p "$OUT/iso/boot/grub" "$OUT/logs"
cat > "$OUT/iso/boot/grub/grub.cfg" <<CFG
serial --unit=0 --speed=115200
terminal_input serial
terminal_output serial
set timeout=0
echo "$MARKER"
lspci
halt
CFG
grub-mkrescue -o "$OUT/grub.iso" "$OUT/iso" --modules="serial lspci halt echo" >/dev/null 2>&1
qemu-img convert -f raw -O qcow2 "$OUT/grub.iso" "$OUT/grub.qcow2"
if [[ $KVM == 1 && ! -x $VMM ]]; then (cd "$ROOT" && ./mvnw -q package -DskipTests -pl vmm -am); fi

cmd_of() {
    case $1 in
        vmm-pc) echo "$VMM run -q -m 256M --machine pc --disk path=$OUT/grub.qcow2,format=qcow2,bootindex=0" ;;
        vmm-q35) echo "$VMM run -q -m 256M --machine q35 --ahci path=$OUT/grub.qcow2,format=qcow2,bootindex=0" ;;
        qemu-pc) echo "$QEMU -accel $ACCEL -M pc -m 256 -nodefaults -display none -serial stdio -no-reboot -drive file=$OUT/grub.qcow2,if=virtio,format=qcow2" ;;
        qemu-q35) echo "$QEMU -accel $ACCEL -M q35 -m 256 -nodefaults -display none -serial stdio -no-reboot -drive file=$OUT/grub.qcow2,if=none,id=d0,format=qcow2 -device ide-hd,drive=d0,bus=ide.0" ;;
        *) echo "unknown runner $1" >&2; exit 2 ;;
    esac
}

# One run: prints ms from start to the marker (or "fail").
measure() {
    local log=$OUT/logs/$1-$2.out start
    start=$(date +%s%N)
    # shellcheck disable=SC2046
    timeout 300 $(cmd_of "$1") </dev/null 2>"$OUT/logs/$1-$2.err" | {
        while IFS= read -r line; do
            printf '%s\n' "$line" >> "$log"
            if [[ $line == *"$MARKER"* ]]; then echo $(( ($(date +%s%N) - start) / 1000000 )); cat >> "$log"; exit 0; fi
        done
        echo fail
    }
}

: > "$OUT/results.tsv"
for r in $RUNNERS; do measure "$r" warmup >/dev/null; done
for ((i = 1; i <= REPS; i++)); do
    for r in $RUNNERS; do printf '%s\t%s\t%s\n' "$r" "$i" "$(measure "$r" "$i")" >> "$OUT/results.tsv"; done
done

median() { grep -P "^$1\t" "$OUT/results.tsv" | cut -f3 | grep -v fail | sort -n | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]; else print "n/a"}'; }
printf '%-9s %10s %6s\n' runner median_ms runs
for r in $RUNNERS; do printf '%-9s %10s %6s\n' "$r" "$(median "$r")" "$(grep -cP "^$r\t[0-9]+\t[0-9]+$" "$OUT/results.tsv" || true)"; done
if [[ $KVM == 1 ]]; then
    for m in pc q35; do
        v=$(median vmm-$m); q=$(median qemu-$m)
        [[ $v != n/a && $q != n/a ]] && awk -v v="$v" -v q="$q" -v m="$m" 'BEGIN {printf "%s: vmm/QEMU = %.2f\n", m, v / q}'
    done
else
    echo "vmm-pc, vmm-q35: need /dev/kvm (not run); accel=tcg for QEMU"
fi
