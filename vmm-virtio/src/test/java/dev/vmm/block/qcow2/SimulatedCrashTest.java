package dev.vmm.block.qcow2;

import dev.vmm.block.*;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.BitSet;
import java.util.Random;

/**
 * Simulated crashes, in process and deterministic: the image is dropped without a flush between
 * operations (cached metadata lost), then checked by our checker and, at the end, by qemu-img.
 */
class SimulatedCrashTest {
    @TempDir Path tmp;

    @Test
    void simulatedCrashes() {
        QemuTools.assumeAvailable();
        int size = CrashWriter.SIZE;
        for (boolean lazy : new boolean[] {false, true}) {
            Path img = tmp.resolve("r" + lazy + ".qcow2");
            Qcow2Creator.create(img, size, new Qcow2Creator.Options(3, 4096, lazy, 16, null, null));
            byte[] model = new byte[size];
            Random rr = new Random(1);
            int op = 0;
            for (int round = 0; round < 20; round++) {
                int acked = op - 1;
                BitSet unc = new BitSet();
                Qcow2Image d = (Qcow2Image) Images.open(img, Images.Options.readWriteDefaults());
                int n = 1 + rr.nextInt(40);
                byte[] pend = model.clone();
                for (int k = 0; k < n; k++, op++) {
                    long[] o = CrashWriter.op(42, op);
                    switch ((int) o[0]) {
                        case 0 -> { byte[] data = new byte[(int) o[2]]; Arrays.fill(data, (byte) o[3]); d.write(o[1], MemorySegment.ofArray(data)); Arrays.fill(pend, (int) o[1], (int) (o[1] + o[2]), (byte) o[3]); unc.set((int) o[1], (int) (o[1] + o[2])); }
                        case 1 -> { d.writeZeroes(o[1], o[2], (o[3] & 1) == 0); Arrays.fill(pend, (int) o[1], (int) (o[1] + o[2]), (byte) 0); unc.set((int) o[1], (int) (o[1] + o[2]));}
                        default -> {
                            d.discard(o[1], o[2]);
                            long first = (o[1] + 4095) / 4096 * 4096, end = (o[1] + o[2]) / 4096 * 4096;
                            for (long c = first; c < end; c += 4096) Arrays.fill(pend, (int) c, (int) (c + 4096), (byte) 0);
                            unc.set((int) (o[1] / 4096 * 4096), (int) Math.min(size, (o[1] + o[2] + 4096) / 4096 * 4096));
                        }
                    }
                    if (k % 4 == 3) { d.flush(); model = pend.clone(); unc.clear(); acked = op; }
                }
                d.abandon();
                if (lazy) { try (BlockDevice x = Images.open(img, Images.Options.readWriteDefaults())) { } }
                try (Qcow2Image x = (Qcow2Image) Images.open(img, Images.Options.readOnlyDefaults())) {
                    Qcow2Checker.Result res = x.check();
                    if (res.corruptions() != 0) throw new AssertionError("round " + round + " check " + res.messages());
                }
                byte[] all = new byte[size];
                try (BlockDevice x = Images.open(img, Images.Options.readOnlyDefaults())) { x.read(0, MemorySegment.ofArray(all)); }
                for (int b = 0; b < size; b++) {
                    if (unc.get(b)) model[b] = all[b];
                    else if (model[b] != all[b]) throw new AssertionError("lazy=" + lazy + " round " + round + " byte " + b + " got " + all[b] + " want " + model[b] + " acked " + acked + " op " + op);
                }
            }
            var res = QemuTools.exec("qemu-img", "check", img.toString());
            if (res.exit() != 0 && res.exit() != 3) throw new AssertionError("qemu-img check: " + res.out());
        }
    }
}
