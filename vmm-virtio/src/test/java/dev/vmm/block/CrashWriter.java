package dev.vmm.block;

import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.Random;

/**
 * Child process of {@link Qcow2CrashTest}: applies a deterministic stream of operations to an image,
 * printing "OP i" before operation i and "ACK i" once a flush made operations up to i durable.
 * It runs until killed.
 */
public final class CrashWriter {
    public static final int SIZE = 8 << 20;

    /** Operation {@code i} of stream {@code seed}: {kind(0 write, 1 zero, 2 discard), offset, length, fill}. */
    public static long[] op(long seed, int i) {
        Random r = new Random(seed * 1_000_003L + i);
        int kind = r.nextInt(10) < 8 ? 0 : r.nextInt(2) + 1;
        int len = 1 + r.nextInt(r.nextBoolean() ? 8192 : 200_000);
        int off = r.nextInt(SIZE - len);
        return new long[] {kind, off, len, 1 + r.nextInt(255)};
    }

    public static void main(String[] args) {
        Path img = Path.of(args[0]);
        long seed = Long.parseLong(args[1]);
        int first = Integer.parseInt(args[2]);
        try (BlockDevice d = Images.open(img, Images.Options.readWriteDefaults())) {
            System.out.println("READY");
            System.out.flush();
            for (int i = first; ; i++) {
                long[] o = op(seed, i);
                System.out.println("OP " + i);
                System.out.flush();
                switch ((int) o[0]) {
                    case 0 -> {
                        byte[] data = new byte[(int) o[2]];
                        java.util.Arrays.fill(data, (byte) o[3]);
                        d.write(o[1], MemorySegment.ofArray(data));
                    }
                    case 1 -> d.writeZeroes(o[1], o[2], (o[3] & 1) == 0);
                    default -> d.discard(o[1], o[2]);
                }
                if (i % 4 == 3) {
                    d.flush();
                    System.out.println("ACK " + i);
                    System.out.flush();
                }
            }
        }
    }
}
