#!/usr/bin/env bash
# Runs test classes of one module N times in one JVM, optionally next to a CPU hog (not in CI):
#   benchmarks/flaky/repeat.sh MODULE RUNS HOGS CLASS...
#   e.g. benchmarks/flaky/repeat.sh vmm-migration 20 4 dev.vmm.migration.MigrationEngineTest
# HOGS busy-loop processes (`yes > /dev/null`) run at the same nice level as the tests (10), so
# the tests compete for the CPU with them and with everything else on the machine. The test
# classpath comes from the dependency plugin (needs the module's test classes compiled).
set -euo pipefail
cd "$(dirname "$0")/../.."
module=$1 runs=$2 hogs=$3
shift 3
./mvnw -B -q -pl "$module" -am test-compile org.apache.maven.plugins:maven-dependency-plugin:3.9.0:build-classpath \
  -Dmdep.outputFile=target/repeat-cp.txt -Dmdep.includeScope=test >/dev/null
root=$PWD
cp="$root/$module/target/test-classes:$root/$module/target/classes:$(cat "$module/target/repeat-cp.txt")"
. vmm/src/main/launcher/find-jdk.sh
vmm_find_jdk
pids=()
for ((i = 0; i < hogs; i++)); do nice -n 10 yes >/dev/null & pids+=($!); done
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
cd "$module" # tests may read files relative to their module, as under surefire
nice -n 10 "$VMM_JDK/bin/java" --enable-native-access=ALL-UNNAMED --sun-misc-unsafe-memory-access=allow \
  -cp "$cp" "$root/benchmarks/flaky/RepeatTests.java" "$runs" "$@"
