#!/usr/bin/env bash
# Mutation testing with PIT (not in CI; docs/testing.md). One package at a time, one thread:
#   benchmarks/mutation/run.sh MODULE PACKAGE [TESTS]
#   e.g. benchmarks/mutation/run.sh vmm-migration dev.vmm.migration.xbzrle
#        benchmarks/mutation/run.sh vmm-virtio dev.vmm.block.vpc dev.vmm.block.MalformedImageTest,dev.vmm.block.QemuReferenceReadTest
# Mutates the classes of PACKAGE (not its subpackages: they are excluded), runs TESTS against each
# mutant and prints the score; the report is in MODULE/target/pit-reports/index.html (mutations.csv
# next to it). PIT_OPTS (environment) adds Maven/PIT properties, e.g. PIT_OPTS='-DtimeoutConstant=2000'
# for packages whose mutants hang worker threads. TESTS is a comma-separated list of packages (their tests and their subpackages'),
# test classes or PIT globs; default: PACKAGE.
set -euo pipefail
cd "$(dirname "$0")/../.."
if (($# < 2)); then
  echo "usage: $0 MODULE PACKAGE [TEST-PACKAGE]" >&2
  exit 2
fi
module=$1 pkg=$2 tests=${3:-$2}
# a package name (last segment in lower case) stands for all its test classes
globs=$(tr ',' '\n' <<<"$tests" | sed -E '/(^|\.)[a-z0-9_]+$/s/$/.*/' | paste -sd,)
# PIT's own properties (-DtargetClasses=a,b is a list): a glob's * also matches dots, hence the
# exclusion of PACKAGE.*.* (subpackages; nested classes are Outer$Inner, without a dot)
./mvnw -B -q -Pmutation -pl "$module" -am test-compile org.pitest:pitest-maven:mutationCoverage \
  -DtargetClasses="$pkg.*" -DexcludedClasses="$pkg.*.*" -DtargetTests="$globs" ${PIT_OPTS:-}
csv="$module/target/pit-reports/mutations.csv"
# mutations.csv: file,class,mutator,method,line,status,test - count per status, only the package itself
awk -F, -v pkg="$pkg" '{ c=$2; sub(/\.[^.]*$/, "", c); if (c != pkg) next; n++; s[$6]++ }
  END { killed = s["KILLED"] + s["TIMED_OUT"] + s["MEMORY_ERROR"] + s["RUN_ERROR"];
        printf "%s: %d mutants, %d killed (%.0f%%), %d survived, %d no coverage\n", pkg, n, killed, n ? 100 * killed / n : 0, s["SURVIVED"], s["NO_COVERAGE"] }' "$csv"
