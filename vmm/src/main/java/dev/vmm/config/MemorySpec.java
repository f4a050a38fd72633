package dev.vmm.config;

/**
 * {@code --memory SIZE[,thp=on|off][,prealloc=on][,share=on]}: how much guest RAM and how it is
 * backed (docs/balloon.md). THP is on unless {@code thp=off}.
 */
public record MemorySpec(long bytes, boolean thp, boolean prealloc, boolean share) {
    /** Parses the keys after the size ({@code rest}: "thp=off,prealloc=on", or empty). */
    public static MemorySpec parse(long bytes, String rest) {
        KeyValueOptions o = KeyValueOptions.parse("--memory", rest, null, java.util.Set.of("thp", "prealloc", "share"));
        return new MemorySpec(bytes, o.bool("thp", true), o.bool("prealloc", false), o.bool("share", false));
    }

    /**
     * The record's own text, written out: picocli turns the option's old value into a string on every
     * start, and a record's generated toString bootstraps ObjectMethods first (~5 % of a dry run, #19).
     */
    @Override
    public String toString() {
        return "MemorySpec[bytes=" + bytes + ", thp=" + thp + ", prealloc=" + prealloc + ", share=" + share + "]";
    }
}
