#!/usr/bin/env bash
# Start-up without KVM (issue #19, target 1's KVM-free part): wall time, CPU time (user+sys: less
# sensitive to a busy host than wall time) and peak RSS of
#   java-hello   a plain Java "hello" on the same JDK (the floor for any JVM program)
#   dry-run      vmm run --dry-run --disk path=IMG --rng   (everything checked, machine printed, exit 0)
#   img-info     vmm img info IMG.qcow2
# Medians of REPS interleaved runs after one unmeasured warm-up each (the launcher's CDS/AOT cache).
#   benchmarks/startup/no-kvm.sh            REPS=21 benchmarks/startup/no-kvm.sh
# BEFORE=/path/to/an/older/vmm adds its dry-run@before and img-info@before rows to the same loop
# (each binary then has its own cache directory under the run's temporary directory).
# Not run in CI. Report the host's load (printed) with the figures.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
REPS=${REPS:-11}
VMM=${VMM:-$ROOT/vmm/target/vmm}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
. "$ROOT/vmm/src/main/launcher/find-jdk.sh"
vmm_find_jdk
JAVA="$VMM_JDK/bin/java"
cat > "$OUT/Hello.java" <<'J'
public class Hello { public static void main(String[] a) { System.out.println("hello"); } }
J
"$VMM_JDK/bin/javac" -d "$OUT" "$OUT/Hello.java"
truncate -s 64M "$OUT/disk.img"
qemu-img create -q -f qcow2 "$OUT/disk.qcow2" 20G
[[ -x $VMM ]] || (cd "$ROOT" && ./mvnw -q package -DskipTests -pl vmm -am)

CACHES=("${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}")
declare -A CMD=(
  [java-hello]="$JAVA -cp $OUT Hello"
  [dry-run]="$VMM run --dry-run --disk path=$OUT/disk.img --rng"
  [img-info]="$VMM img info $OUT/disk.qcow2"
)
NAMES=(java-hello dry-run img-info)
if [[ -n ${BEFORE:-} ]]; then
  # Each launcher keeps only its own build's archives in its cache directory: one directory each.
  CACHES=("$OUT/cache-after" "$OUT/cache-before")
  CMD[dry-run]="env XDG_CACHE_HOME=$OUT/cache-after ${CMD[dry-run]}"
  CMD[img-info]="env XDG_CACHE_HOME=$OUT/cache-after ${CMD[img-info]}"
  CMD[dry-run@before]="env XDG_CACHE_HOME=$OUT/cache-before $BEFORE run --dry-run --disk path=$OUT/disk.img --rng"
  CMD[img-info@before]="env XDG_CACHE_HOME=$OUT/cache-before $BEFORE img info $OUT/disk.qcow2"
  NAMES=(java-hello dry-run@before dry-run img-info@before img-info)
fi
for n in "${NAMES[@]}"; do ${CMD[$n]} >/dev/null 2>&1 || { echo "$n failed: ${CMD[$n]}" >&2; exit 1; }; done
# The first start of a build trains the launcher's AOT cache in the background: wait for it (300 s
# at most: a loaded host trains slowly) so that neither the training's CPU nor a missing cache lands in the figures.
for c in "${CACHES[@]}"; do
  for ((t = 0; t < 300; t++)); do
    compgen -G "$c/vmm/vmm-*.aot.lock" >/dev/null || break
    sleep 1
  done
done
# CPU time from perf's task-clock (ms resolution) where perf works: /usr/bin/time prints user and
# system time in 10 ms steps, a tenth of the margin left to the target. task-clock also counts
# /usr/bin/time itself (~1 ms, the same for every runner). Without perf: user+sys from time.
PERF=""
if command -v perf >/dev/null && perf stat -x, -e task-clock -o /dev/null true 2>/dev/null; then PERF=1; fi
for ((i = 0; i < REPS; i++)); do
  for n in "${NAMES[@]}"; do
    if [[ -n $PERF ]]; then
      perf stat -x, -e task-clock -o "$OUT/cpu.one" -- /usr/bin/time -f "$n %e %M %U %S" -a -o "$OUT/times" ${CMD[$n]} >/dev/null 2>&1
      echo "$n $(awk -F, '/task-clock/{print $1 / 1000}' "$OUT/cpu.one")" >> "$OUT/cpu"
    else
      /usr/bin/time -f "$n %e %M %U %S" -a -o "$OUT/times" ${CMD[$n]} >/dev/null 2>&1
    fi
  done
done
[[ -n $PERF ]] || awk '{print $1, $4 + $5}' "$OUT/times" > "$OUT/cpu"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores, REPS=$REPS, CPU from $([[ -n $PERF ]] && echo "perf task-clock" || echo "/usr/bin/time user+sys")"
printf '%-15s %9s %8s %12s %7s %9s\n' runner "wall (s)" "CPU (s)" "peak RSS MiB" "× hello" "CPU × hello"
median() { sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
hello=$(awk '$1=="java-hello"{print $2}' "$OUT/times" | median)
hellocpu=$(awk '$1=="java-hello"{print $2}' "$OUT/cpu" | median)
ratios=()
for n in "${NAMES[@]}"; do
  read -r wall rss < <(awk -v n="$n" '$1==n{print $2, $3}' "$OUT/times" | sort -n |
    awk '{w[NR]=$1; r[NR]=$2} END{m=int((NR+1)/2); print w[m], r[m]}')
  cpu=$(awk -v n="$n" '$1==n{print $2}' "$OUT/cpu" | median)
  printf '%-15s %9s %8.3f %12d %7.1f %9.2f\n' "$n" "$wall" "$cpu" "$((rss / 1024))" "$(echo "$wall / $hello" | bc -l)" "$(echo "$cpu / $hellocpu" | bc -l)"
  ratios+=("$n $(echo "$cpu / $hellocpu" | bc -l)")
done
# Issue #19's target: each command's CPU within 2.0x the Java hello's (CPU: wall is mostly waiting when loaded).
for r in "${ratios[@]}"; do
  read -r n x <<<"$r"
  [[ $n == java-hello || $n == *@before ]] && continue
  printf 'target %-10s CPU %.2fx hello (<= 2.0x: %s)\n' "$n" "$x" "$(echo "$x <= 2.0" | bc -l | sed 's/1/reached/;s/0/not reached/')"
done
