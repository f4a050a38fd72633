#!/usr/bin/env bash
# Linux boot time: the smoke kernel (integration/smoke-kernel) from process start to its boot
# milestones, `vmm run` vs QEMU on the same kernel, initramfs, memory, vCPUs and command line.
#
#   benchmarks/boot/run.sh                       # REPS=1, runners "vmm qemu-pc qemu-microvm"
#   REPS=3 RUNNERS="vmm qemu-microvm" benchmarks/boot/run.sh
#   OUT=/tmp/vmm-bench-boot SUMMARY_ONLY=1 benchmarks/boot/run.sh   # re-print a run's table
#
# Runners (all boot the PVH vmlinux with -initrd, console=ttyS0 acpi=off panic=-1, plus the
# clearcpuid= list and QEMU's -cpu qemu64,+xsaveerptr on a PVM host, as the smoke tests do):
#   vmm           vmm run --kernel vmlinux --initrd initramfs.cpio.gz
#   qemu-pc       qemu-system-x86_64 -M pc -kernel vmlinux (SeaBIOS + the PVH option ROM)
#   qemu-microvm  qemu-system-x86_64 -M microvm -kernel vmlinux (qboot; PVH entry)
# Every console line is stamped with the seconds since the process was started (bash
# EPOCHREALTIME, no buffering in the pipe). Milestones: "Linux version" (kernel entered),
# "Freeing unused kernel" (initcalls done) and "Run /init" (init started), where the runner is
# stopped (on a PVM host init would fail next: user mode cannot make system calls). Medians per
# runner; the ratio is runner / vmm. Not run in CI: one QEMU boot takes 5-10 minutes here.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${OUT:-/tmp/vmm-bench-boot}
REPS=${REPS:-1}
RUNNERS=${RUNNERS:-"vmm qemu-pc qemu-microvm"}
VMM=${VMM:-$ROOT/vmm/target/vmm}
QEMU=${QEMU:-qemu-system-x86_64}
MEM=${MEM:-256}
CPUS=${CPUS:-1}
TIMEOUT=${TIMEOUT:-1500}
MILESTONES=("Linux version" "Freeing unused kernel" "Run /init")
RESULTS=$OUT/results.tsv

summary() {
    echo
    echo "# Smoke-kernel boot, ${MEM} MiB, ${CPUS} vCPU(s); seconds from process start, median of the reps"
    awk -F'\t' -v runners="$RUNNERS" '
        NR == 1 { for (i = 3; i <= NF; i++) name[i] = $i; nf = NF; next }
        { n = ++cnt[$1]; for (i = 3; i <= nf; i++) v[$1, i, n] = $i }
        function median(r, i,   a, k, m, j, t) {
            m = cnt[r]; for (k = 1; k <= m; k++) a[k] = v[r, i, k]
            for (k = 2; k <= m; k++) { t = a[k]; for (j = k - 1; j >= 1 && a[j] + 0 > t + 0; j--) a[j + 1] = a[j]; a[j + 1] = t }
            return (m % 2) ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
        }
        END {
            printf "%-14s %5s", "runner", "reps"; for (i = 3; i <= nf; i++) printf "  %22s", name[i]; printf "  %s\n", "ratio (Run /init)"
            nr = split(runners, R, " ")
            for (k = 1; k <= nr; k++) { r = R[k]; if (!cnt[r]) continue
                for (i = 3; i <= nf; i++) med[r, i] = median(r, i) }
            for (k = 1; k <= nr; k++) { r = R[k]; if (!cnt[r]) continue
                printf "%-14s %5d", r, cnt[r]; for (i = 3; i <= nf; i++) printf "  %22.1f", med[r, i]
                if (cnt["vmm"] && med["vmm", nf] > 0 && med[r, nf] > 0) printf "  %.2fx\n", med[r, nf] / med["vmm", nf]; else printf "  -\n" }
        }' "$RESULTS"
    echo "(-1 = milestone not seen; raw: $RESULTS, console logs: $OUT/logs/)"
}

if [[ -n ${SUMMARY_ONLY:-} ]]; then summary; exit 0; fi

mkdir -p "$OUT/logs"
KDIR=$("$ROOT/integration/smoke-kernel/build.sh" | tail -n1)
INITRD=$("$ROOT/integration/smoke-kernel/make-initramfs.sh" "$OUT/initramfs.cpio.gz" | tail -n1)
[[ -x $VMM ]] || (cd "$ROOT" && ./mvnw -q package -DskipTests -pl vmm -am)

CMDLINE="console=ttyS0 acpi=off panic=-1"
QEMU_CPU=()
if [[ -d /sys/module/kvm_pvm ]]; then
    CMDLINE+=" clearcpuid=smap,smep,cx16,xsave,popcnt,fsgsbase,pcid,invpcid,rdrand,rdseed,avx,avx2,avx512f,bmi1,bmi2,rtm,hle,la57,umip,pku"
    QEMU_CPU=(-cpu qemu64,+xsaveerptr)
fi
QEMU_ARGS=(-accel kvm -m "$MEM" -smp "$CPUS" -display none -nodefaults -serial stdio -no-reboot "${QEMU_CPU[@]}"
           -kernel "$KDIR/vmlinux" -initrd "$INITRD" -append "$CMDLINE")

command_for() {
    case $1 in
        vmm) echo "$VMM" run -q --memory "${MEM}M" --cpus "$CPUS" --kernel "$KDIR/vmlinux" --initrd "$INITRD" ;;
        qemu-pc) echo "$QEMU" -M pc ;;
        qemu-microvm) echo "$QEMU" -M microvm ;;
        *) echo "unknown runner $1" >&2; exit 2 ;;
    esac
}

# One boot: stamps each console line, writes the log, prints the milestone seconds (tab-separated).
boot() {
    local runner=$1 log=$2 start elapsed line us
    local -a cmd
    read -r -a cmd <<<"$(command_for "$runner")"
    if [[ $runner == vmm ]]; then cmd+=(--cmdline "$CMDLINE"); else cmd+=("${QEMU_ARGS[@]}"); fi
    echo "# ${cmd[*]}" >"$log"
    start=$EPOCHREALTIME
    # The run is over at the last milestone: stop the runner there (QEMU -M microvm does not end
    # on the guest's panic reboot; it spins until killed).
    exec {fd}< <(exec timeout "$TIMEOUT" "${cmd[@]}" </dev/null 2>&1)
    local pid=$!
    while IFS= read -r line <&$fd; do
        us=$(( ${EPOCHREALTIME/./} - ${start/./} ))
        printf -v elapsed '%d.%03d' $((us / 1000000)) $((us / 1000 % 1000))
        printf '%s %s\n' "$elapsed" "$line" >>"$log"
        [[ $line == *"${MILESTONES[-1]}"* ]] && break
    done
    kill "$pid" 2>/dev/null || true
    exec {fd}<&-
    wait "$pid" 2>/dev/null || true
    local m t out=""
    for m in "${MILESTONES[@]}"; do
        t=$(awk -v m="$m" 'index($0, m) { print $1; exit }' "$log")
        out+=$'\t'"${t:--1}"
    done
    printf '%s' "${out#$'\t'}"
}

{ printf 'runner\trep'; printf '\t%s' "${MILESTONES[@]}"; printf '\n'; } >"$RESULTS"
echo "# load before: $(uptime)"
for ((rep = 1; rep <= REPS; rep++)); do
    for r in $RUNNERS; do
        t=$(boot "$r" "$OUT/logs/$r-r$rep.log")
        printf '%s\t%d\t%s\n' "$r" "$rep" "$t" >>"$RESULTS"
        echo "$r rep $rep: $t"
    done
done
echo "# load after: $(uptime)"
summary
