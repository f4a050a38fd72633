package dev.vmm.firmware;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;

/** Port I/O to a PC, and what firmware reads through it: fw_cfg items (selector 0x510, data 0x511) and CMOS (0x70/0x71). */
interface FwCfgPorts {
    void out(int port, int size, long value);

    long in(int port, int size);

    default byte[] item(int key, int length) {
        out(0x510, 2, key);
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        for (int i = 0; i < length; i++) b.write((int) in(0x511, 1));
        return b.toByteArray();
    }

    /** The file directory: name → {size, key}. */
    default Map<String, int[]> files() {
        byte[] n = item(0x19, 4);
        int count = (n[0] & 0xff) << 24 | (n[1] & 0xff) << 16 | (n[2] & 0xff) << 8 | (n[3] & 0xff);
        byte[] dir = item(0x19, 4 + 64 * count);
        Map<String, int[]> out = new LinkedHashMap<>();
        for (int i = 0; i < count; i++) {
            int o = 4 + 64 * i;
            int size = (dir[o] & 0xff) << 24 | (dir[o + 1] & 0xff) << 16 | (dir[o + 2] & 0xff) << 8 | (dir[o + 3] & 0xff);
            int key = (dir[o + 4] & 0xff) << 8 | (dir[o + 5] & 0xff);
            int end = o + 8;
            while (end < o + 64 && dir[end] != 0) end++;
            out.put(new String(dir, o + 8, end - o - 8, StandardCharsets.US_ASCII), new int[] {size, key});
        }
        return out;
    }

    /** A file's bytes, or null when the directory has no such file. */
    default byte[] file(String name) {
        int[] e = files().get(name);
        return e == null ? null : item(e[1], e[0]);
    }

    default int cmos(int index) {
        out(0x70, 1, index);
        return (int) in(0x71, 1);
    }
}
