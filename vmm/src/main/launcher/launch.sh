
# --- vmm launcher: everything after the line "exit $?" below is the application jar. ---
vmm_find_jdk || exit 1
self=$(readlink -f "$0")
cache="${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/vmm"
# A class-data-sharing archive made on first run (keyed by this binary's size and time) cuts
# JVM start-up; if the cache directory is not writable the JVM simply runs without it.
key=$(stat -c '%s-%Y' "$self" 2>/dev/null || echo 0)
cds=""
if mkdir -p "$cache" 2>/dev/null && [ -w "$cache" ]; then
  # Archives of earlier builds are useless to this one: keep only ours.
  [ -e "$cache/vmm-$key.jsa" ] || rm -f "$cache"/vmm-*.jsa 2>/dev/null
  cds="-XX:SharedArchiveFile=$cache/vmm-$key.jsa -XX:+AutoCreateSharedArchive -Xlog:cds=off -Xlog:cds+dynamic=off"
fi
# Short commands (a dry run, image info, cpuid, help, version) end before C2 would pay off: C1 only
# measured 0.60 -> 0.43 s for a dry run. A guest run keeps the full tiered JIT for its exit path.
tier=4
case " $* " in
  *" --dry-run "*|*" -h "*|*" --help "*|*" -V "*|*" --version "*) tier=1 ;;
esac
case "${1:-} ${2:-}" in
  "img info"|"cpuid "*) tier=1 ;;
esac
# Guest RAM lives outside the Java heap, so the heap stays small; Serial GC has the smallest
# footprint and start-up cost. VMM_JAVA_OPTS may add or override options.
exec "$VMM_JDK/bin/java" --sun-misc-unsafe-memory-access=allow -XX:+UseSerialGC -Xms16m -Xmx1g -XX:TieredStopAtLevel=$tier -Xss1m \
  --enable-native-access=ALL-UNNAMED $cds ${VMM_JAVA_OPTS:-} -jar "$self" "$@"
exit $?
