package dev.vmm.bench.device;


import dev.vmm.machine.ExitReplay;
import dev.vmm.memory.GuestMemory;
import dev.vmm.memory.GuestRegion;
import dev.vmm.virtio.VirtioFeatures;
import dev.vmm.virtio.VirtioInterrupt;
import dev.vmm.virtio.blk.BlkConfig;
import dev.vmm.virtio.blk.CacheMode;
import dev.vmm.virtio.blk.UringRawBackend;
import dev.vmm.virtio.blk.VirtioBlk;
import dev.vmm.virtio.io.IoThread;
import dev.vmm.virtio.queue.SplitQueue;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The VMM's device paths without KVM, two kinds of work in one JMH class:
 *
 * <ul>
 * <li><b>exits</b> ({@code exit*}, ns per operation): a PIO exit written into a {@code kvm_run} area
 * and dispatched by the vCPU's own {@code ExitDispatcher} to the real PC port devices
 * ({@code ExitReplay}: COM1, CMOS, POST port) — the VMM's share of an exit once KVM has returned, to
 * set against the ~9 µs of a CPL0 PIO exit on the PVM host and ~1–2 µs on VT-x;
 * <li><b>virtio-blk</b> ({@code blkRequests}, requests per second): a driver thread (standing in for
 * the guest) posts {@value #DEPTH} 4 KiB random reads or writes at once on one queue, notifies, and
 * waits for the used ring — the device's {@code BlkQueueWorker} on its I/O thread parses the chains
 * and submits them through io_uring to a raw image ({@code UringRawBackend}), as in a guest run.
 * Comparable with {@code qemu-img bench -i io_uring -d 32} on the same file (QEMU's block layer
 * alone, no device emulation: a comparison that flatters QEMU); {@code benchmarks/blk/device-side.sh}
 * runs both. {@code BLK_BENCH_FILE} (default {@code /dev/shm/vmm-blk-bench.img}, 256 MiB) is the image.
 * </ul>
 * Run with {@code -prof gc}: both paths should allocate nothing per operation.
 *
 * <p>{@code java -jar benchmarks/target/benchmarks.jar DevicePathBenchmark -prof gc}
 */
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
public class DevicePathBenchmark {
    static final int DEPTH = 32;

    /** The PC port devices and a kvm_run area to replay exits into. */
    @State(Scope.Thread)
    public static class Exits {
        ExitReplay replay;
        int i;

        @Setup
        public void setUp() {
            replay = new ExitReplay();
        }

        @TearDown
        public void tearDown() {
            replay.close();
        }
    }

    /** Two exits: IN from the line status register, OUT to the transmit register. */
    @Benchmark
    @BenchmarkMode(Mode.AverageTime)
    @OutputTimeUnit(TimeUnit.NANOSECONDS)
    public void exitSerialByte(Exits e) {
        e.replay.serialByte((byte) 'x');
    }

    /** Two exits: OUT of the CMOS index, IN of the data (the seconds register: reads the clock). */
    @Benchmark
    @BenchmarkMode(Mode.AverageTime)
    @OutputTimeUnit(TimeUnit.NANOSECONDS)
    public int exitCmosSecondsRead(Exits e) {
        return e.replay.cmosRead(0);
    }

    /** One exit: OUT to the POST port (the cheapest device). */
    @Benchmark
    @BenchmarkMode(Mode.AverageTime)
    @OutputTimeUnit(TimeUnit.NANOSECONDS)
    public void exitPostWrite(Exits e) {
        e.replay.post(e.i++);
    }

    /** Guest RAM, an I/O thread, a virtio-blk device over a raw image, one queue driven from here. */
    @State(Scope.Thread)
    public static class Blk {
        private static final int QUEUE_SIZE = 128;
        private static final long RAM = 64L << 20, RING = 0x10000, HEADERS = 0x20000, DATA = 0x100000;
        private static final long IMAGE_SIZE = 256L << 20;

        @Param({"read", "write"})
        public String op;

        /** {@code 4k-random} (4 KiB at random aligned offsets) or {@code 1m-seq} (1 MiB, one after another). */
        @Param("4k-random")
        public String pattern;

        /**
         * {@code plain} (READV/WRITEV) or {@code fixed}: guest RAM registered with the I/O thread's
         * ring, so the one-buffer requests go out as READ_FIXED/WRITE_FIXED (docs/io-uring-fixed-buffers.md).
         */
        @Param("plain")
        public String buffers;

        /** The image ({@code BLK_BENCH_FILE} unless set before {@link #setUp()}). */
        public Path image = Path.of(System.getenv().getOrDefault("BLK_BENCH_FILE", "/dev/shm/vmm-blk-bench.img"));
        /** Cache mode ({@code BLK_BENCH_CACHE}: writeback or none). */
        public CacheMode cache = CacheMode.valueOf(System.getenv().getOrDefault("BLK_BENCH_CACHE", "writeback").toUpperCase());

        private int block;
        private boolean sequential;
        private long nextBlock;

        private Arena arena;
        private GuestMemory mem;
        private IoThread io;
        private UringRawBackend backend;
        private VirtioBlk dev;
        private long desc, avail, used;
        private int availIdx;
        private volatile Thread waiter;
        private final SplittableRandom random = new SplittableRandom(42);

        @Setup
        public void setUp() throws Exception {
            block = switch (pattern) {
                case "4k-random" -> 4096;
                case "1m-seq" -> 1 << 20;
                default -> throw new IllegalArgumentException("pattern " + pattern);
            };
            sequential = pattern.equals("1m-seq");
            if (!Files.exists(image) || Files.size(image) < IMAGE_SIZE) fill(image);
            arena = Arena.ofShared();
            MemorySegment ram = arena.allocate(RAM, 4096);
            mem = new GuestMemory(List.of(new GuestRegion(0, 0, ram)));
            io = new IoThread("blk-bench-io", 256);
            io.start();
            if (buffers.equals("fixed")) io.registerFixedBuffers(List.of(ram));
            else if (!buffers.equals("plain")) throw new IllegalArgumentException("buffers " + buffers);
            backend = UringRawBackend.open(image, false, cache);
            dev = new VirtioBlk(backend, BlkConfig.of(1).withQueueSize(QUEUE_SIZE), List.of(io));
            desc = RING;
            avail = RING + 16L * QUEUE_SIZE;
            used = (avail + 6 + 2L * QUEUE_SIZE + 4095) & ~4095L;
            boolean write = op.equals("write");
            for (int i = 0; i < DEPTH; i++) {
                // Chain i: descriptors 3i (header), 3i+1 (4 KiB data), 3i+2 (status byte).
                descriptor(3 * i, HEADERS + 32L * i, 16, 1, 3 * i + 1);
                descriptor(3 * i + 1, DATA + (long) block * i, block, write ? 1 : 1 | 2, 3 * i + 2);
                descriptor(3 * i + 2, HEADERS + 32L * i + 16, 1, 2, 0);
                mem.writeU32(HEADERS + 32L * i, write ? VirtioBlk.VIRTIO_BLK_T_OUT : VirtioBlk.VIRTIO_BLK_T_IN);
            }
            SplitQueue q = new SplitQueue(QUEUE_SIZE);
            q.setSize(QUEUE_SIZE);
            q.setRings(desc, avail, used);
            q.setReady(true);
            q.activate(mem);
            long features = dev.deviceFeatures() & ~VirtioFeatures.VIRTIO_F_EVENT_IDX;
            dev.activate(mem, features, List.of(q), new VirtioInterrupt() {
                @Override public void signalUsedBuffer(int queueIndex) {
                    Thread t = waiter;
                    if (t != null) LockSupport.unpark(t);
                }

                @Override public void signalConfigChange() { }

                @Override public void deviceNeedsReset(String reason) {
                    throw new IllegalStateException("device needs reset: " + reason);
                }
            });
        }

        private static void fill(Path image) throws IOException {
            try (FileChannel f = FileChannel.open(image, StandardOpenOption.CREATE, StandardOpenOption.WRITE)) {
                ByteBuffer b = ByteBuffer.allocate(1 << 20);
                new SplittableRandom(1).nextBytes(b.array());
                for (long at = 0; at < IMAGE_SIZE; at += b.capacity()) f.write(b.clear(), at);
            }
        }

        private void descriptor(int i, long addr, int len, int flags, int next) {
            mem.writeU64(desc + 16L * i, addr);
            mem.writeU32(desc + 16L * i + 8, len);
            mem.writeU16(desc + 16L * i + 12, (short) flags);
            mem.writeU16(desc + 16L * i + 14, (short) next);
        }

        /** {@value DevicePathBenchmark#DEPTH} requests at random 4 KiB-aligned offsets, posted together, all completed. */
            void requests() {
            long blocks = IMAGE_SIZE / block;
            for (int i = 0; i < DEPTH; i++) {
                long at = sequential ? nextBlock++ % blocks : random.nextLong(blocks);
                mem.writeU64(HEADERS + 32L * i + 8, at * (block / 512));
                mem.writeU8(HEADERS + 32L * i + 16, (byte) 0xff); // the device writes 0 (OK)
                mem.writeU16(avail + 4 + 2L * ((availIdx + i) % QUEUE_SIZE), (short) (3 * i));
            }
            availIdx = (availIdx + DEPTH) & 0xffff;
            VarHandle.fullFence();
            mem.writeU16(avail + 2, (short) availIdx);
            VarHandle.fullFence();
            waiter = Thread.currentThread();
            posted += DEPTH;
            dev.queueNotify(0);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (true) {
                VarHandle.fullFence();
                if (Short.toUnsignedInt(mem.readU16(used + 2)) == availIdx) break;
                if (System.nanoTime() > deadline) throw new IllegalStateException("requests not completed in 10 s");
                LockSupport.parkNanos(50_000);
            }
            for (int i = 0; i < DEPTH; i++) {
                if (mem.readU8(HEADERS + 32L * i + 16) != 0) throw new IllegalStateException("request " + i + " failed");
            }
        }

        /** Requests completed so far, and those that went out as READ_FIXED/WRITE_FIXED. */
        long posted;

        long fixedSubmitted() { return backend.fixedSubmitted(); }

        int blockSize() { return block; }

        @TearDown
        public void tearDown() {
            dev.close();
            io.close();
            backend.close();
            arena.close();
        }
}

    /** {@value #DEPTH} 4 KiB requests posted at once and completed. */
    @Benchmark
    @BenchmarkMode(Mode.Throughput)
    @OutputTimeUnit(TimeUnit.SECONDS)
    @OperationsPerInvocation(DEPTH)
    public void blkRequests(Blk b) {
        b.requests();
    }
}
