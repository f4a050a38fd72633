package dev.vmm.firmware;

import dev.vmm.config.ConfigException;

/**
 * {@code --boot [order=DRIVES][,menu=on|off][,strict=on|off][,reboot-timeout=MS][,splash-time=MS]},
 * QEMU's {@code -boot} for the PC: {@code order} is a list of drive letters (a = floppy, c = first
 * hard disk, d = CD-ROM, n = network), at most three, each once, which QEMU's PC keeps in CMOS
 * (0x3D low/high nibble: first/second, 0x38 high nibble: third; codes a 1, c 2, d 3, n 4) where
 * SeaBIOS takes its default priorities from; {@code menu} is fw_cfg BOOT_MENU; {@code strict} ends
 * {@code bootorder} with HALT; {@code reboot-timeout} is {@code etc/boot-fail-wait} (-1, the default,
 * never reboots); {@code splash-time} is {@code etc/boot-menu-wait}. Pure parsing, one-line errors.
 */
public record BootOptions(String order, boolean menu, boolean strict, int rebootTimeout, Integer splashTime) {
    /** QEMU's PC default: c, then a, then d. */
    public static final BootOptions DEFAULT = new BootOptions("cad", false, false, -1, null);

    public static BootOptions parse(String text) {
        if (text == null || text.isEmpty()) return DEFAULT;
        String order = DEFAULT.order();
        boolean menu = false, strict = false;
        int reboot = -1;
        Integer splash = null;
        for (String kv : text.split(",", -1)) {
            int eq = kv.indexOf('=');
            String key = eq < 0 ? "order" : kv.substring(0, eq);   // "--boot cd" = QEMU's legacy "-boot cd"
            String value = eq < 0 ? kv : kv.substring(eq + 1);
            switch (key) {
                case "order" -> order = checkOrder(value);
                case "menu" -> menu = onOff(key, value);
                case "strict" -> strict = onOff(key, value);
                case "reboot-timeout" -> reboot = number(key, value, -1, 0xFFFF);
                case "splash-time" -> splash = number(key, value, 0, 0xFFFF);
                default -> throw new ConfigException("--boot: unknown key '" + key + "' (order, menu, strict, reboot-timeout, splash-time)");
            }
        }
        return new BootOptions(order, menu, strict, reboot, splash);
    }

    /** CMOS byte 0x3D: first device in bits 3:0, second in 7:4. */
    public int cmos3d() {
        return code(0) | code(1) << 4;
    }

    /** CMOS byte 0x38 bits 7:4: the third device (bit 0, the floppy signature check, stays 0). */
    public int cmos38() {
        return code(2) << 4;
    }

    private int code(int i) {
        if (i >= order.length()) return 0;
        return switch (order.charAt(i)) {
            case 'a' -> 1;
            case 'c' -> 2;
            case 'd' -> 3;
            case 'n' -> 4;
            default -> 0;
        };
    }

    private static String checkOrder(String v) {
        if (v.isEmpty()) throw new ConfigException("--boot: order= needs drive letters (a, c, d, n)");
        for (int i = 0; i < v.length(); i++) {
            char c = v.charAt(i);
            if ("acdn".indexOf(c) < 0) throw new ConfigException("--boot: invalid boot device '" + c + "' (a, c, d, n)");
            if (v.indexOf(c) != i) throw new ConfigException("--boot: boot device '" + c + "' was given twice");
        }
        if (v.length() > 3) throw new ConfigException("--boot: too many boot devices for PC (at most 3)");
        return v;
    }

    private static boolean onOff(String key, String v) {
        return switch (v) {
            case "on", "yes", "true" -> true;
            case "off", "no", "false" -> false;
            default -> throw new ConfigException("--boot: " + key + "=" + v + ": expected on or off");
        };
    }

    private static int number(String key, String v, int min, int max) {
        try {
            int n = Integer.parseInt(v);
            if (n < min || n > max) throw new NumberFormatException();
            return n;
        } catch (NumberFormatException e) {
            throw new ConfigException("--boot: " + key + "=" + v + ": expected a number from " + min + " to " + max);
        }
    }
}
