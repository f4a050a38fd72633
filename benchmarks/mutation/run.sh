#!/usr/bin/env bash
# Mutation testing with PIT (not in CI; docs/testing.md). One package at a time, one thread:
#   benchmarks/mutation/run.sh MODULE PACKAGE [TESTS]
#   e.g. benchmarks/mutation/run.sh vmm-migration dev.vmm.migration.xbzrle
# Mutates the classes of PACKAGE (not its subpackages), runs the tests of TESTS (default: the
# same package) against each mutant, and prints the score; the report is in
# MODULE/target/pit-reports/index.html (mutations.csv next to it).
set -euo pipefail
cd "$(dirname "$0")/../.."
if (($# < 2)); then
  echo "usage: $0 MODULE PACKAGE [TEST-PACKAGE]" >&2
  exit 2
fi
module=$1 pkg=$2 tests=${3:-$2}
./mvnw -B -q -Pmutation -pl "$module" -am test-compile org.pitest:pitest-maven:mutationCoverage \
  -Dpit.targetClasses="$pkg.*" -Dpit.targetTests="$tests.*"
csv="$module/target/pit-reports/mutations.csv"
# mutations.csv: file,class,mutator,method,line,status,test - count per status, only the package itself
awk -F, -v pkg="$pkg" '{ c=$2; sub(/\.[^.]*$/, "", c); if (c != pkg) next; n++; s[$6]++ }
  END { killed = s["KILLED"] + s["TIMED_OUT"] + s["MEMORY_ERROR"] + s["RUN_ERROR"];
        printf "%s: %d mutants, %d killed (%.0f%%), %d survived, %d no coverage\n", pkg, n, killed, n ? 100 * killed / n : 0, s["SURVIVED"], s["NO_COVERAGE"] }' "$csv"
