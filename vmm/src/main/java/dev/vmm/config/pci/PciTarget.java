package dev.vmm.config.pci;

import dev.vmm.config.ConfigException;

/**
 * Where a device's PCI function goes, as QEMU's {@code bus=} and {@code addr=} properties say:
 * {@code bus} is a bus name ({@code pci.0} on pc, {@code pcie.0} on q35, or the {@code id} of a
 * root port or bridge), null for "wherever the machine puts it"; {@code slot}/{@code function}
 * come from {@code addr=SLOT[.FUNCTION]} (hexadecimal, with or without 0x, as QEMU), slot -1 for
 * "the first free slot of that bus".
 */
public record PciTarget(String bus, int slot, int function) {
    public PciTarget {
        if (slot < -1 || slot > 31 || function < 0 || function > 7) throw new IllegalArgumentException("slot/function out of range");
    }

    /** Parses QEMU's {@code addr} value: {@code SLOT[.FN]}, hexadecimal, slot 0..0x1f, function 0..7. */
    public static PciTarget of(String option, String bus, String addr) {
        if (bus != null && !bus.matches("[A-Za-z][A-Za-z0-9_.-]{0,63}")) {
            throw new ConfigException(option + ": bus=" + bus + " is not a bus name");
        }
        if (addr == null) return new PciTarget(bus, -1, 0);
        String[] parts = addr.split("\\.", -1);
        if (parts.length > 2) throw new ConfigException(option + ": addr=" + addr + " is not SLOT[.FUNCTION]");
        int slot = hex(option, addr, parts[0], 0x1f);
        int fn = parts.length == 2 ? hex(option, addr, parts[1], 7) : 0;
        return new PciTarget(bus, slot, fn);
    }

    private static int hex(String option, String addr, String s, int max) {
        String digits = s.startsWith("0x") || s.startsWith("0X") ? s.substring(2) : s;
        int v;
        try {
            v = Integer.parseInt(digits, 16);
        } catch (NumberFormatException e) {
            throw new ConfigException(option + ": addr=" + addr + " is not SLOT[.FUNCTION] (hexadecimal)");
        }
        if (digits.isEmpty() || v < 0 || v > max) {
            throw new ConfigException(option + ": addr=" + addr + ": " + (max == 7 ? "function" : "slot") + " must be 0.." + Integer.toHexString(max));
        }
        return v;
    }

    /** {@code bus=rp1,addr=00.0} style, for messages and the dry run. */
    @Override
    public String toString() {
        return (bus == null ? "" : "bus=" + bus) + (slot < 0 ? "" : (bus == null ? "" : ",") + String.format("addr=%02x.%x", slot, function));
    }
}
