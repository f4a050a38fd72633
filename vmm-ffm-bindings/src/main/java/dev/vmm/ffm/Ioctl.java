package dev.vmm.ffm;

/**
 * ioctl request numbers, encoded the way {@code <asm-generic/ioctl.h>}'s {@code _IO}, {@code _IOR},
 * {@code _IOW} and {@code _IOWR} do on x86: direction (bits 30-31), argument size (16-29), type
 * (8-15) and number (0-7). Bindings compute their requests with these instead of writing the
 * numbers out; the header probe tests compare the results with the C headers.
 */
public final class Ioctl {
    private Ioctl() {}

    private static final int NONE = 0, WRITE = 1, READ = 2;

    /** {@code _IOC(dir, type, nr, size)}. */
    public static long ioc(int dir, int type, int nr, long size) {
        return ((long) dir << 30) | (size << 16) | ((long) type << 8) | nr;
    }

    /** {@code _IO(type, nr)}: no argument data. */
    public static long io(int type, int nr) { return ioc(NONE, type, nr, 0); }

    /** {@code _IOR(type, nr, T)}: the kernel writes {@code size} bytes (sizeof T) to user space. */
    public static long ior(int type, int nr, long size) { return ioc(READ, type, nr, size); }

    /** {@code _IOW(type, nr, T)}: the kernel reads {@code size} bytes from user space. */
    public static long iow(int type, int nr, long size) { return ioc(WRITE, type, nr, size); }

    /** {@code _IOWR(type, nr, T)}: both ways. */
    public static long iowr(int type, int nr, long size) { return ioc(READ | WRITE, type, nr, size); }
}
