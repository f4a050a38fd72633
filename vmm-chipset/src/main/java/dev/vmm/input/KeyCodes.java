package dev.vmm.input;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Key names and numbers: QEMU 7.2's QKeyCode names (the {@code qcode} of {@code input-send-event}),
 * the keys' {@code number} form (PC scancode set 1, an E0-prefixed key as 0x80 | code, as QEMU's
 * "qnum"), and each key's USB HID usage on the Keyboard/Keypad page (HID Usage Tables §10, page 07h).
 */
public final class KeyCodes {
    private KeyCodes() {}

    /** Every qcode QEMU 7.2 accepts, in its enum order (an interface to match: its names are the API). */
    public static final List<String> QCODES = List.of(
            "unmapped", "shift", "shift_r", "alt", "alt_r", "ctrl", "ctrl_r", "menu", "esc", "1", "2", "3",
            "4", "5", "6", "7", "8", "9", "0", "minus", "equal", "backspace", "tab", "q", "w", "e", "r", "t", "y",
            "u", "i", "o", "p", "bracket_left", "bracket_right", "ret", "a", "s", "d", "f", "g", "h", "j", "k", "l",
            "semicolon", "apostrophe", "grave_accent", "backslash", "z", "x", "c", "v", "b", "n", "m", "comma",
            "dot", "slash", "asterisk", "spc", "caps_lock", "f1", "f2", "f3", "f4", "f5", "f6", "f7", "f8", "f9",
            "f10", "num_lock", "scroll_lock", "kp_divide", "kp_multiply", "kp_subtract", "kp_add", "kp_enter",
            "kp_decimal", "sysrq", "kp_0", "kp_1", "kp_2", "kp_3", "kp_4", "kp_5", "kp_6", "kp_7", "kp_8", "kp_9",
            "less", "f11", "f12", "print", "home", "pgup", "pgdn", "end", "left", "up", "down", "right", "insert",
            "delete", "stop", "again", "props", "undo", "front", "copy", "open", "paste", "find", "cut", "lf",
            "help", "meta_l", "meta_r", "compose", "pause", "ro", "hiragana", "henkan", "yen", "muhenkan",
            "katakanahiragana", "kp_comma", "kp_equals", "power", "sleep", "wake", "audionext", "audioprev",
            "audiostop", "audioplay", "audiomute", "volumeup", "volumedown", "mediaselect", "mail", "calculator",
            "computer", "ac_home", "ac_back", "ac_forward", "ac_refresh", "ac_bookmarks", "lang1", "lang2");

    private static final Map<String, Integer> USAGE = new HashMap<>();
    private static final Map<Integer, String> BY_NUMBER = new HashMap<>();

    private static void usage(String qcode, int usage) { USAGE.put(qcode, usage); }

    static {
        String letters = "abcdefghijklmnopqrstuvwxyz";
        for (int i = 0; i < 26; i++) usage(String.valueOf(letters.charAt(i)), 0x04 + i);
        for (int i = 1; i <= 9; i++) usage(String.valueOf(i), 0x1e + i - 1);
        usage("0", 0x27);
        String[] row = {"ret", "esc", "backspace", "tab", "spc", "minus", "equal", "bracket_left", "bracket_right",
                "backslash"};
        for (int i = 0; i < row.length; i++) usage(row[i], 0x28 + i);
        usage("semicolon", 0x33); usage("apostrophe", 0x34); usage("grave_accent", 0x35); usage("comma", 0x36);
        usage("dot", 0x37); usage("slash", 0x38); usage("caps_lock", 0x39);
        for (int i = 1; i <= 12; i++) usage("f" + i, 0x3a + i - 1);
        String[] nav = {"print", "scroll_lock", "pause", "insert", "home", "pgup", "delete", "end", "pgdn",
                "right", "left", "down", "up", "num_lock", "kp_divide", "kp_multiply", "kp_subtract", "kp_add",
                "kp_enter", "kp_1", "kp_2", "kp_3", "kp_4", "kp_5", "kp_6", "kp_7", "kp_8", "kp_9", "kp_0",
                "kp_decimal", "less", "compose", "power", "kp_equals"};
        for (int i = 0; i < nav.length; i++) usage(nav[i], 0x46 + i);
        usage("asterisk", 0x55);
        usage("open", 0x74); usage("help", 0x75); usage("menu", 0x76); usage("front", 0x77); usage("stop", 0x78);
        usage("again", 0x79); usage("undo", 0x7a); usage("cut", 0x7b); usage("copy", 0x7c); usage("paste", 0x7d);
        usage("find", 0x7e); usage("audiomute", 0x7f); usage("volumeup", 0x80); usage("volumedown", 0x81);
        usage("kp_comma", 0x85); usage("ro", 0x87); usage("katakanahiragana", 0x88); usage("yen", 0x89);
        usage("henkan", 0x8a); usage("muhenkan", 0x8b); usage("lang1", 0x90); usage("lang2", 0x91);
        usage("hiragana", 0x93); usage("props", 0xa3);
        // SysRq is Alt + Print Screen on a PC keyboard, and a USB keyboard sends it as that: usage
        // 46h with the Alt modifier, not the Keyboard page's SysReq/Attention (9Ah), which guests do
        // not map (QEMU 7.2's usb-kbd also says 46h: HidInputQemuOracleTest compares).
        usage("sysrq", 0x46);
        String[] mods = {"ctrl", "shift", "alt", "meta_l", "ctrl_r", "shift_r", "alt_r", "meta_r"};
        for (int i = 0; i < mods.length; i++) usage(mods[i], 0xe0 + i);

        // Scancode set 1, make codes 01h..58h, in order.
        String[] set1 = {null, "esc", "1", "2", "3", "4", "5", "6", "7", "8", "9", "0", "minus", "equal",
                "backspace", "tab", "q", "w", "e", "r", "t", "y", "u", "i", "o", "p", "bracket_left",
                "bracket_right", "ret", "ctrl", "a", "s", "d", "f", "g", "h", "j", "k", "l", "semicolon",
                "apostrophe", "grave_accent", "shift", "backslash", "z", "x", "c", "v", "b", "n", "m", "comma", "dot",
                "slash", "shift_r", "kp_multiply", "alt", "spc", "caps_lock", "f1", "f2", "f3", "f4", "f5", "f6",
                "f7", "f8", "f9", "f10", "num_lock", "scroll_lock", "kp_7", "kp_8", "kp_9", "kp_subtract", "kp_4",
                "kp_5", "kp_6", "kp_add", "kp_1", "kp_2", "kp_3", "kp_0", "kp_decimal", "sysrq", null, "less",
                "f11", "f12"};
        for (int i = 1; i < set1.length; i++) if (set1[i] != null) BY_NUMBER.put(i, set1[i]);
        // Beyond 58h: the keypad equals key and the Japanese/Brazilian keys of Microsoft's USB-to-set-1
        // translation table (International 1-5, Katakana/Hiragana, Keypad Comma).
        Object[][] international = {{0x59, "kp_equals"}, {0x70, "katakanahiragana"}, {0x73, "ro"}, {0x79, "henkan"},
                {0x7b, "muhenkan"}, {0x7d, "yen"}, {0x7e, "kp_comma"}};
        for (Object[] k : international) BY_NUMBER.put((Integer) k[0], (String) k[1]);
        // E0-prefixed keys.
        Object[][] e0 = {{0x1c, "kp_enter"}, {0x1d, "ctrl_r"}, {0x35, "kp_divide"}, {0x37, "print"},
                {0x38, "alt_r"}, {0x47, "home"}, {0x48, "up"}, {0x49, "pgup"}, {0x4b, "left"}, {0x4d, "right"},
                {0x4f, "end"}, {0x50, "down"}, {0x51, "pgdn"}, {0x52, "insert"}, {0x53, "delete"},
                {0x5b, "meta_l"}, {0x5c, "meta_r"}, {0x5d, "compose"},
                // Consumer keys with set-1 codes (mute, volume, power) and Break, the E0 form of Pause
                {0x20, "audiomute"}, {0x2e, "volumedown"}, {0x30, "volumeup"}, {0x5e, "power"}, {0x46, "pause"}};
        for (Object[] k : e0) BY_NUMBER.put(0x80 | (Integer) k[0], (String) k[1]);
    }

    public static boolean isQcode(String name) { return QCODES.contains(name); }

    /** The key's usage on the HID Keyboard/Keypad page, or 0 when it has none there (media keys). */
    public static int hidUsage(String qcode) {
        return USAGE.getOrDefault(qcode, 0);
    }

    /** The qcode of a key number (scancode set 1, E0 keys as 0x80 | code), or "unmapped". */
    public static String fromNumber(long number) {
        if (number < 0 || number > 0xff) return "unmapped";
        return BY_NUMBER.getOrDefault((int) number, "unmapped");
    }
}
