
# --- vmm launcher: everything after the line "exit $?" below is the application jar. ---
vmm_find_jdk || exit 1
# readlink -f only when it can change the path (a symlink, a relative path, . or .. inside): each
# fork+exec costs the launcher milliseconds of CPU (issue #19).
case "$0" in
  */./*|*/../*|*//*) self=$(readlink -f "$0") ;;
  /*) if [ -L "$0" ]; then self=$(readlink -f "$0"); else self=$0; fi ;;
  *) self=$(readlink -f "$0") ;;
esac
cache="${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/vmm"
# A class-data-sharing archive made on first run cuts JVM start-up; if the cache directory is not
# writable the JVM simply runs without it. Both archives are keyed without a fork (a `stat` cost
# ~7 ms CPU per start; #19): on this build's id (assemble.sh writes vmm_build, a hash of the
# launcher and the jar, above) and on the JDK's JAVA_RUNTIME_VERSION (read from its release file
# by find-jdk.sh), which a JDK update changes: the JVM ignores an archive of another JVM silently.
jdk=$VMM_JDK_RUNTIME
case "$jdk" in ""|*[!A-Za-z0-9.+_-]*) jdk="jdk$VMM_JDK_MAJOR" ;; esac
key="${vmm_build:-0}-$jdk"
cds=""
if { [ -d "$cache" ] || mkdir -p "$cache" 2>/dev/null; } && [ -w "$cache" ]; then
  # Archives of earlier builds are useless to this one: keep only ours.
  ours=""
  for f in "$cache/vmm-$key".*; do [ -e "$f" ] && ours=1; done
  [ -n "$ours" ] || rm -rf "$cache"/vmm-*.jsa "$cache"/vmm-*.aot* 2>/dev/null
  cds="-XX:SharedArchiveFile=$cache/vmm-$key.jsa -XX:+AutoCreateSharedArchive -Xlog:cds=off -Xlog:cds+dynamic=off"
  # Better still, JDK 25's AOT cache (classes loaded and linked, lambdas and profiles): made once, in the background, by a training run of the short
  # commands (dev.vmm.aot.AotTraining) with this launcher's JVM options; used from the next start.
  # JDK 25.0.3 does not check the binary against the cache (a copied, touched or appended binary
  # still loads its classes from it; docs/benchmarks.md, session 9): the build id in the key keeps
  # builds apart, and a cache older than the binary (one changed in place) is not used but made
  # again. The training gives the cache at least the binary's time, so that a binary dated in the
  # future does not make every start train. Nothing of the training reaches the user.
  aot="$cache/vmm-$key.aot"
  if [ -f "$aot" ] && ! [ "$self" -nt "$aot" ]; then
    cds="-XX:AOTCache=$aot -Xlog:aot=off -Xlog:cds=off"
  elif [ ! -e "$aot.failed" ] && [ "${VMM_JDK_MAJOR:-0}" -ge 25 ] \
      && { find "$aot.lock" -maxdepth 0 -mmin +10 -exec rm -rf {} + ; mkdir "$aot.lock"; } 2>/dev/null; then
    # The cache is looked for again under the lock: a training that ended between the test above
    # and the mkdir has made it already (four starts at once on a loaded host trained twice).
    ( if ! { [ -f "$aot" ] && ! [ "$self" -nt "$aot" ]; }; then
        nice "$VMM_JDK/bin/java" --sun-misc-unsafe-memory-access=allow -XX:+UseSerialGC -Xms16m -Xmx1g -Xss1m \
          --enable-native-access=ALL-UNNAMED -XX:AOTCacheOutput="$aot.tmp" -cp "$self" dev.vmm.aot.AotTraining \
          && { ! [ "$self" -nt "$aot.tmp" ] || touch -r "$self" "$aot.tmp"; } && mv -f "$aot.tmp" "$aot" \
          || : > "$aot.failed"
      fi; rm -rf "$aot.tmp"* "$aot.lock" ) </dev/null >/dev/null 2>&1 &
  fi
fi
# Short commands (a dry run, image info, cpuid, help, version) end before any JIT would pay off.
# C1 only measured 0.60 -> 0.43 s for a dry run against the full tiered JIT; the interpreter alone
# (-Xint) then measured 587 -> 449 ms CPU for a dry run and 502 -> 356 ms for img info (C1 compiled
# ~750 methods per start, a quarter of the CPU, for code that runs a few hundred times; #19).
# A guest run keeps the full tiered JIT for its exit path.
# No hsperfdata file either for them (-XX:-UsePerfData: 0.33 -> 0.31 s CPU for a dry run, 0.30 ->
# 0.29 s for img info, medians of 11 at load 20; jps does not list a half-second command anyway).
short="-Xint -XX:-UsePerfData"
jit=-XX:TieredStopAtLevel=4
for a in "$@"; do  # whole arguments only: a --cmdline value containing " -h " is not a help request
  case "$a" in --dry-run|-h|--help|-V|--version) jit=$short ;; esac
done
case "${1:-} ${2:-}" in
  "img info"|"cpuid "*) jit=$short ;;
esac
# Without a JIT the AOT cache's profiles have no use, but JDK 25 still replays them: a "Training
# replay" thread that the main thread hands work to at every class initialisation (~3 % of a dry
# run's CPU samples, mostly lock hand-offs). Off for the short commands (JVM alone: dry run 238 -> 224
# ms CPU, img info 235 -> 221 ms, medians of 41, load 3; #19). A diagnostic option of JDK 25
# only: another JDK would refuse to start.
if [ "$jit" = "$short" ] && [ "${VMM_JDK_MAJOR:-0}" = 25 ]; then
  jit="$jit -XX:+UnlockDiagnosticVMOptions -XX:-AOTReplayTraining"
fi
# Guest RAM lives outside the Java heap, so the heap stays small; Serial GC has the smallest
# footprint and start-up cost. VMM_JAVA_OPTS may add or override options.
# -cp and the main class, not -jar: -jar makes the java launcher and LauncherHelper read the
# manifest of this 5 MiB file first (img info 228 -> 209 ms CPU, medians of 11; #19). The manifest
# adds nothing here (Main-Class is named, native access is enabled above; Package versions still
# come from it), and the AOT training runs with the same -cp.
exec "$VMM_JDK/bin/java" --sun-misc-unsafe-memory-access=allow -XX:+UseSerialGC -Xms16m -Xmx1g $jit -Xss1m \
  --enable-native-access=ALL-UNNAMED $cds ${VMM_JAVA_OPTS:-} -cp "$self" dev.vmm.Main "$@"
exit $?
