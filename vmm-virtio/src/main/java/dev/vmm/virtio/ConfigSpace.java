package dev.vmm.virtio;

/**
 * Reading a device-specific configuration space held as little-endian bytes, with the checks
 * every {@link VirtioDevice#readConfig} makes: a natural width (1, 2, 4 or 8 bytes) entirely inside
 * the space, else 0.
 */
public final class ConfigSpace {
    private ConfigSpace() {}

    /** The {@code size} bytes at {@code offset} of {@code bytes}, little-endian, zero-extended; 0 if out of range. */
    public static long read(byte[] bytes, int offset, int size) {
        if (offset < 0 || (size != 1 && size != 2 && size != 4 && size != 8) || offset > bytes.length - size) return 0;
        long v = 0;
        for (int i = size - 1; i >= 0; i--) v = (v << 8) | (bytes[offset + i] & 0xFF);
        return v;
    }
}
