package dev.vmm.block;

import java.nio.charset.StandardCharsets;
import java.util.Locale;

/** The image formats this layer reads; {@link #probe} recognises them by magic, never by file name. */
public enum ImageFormat {
    RAW, QCOW2, VHDX, VPC;

    /** qemu-img's name for the format. */
    public String qemuName() { return name().toLowerCase(Locale.ROOT); }

    public static ImageFormat byName(String name) {
        for (ImageFormat f : values()) if (f.qemuName().equals(name)) return f;
        throw new BlockException("unknown image format '" + name + "' (supported: raw, qcow2, vhdx, vpc)");
    }

    /**
     * Recognises the format from the file's first bytes. A fixed VPC image has its only signature in
     * its last sector, which the guest of a raw disk could forge: like QEMU, it is not probed (it reads
     * as raw unless the format is given explicitly).
     */
    public static ImageFormat probe(ImageFile file) {
        long size = file.size();
        byte[] head = file.readBytes(0, (int) Math.min(size, 512));
        if (startsWith(head, new byte[] {'Q', 'F', 'I', (byte) 0xfb})) return QCOW2;
        if (startsWith(head, "vhdxfile".getBytes(StandardCharsets.US_ASCII))) return VHDX;
        if (startsWith(head, "conectix".getBytes(StandardCharsets.US_ASCII))) return VPC;
        return RAW;
    }

    private static boolean startsWith(byte[] b, byte[] magic) {
        if (b.length < magic.length) return false;
        for (int i = 0; i < magic.length; i++) if (b[i] != magic[i]) return false;
        return true;
    }
}
