package dev.vmm.config;

import java.nio.file.Path;
import java.util.List;
import java.util.Set;

/**
 * The USB device options: {@code --usb-storage}, {@code --usb-tablet}, {@code --usb-kbd}. They plug
 * into the xHCI controller that {@code --usb} adds, so they are refused without it
 * ({@link #requireController}).
 */
public sealed interface UsbDeviceSpec extends DeviceSpec {
    /** The option that adds the controller these devices need. */
    String CONTROLLER_OPTION = "--usb";
    /** What a bare {@code --usb-tablet}/{@code --usb-kbd} stands for (picocli's fallback value): no properties. */
    String NO_PROPERTIES = "(none)";

    /** QEMU's device name ({@code usb-storage}, {@code usb-tablet}, {@code usb-kbd}). */
    String driver();

    /** The QMP id, or null. */
    String id();

    /**
     * {@code --usb-storage path=FILE[,format=raw|qcow2|vhdx|vpc][,readonly=on][,bootindex=N][,id=ID]}:
     * a Bulk-Only USB mass storage device (SuperSpeed) with the image as its one LUN.
     */
    record Storage(Path path, String format, boolean readOnly, Integer bootIndex, String id) implements UsbDeviceSpec {
        public String driver() { return "usb-storage"; }

        public static Storage parse(String text) {
            KeyValueOptions o = KeyValueOptions.parse("--usb-storage", text == null ? "" : text.strip(), "path",
                    Set.of("path", "format", "readonly", "bootindex", "id"));
            String format = o.choice("format", null, Set.of("raw", "qcow2", "vhdx", "vpc"));
            Integer boot = o.has("bootindex") ? (int) o.number("bootindex", 0, 0, 9999) : null;
            return new Storage(Path.of(o.required("path")), format, o.bool("readonly", false), boot, parseId(o, "--usb-storage"));
        }
    }

    /** {@code --usb-tablet[=id=ID]} (absolute pointer), {@code --usb-kbd[=id=ID]} (boot keyboard) or {@code --usb-mouse[=id=ID]} (relative pointer). */
    record Hid(String driver, String id) implements UsbDeviceSpec {
        public Hid {
            if (!driver.equals("usb-tablet") && !driver.equals("usb-kbd") && !driver.equals("usb-mouse")) throw new IllegalArgumentException(driver);
        }

        public static Hid parse(String driver, String text) {
            String option = "--" + driver;
            KeyValueOptions o = KeyValueOptions.parse(option, text == null ? "" : text.strip(), null, Set.of("id"));
            return new Hid(driver, parseId(o, option));
        }
    }

    private static String parseId(KeyValueOptions o, String option) {
        if (!o.has("id")) return null;
        String id = o.required("id");
        if (!id.matches("[A-Za-z][A-Za-z0-9._-]*")) {
            throw new ConfigException(option + ": id=" + id + " must start with a letter and have only letters, digits, '-', '.', '_'");
        }
        return id;
    }

    /** The three options' values as specs (storage, tablets, keyboards), refused without the controller. */
    static List<UsbDeviceSpec> parseAll(List<String> storage, List<String> tablets, List<String> keyboards, boolean controller) {
        return parseAll(storage, tablets, keyboards, List.of(), controller);
    }

    /** With {@code --usb-mouse}'s values too (after the keyboards). */
    static List<UsbDeviceSpec> parseAll(List<String> storage, List<String> tablets, List<String> keyboards, List<String> mice,
                                        boolean controller) {
        List<UsbDeviceSpec> out = new java.util.ArrayList<>();
        for (String s : storage) out.add(Storage.parse(s));
        for (String s : tablets) out.add(Hid.parse("usb-tablet", s.equals(NO_PROPERTIES) ? "" : s));
        for (String s : keyboards) out.add(Hid.parse("usb-kbd", s.equals(NO_PROPERTIES) ? "" : s));
        for (String s : mice) out.add(Hid.parse("usb-mouse", s.equals(NO_PROPERTIES) ? "" : s));
        requireController(out, controller);
        return out;
    }

    /** Refuses USB devices without the controller, in one line naming the first device option. */
    static void requireController(List<? extends DeviceSpec> specs, boolean controller) {
        if (controller) return;
        for (DeviceSpec s : specs) {
            if (s instanceof UsbDeviceSpec u) {
                throw new ConfigException("--" + u.driver() + " needs " + CONTROLLER_OPTION + " (the xHCI controller it plugs into)");
            }
        }
    }
}
