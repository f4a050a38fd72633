package dev.vmm.ram;

import dev.vmm.ffm.libc.Libc;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Whether guest RAM gets transparent huge pages, from the host's THP mode
 * ({@code /sys/kernel/mm/transparent_hugepage/enabled}: {@code always}, {@code madvise} or
 * {@code never}, the current one in brackets) and the user's {@code thp=} choice. With THP, 2 MiB
 * host pages back the guest: fewer TLB misses and EPT walks, and the 4 KiB holes a balloon
 * inflate punches are collapsed again by khugepaged once the balloon deflates.
 */
public final class ThpPolicy {
    /** The file holding the host's mode. */
    public static final Path SYSFS = Path.of("/sys/kernel/mm/transparent_hugepage/enabled");

    /** No madvise call. */
    public static final int NONE = -1;

    private ThpPolicy() {}

    /** The host's mode from the sysfs text ("always [madvise] never" → "madvise"), or "never" if unreadable. */
    public static String mode(String sysfsText) {
        if (sysfsText == null) return "never";
        int open = sysfsText.indexOf('['), close = sysfsText.indexOf(']');
        if (open < 0 || close < open) return "never";
        return sysfsText.substring(open + 1, close).strip();
    }

    /** This host's mode ("never" when the kernel has no THP). */
    public static String hostMode() {
        try {
            return mode(Files.readString(SYSFS));
        } catch (IOException e) {
            return "never";
        }
    }

    /**
     * The advice for guest RAM: {@code MADV_HUGEPAGE} when wanted and the mode allows it
     * (madvise, or always where it changes nothing but says so), {@code MADV_NOHUGEPAGE} when not
     * wanted under {@code always} (thp=off must mean off), else {@link #NONE}.
     */
    public static int advice(String mode, boolean wanted) {
        return switch (mode) {
            case "always" -> wanted ? Libc.MADV_HUGEPAGE : Libc.MADV_NOHUGEPAGE;
            case "madvise" -> wanted ? Libc.MADV_HUGEPAGE : NONE;
            default -> NONE;
        };
    }
}
