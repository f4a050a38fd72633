package dev.vmm.migration;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.vmm.memory.GuestMemory;
import dev.vmm.memory.GuestRegion;
import dev.vmm.migration.stream.StateWriter;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.util.List;
import java.util.zip.CRC32C;

/**
 * Jazzer target for the incoming side of a migration as a malicious source drives it. The source
 * knows the protocol: it writes valid checksums (unless the fuzzer says otherwise), so the fuzzer
 * gets past them into what they guard: the setup record (page size, capabilities, layout), page
 * records (ZERO / FULL / XBZRLE with page numbers in, at the edge of and outside RAM), XBZRLE
 * deltas (run-length pairs or raw bytes), iteration ends, the device-state stream (sections,
 * versions, lengths) and the completion count, then GO or not. Every stream must end with the
 * target started or with a {@link MigrationException} after {@code discard}, never started; a
 * cause other than the stream's own IO/format errors (a RuntimeException, an Error) is a finding.
 * Without JAZZER_FUZZ the seeds replay (CI).
 */
class MigrationStreamFuzzTest {
    static final long R0 = 0, R0_SIZE = 64 << 10, R1 = 1 << 20, R1_SIZE = 32 << 10;
    private static final int[] PAGE_SIZES = {4096, 8192, 65536};
    private static final Arena ARENA = Arena.ofShared();
    private static final GuestMemory MEMORY = new GuestMemory(List.of(new GuestRegion(0, R0, ARENA.allocate(R0_SIZE, 4096)),
            new GuestRegion(1, R1, ARENA.allocate(R1_SIZE, 4096))));

    @FuzzTest(maxDuration = "60s")
    void incoming(FuzzedDataProvider data) throws IOException {
        byte[] stream = new Source(data).write();
        FakeVm.Target target = new FakeVm.Target(MEMORY);
        try {
            new MigrationDestination(target).run(new ByteArrayInputStream(stream), new ByteArrayOutputStream());
            if (!target.started || target.discarded != null) throw new AssertionError("completed without starting the target");
        } catch (MigrationException e) {
            if (target.started) throw new AssertionError("failed after starting the target", e);
            if (target.discarded == null) throw new AssertionError("failed without discarding the target", e);
            for (Throwable c = e.getCause(); c != null; c = c.getCause()) {
                if (c instanceof RuntimeException || c instanceof Error) throw new AssertionError("stream error escaped as " + c, c);
                if (!(c instanceof IOException)) throw new AssertionError("unexpected cause " + c, c);
            }
        }
    }

    /** Writes a stream from the fuzzer's choices, with the checksums a real source computes. */
    private static final class Source {
        final FuzzedDataProvider data;
        final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        final CRC32C crc = new CRC32C();
        final DataOutputStream out = new DataOutputStream(new java.util.zip.CheckedOutputStream(bytes, crc));
        int pageSize;
        long records;

        Source(FuzzedDataProvider data) { this.data = data; }

        byte[] write() throws IOException {
            out.write(rarely() ? data.consumeBytes(8) : MigrationProtocol.MAGIC);
            out.writeInt(rarely() ? data.consumeInt() : MigrationProtocol.VERSION);
            out.writeByte(rarely() ? data.consumeInt(0, 255) : MigrationProtocol.SETUP);
            pageSize = rarely() ? data.consumeInt() : data.pickValue(PAGE_SIZES);
            out.writeInt(pageSize);
            out.writeInt(rarely() ? data.consumeInt() : data.consumeInt(0, 3));
            if (rarely()) {
                int n = data.consumeInt(-1, 3);
                out.writeInt(n);
                for (int i = 0; i < n; i++) { out.writeLong(data.consumeLong()); out.writeLong(data.consumeLong()); }
            } else {
                out.writeInt(2);
                out.writeLong(R0); out.writeLong(R0_SIZE); out.writeLong(R1); out.writeLong(R1_SIZE);
            }
            crc();
            int iteration = 0;
            for (int n = 0; n < 40 && data.remainingBytes() > 0; n++) {
                switch (data.consumeInt(0, 9)) {
                    case 0, 1 -> page(MigrationProtocol.ZERO);
                    case 2, 3 -> page(MigrationProtocol.FULL);
                    case 4, 5 -> page(MigrationProtocol.XBZRLE);
                    case 6 -> {
                        out.writeByte(MigrationProtocol.END_ITERATION);
                        out.writeInt(iteration++);
                        crc();
                    }
                    case 7 -> deviceState();
                    case 8 -> {
                        complete();
                        return bytes.toByteArray();
                    }
                    default -> out.write(data.consumeBytes(data.consumeInt(1, 16))); // anything
                }
            }
            deviceState();
            complete();
            return bytes.toByteArray();
        }

        private void page(int type) throws IOException {
            out.writeByte(type);
            // Page-sized payloads only for a size the destination accepts (a fuzzed 1 GiB page size is
            // refused at setup anyway; writing 40 such pages ran the harness out of memory once).
            int ps = pageSize >= 4096 && pageSize <= 65536 && Integer.bitCount(pageSize) == 1 ? pageSize : 4096;
            long pfn = switch (data.consumeInt(0, 3)) {
                case 0 -> R0 / ps + data.consumeLong(0, R0_SIZE / ps);       // in region 0, or one past it
                case 1 -> R1 / ps + data.consumeLong(0, R1_SIZE / ps);
                case 2 -> (R1 / ps) - 1;                                      // the hole just below region 1
                default -> data.consumeLong();
            };
            out.writeLong(pfn);
            if (type == MigrationProtocol.FULL) {
                byte[] page = java.util.Arrays.copyOf(data.consumeBytes(data.consumeInt(0, 64)), ps);
                out.write(page);
            } else if (type == MigrationProtocol.XBZRLE) {
                byte[] delta = data.consumeBoolean() ? runs(ps) : data.consumeBytes(data.consumeInt(0, 64));
                int len = rarely() ? data.consumeInt(0, 0xFFFF) : delta.length;
                out.writeShort(len);
                out.write(delta, 0, Math.min(len, delta.length));
            }
            records++;
        }

        /** XBZRLE's encoding: (ULEB128 zero run, ULEB128 data run, data bytes)*, lengths near the page's. */
        private byte[] runs(int ps) throws IOException {
            ByteArrayOutputStream d = new ByteArrayOutputStream();
            for (int i = data.consumeInt(1, 4); i > 0; i--) {
                uleb(d, data.consumeBoolean() ? data.consumeInt(0, 64) : data.consumeInt(0, ps + 1));
                int run = data.consumeBoolean() ? data.consumeInt(0, 16) : data.consumeInt(0, ps + 1);
                uleb(d, run);
                d.write(data.consumeBytes(Math.min(run, 16)));
            }
            return d.toByteArray();
        }

        private static void uleb(ByteArrayOutputStream d, int v) {
            do {
                int b = v & 0x7F;
                v >>>= 7;
                d.write(v != 0 ? b | 0x80 : b);
            } while (v != 0);
        }

        private void deviceState() throws IOException {
            out.writeByte(MigrationProtocol.DEVICE);
            if (rarely()) {
                out.write(data.consumeBytes(data.consumeInt(0, 64)));
                return;
            }
            ByteArrayOutputStream s = new ByteArrayOutputStream();
            StateWriter w = new StateWriter(s);
            for (int i = data.consumeInt(0, 2); i > 0; i--) {
                String name = data.consumeBoolean() ? "counter" : data.consumeString(12);
                byte[] payload = data.consumeBoolean() ? new byte[] {0, 0, 0, 0, 0, 0, 0, (byte) data.consumeInt(0, 255)}
                        : data.consumeBytes(data.consumeInt(0, 16));
                w.section(name, data.consumeBoolean() ? 1 : data.consumeInt(), payload);
            }
            w.close();
            byte[] state = s.toByteArray();
            if (rarely()) state = java.util.Arrays.copyOf(state, data.consumeInt(0, state.length + 4));
            if (rarely() && state.length > 0) state[data.consumeInt(0, state.length - 1)] ^= (byte) data.consumeInt(1, 255);
            out.write(state);
        }

        private void complete() throws IOException {
            out.writeByte(MigrationProtocol.COMPLETE);
            out.writeLong(rarely() ? data.consumeLong() : records);
            crc();
            if (!rarely()) out.writeByte(MigrationProtocol.GO);
        }

        /** The CRC32C of everything since the last one, as the source writes it (sometimes damaged). */
        private void crc() throws IOException {
            out.flush();
            int value = (int) crc.getValue();
            if (rarely()) value ^= 1 << data.consumeInt(0, 31);
            bytes.write(value >>> 24);
            bytes.write(value >>> 16);
            bytes.write(value >>> 8);
            bytes.write(value);
            crc.reset();
        }

        private boolean rarely() {
            return data.consumeInt(0, 31) == 0;
        }
    }
}
