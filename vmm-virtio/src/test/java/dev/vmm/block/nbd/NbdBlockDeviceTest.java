package dev.vmm.block.nbd;

import dev.vmm.block.BlockException;
import dev.vmm.block.Extent;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

import static dev.vmm.block.nbd.NbdConstants.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * {@link NbdBlockDevice} as a server sees it: which requests (type, flags, offset, length) each
 * block operation puts on the wire for each set of export flags and block-size limits, and what
 * the device makes of the replies, including a lost connection with and without a reconnect
 * delay. The server is {@link RecordingNbdServer}, written from the spec's layouts.
 */
@Timeout(value = 30, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class NbdBlockDeviceTest {
    private static final int SIZE = 1 << 20;
    @TempDir Path tmp;
    private RecordingNbdServer server;

    @BeforeEach
    void start() throws Exception { server = new RecordingNbdServer(tmp.resolve("r.sock"), SIZE); }

    @AfterEach
    void stop() throws Exception { server.close(); }

    private static void await(BooleanSupplier condition, String what) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!condition.getAsBoolean()) {
            assertThat(System.nanoTime()).as(what).isLessThan(deadline);
            Thread.sleep(5); // polling a condition under a deadline
        }
    }

    private static List<long[]> ranges(List<RecordingNbdServer.Request> rs) {
        return rs.stream().map(r -> new long[] {r.offset(), r.length()}).toList();
    }

    @Test
    void aReadOnlyExportOpenedReadWriteIsRefusedAndDisconnected() throws Exception {
        server.flags |= FLAG_READ_ONLY;
        assertThatThrownBy(() -> NbdBlockDevice.open(server.uri(""), false)).isInstanceOf(BlockException.class)
                .hasMessage("NBD export " + server.uri("") + " is read-only (open it read-only)");
        await(() -> !server.requestsOf(CMD_DISC).isEmpty(), "NBD_CMD_DISC sent");
        try (NbdBlockDevice d = NbdBlockDevice.open(server.uri(""), true)) {
            assertThat(d.readOnly()).isTrue();
            assertThatThrownBy(() -> d.write(0, MemorySegment.ofArray(new byte[1]))).isInstanceOf(BlockException.class);
            d.flush();
        }
        await(() -> server.requestsOf(CMD_DISC).size() == 2, "second NBD_CMD_DISC");
        assertThat(server.requestsOf(CMD_FLUSH)).isEmpty();
    }

    @Test
    void readsAndWritesAreSplitAtTheServersMaximum() throws Exception {
        server.maxPayload = 65536;
        new java.util.Random(1).nextBytes(server.disk);
        try (NbdBlockDevice d = NbdBlockDevice.open(server.uri(""), false)) {
            byte[] b = new byte[200000];
            d.read(1000, MemorySegment.ofArray(b));
            assertThat(b).isEqualTo(java.util.Arrays.copyOfRange(server.disk, 1000, 201000));
            assertThat(ranges(server.requestsOf(CMD_READ))).containsExactly(new long[] {1000, 65536}, new long[] {66536, 65536},
                    new long[] {132072, 65536}, new long[] {197608, 3392});
            byte[] w = WireBytes.pattern(70000, 3);
            d.write(500000, MemorySegment.ofArray(w));
            assertThat(ranges(server.requestsOf(CMD_WRITE))).containsExactly(new long[] {500000, 65536}, new long[] {565536, 4464});
            assertThat(java.util.Arrays.copyOfRange(server.disk, 500000, 570000)).isEqualTo(w);
        }
    }

    @Test
    void withoutALimitPiecesAre256KiB() throws Exception {
        try (NbdBlockDevice d = NbdBlockDevice.open(server.uri(""), false)) {
            d.write(0, MemorySegment.ofArray(new byte[600 << 10]));
            assertThat(ranges(server.requestsOf(CMD_WRITE))).containsExactly(new long[] {0, 256 << 10}, new long[] {256 << 10, 256 << 10},
                    new long[] {512 << 10, 88 << 10});
            assertThat(d.size()).isEqualTo(SIZE);
            assertThat(d.format()).isEqualTo("raw");
            assertThat(d.info().virtualSize()).isEqualTo(SIZE);
            assertThat(d.info().format()).isEqualTo("raw");
            assertThat(d.uri()).isEqualTo(server.uri(""));
            assertThat(d.readOnly()).isFalse();
            assertThatThrownBy(() -> d.read(SIZE - 1, MemorySegment.ofArray(new byte[2]))).hasMessageContaining("outside the disk");
        }
    }

    @Test
    void flushTrimAndZeroesFollowTheExportFlags() throws Exception {
        server.flags = FLAG_HAS_FLAGS;
        server.maxPayload = 4096;
        java.util.Arrays.fill(server.disk, (byte) 1);
        try (NbdBlockDevice d = NbdBlockDevice.open(server.uri(""), false)) {
            d.flush();
            d.discard(0, 8192);
            d.writeZeroes(100, 10000, true);   // no WRITE_ZEROES: written as zeroes, in pieces
            d.writeZeroes(100, 0, false);
        }
        assertThat(server.requestsOf(CMD_FLUSH)).isEmpty();
        assertThat(server.requestsOf(CMD_TRIM)).isEmpty();
        assertThat(server.requestsOf(CMD_WRITE_ZEROES)).isEmpty();
        assertThat(ranges(server.requestsOf(CMD_WRITE))).containsExactly(new long[] {100, 4096}, new long[] {4196, 4096}, new long[] {8292, 1808});
        assertThat(java.util.Arrays.copyOfRange(server.disk, 100, 10100)).containsOnly(0);
        assertThat(server.disk[99]).isEqualTo((byte) 1);
        assertThat(server.disk[10100]).isEqualTo((byte) 1);
    }

    @Test
    void flushTrimAndZeroesWhenOffered() throws Exception {
        server.advertisedSize = 3L << 30;
        try (NbdBlockDevice d = NbdBlockDevice.open(server.uri(""), false)) {
            d.flush();
            d.discard(0, (5L << 30) / 2);     // trims go in pieces of at most 1 GiB
            d.discard(4096, 0);
            d.writeZeroes(0, 4096, true);
            d.writeZeroes(8192, 4096, false); // must not leave a hole: NO_HOLE
        }
        await(() -> !server.requestsOf(CMD_DISC).isEmpty(), "NBD_CMD_DISC sent");
        List<RecordingNbdServer.Request> rs = server.requests;
        assertThat(rs).extracting(RecordingNbdServer.Request::type).containsExactly(CMD_FLUSH, CMD_TRIM, CMD_TRIM, CMD_TRIM,
                CMD_WRITE_ZEROES, CMD_WRITE_ZEROES, CMD_FLUSH, CMD_DISC);
        assertThat(ranges(server.requestsOf(CMD_TRIM))).containsExactly(new long[] {0, 1L << 30}, new long[] {1L << 30, 1L << 30},
                new long[] {2L << 30, 1L << 29});
        assertThat(server.requestsOf(CMD_WRITE_ZEROES)).extracting(RecordingNbdServer.Request::flags).containsExactly(0, CMD_FLAG_NO_HOLE);
        assertThat(server.requestsOf(CMD_FLUSH).getFirst().offset()).isZero();
        assertThat(server.requestsOf(CMD_FLUSH).getFirst().length()).isZero();
    }

    @Test
    void statusAsksForOneExtentOfBaseAllocation() throws Exception {
        server.contextId = 3;
        server.advertisedSize = 3L << 30;
        server.extents = new long[] {8192, STATE_HOLE | STATE_ZERO, 4096, 0};
        try (NbdBlockDevice d = NbdBlockDevice.open(server.uri(""), true)) {
            Extent hole = d.status(4096, 1L << 32);
            assertThat(hole).isEqualTo(new Extent(4096, 8192, false, true, 0, -1, null));
            RecordingNbdServer.Request r = server.requestsOf(CMD_BLOCK_STATUS).getFirst();
            assertThat(r.flags()).isEqualTo(CMD_FLAG_REQ_ONE);
            assertThat(r.offset()).isEqualTo(4096);
            assertThat(r.length()).isEqualTo(0x8000_0000L); // the largest length asked for at once
            server.extents = new long[] {1 << 20, STATE_ZERO};
            // An extent longer than asked is cut to the request; zero without hole is data that reads as zeroes.
            assertThat(d.status(100, 512)).isEqualTo(new Extent(100, 512, true, true, 0, 100, d.uri().toString()));
            assertThat(server.requestsOf(CMD_BLOCK_STATUS).getLast().length()).isEqualTo(512);
            // Near the end the request stops at the end of the export.
            d.status((3L << 30) - 10, 4096);
            assertThat(server.requestsOf(CMD_BLOCK_STATUS).getLast().length()).isEqualTo(10);
            assertThatThrownBy(() -> d.status(3L << 30, 1)).hasMessageContaining("outside the disk");
        }
    }

    @Test
    void withoutAContextEverythingIsData() throws Exception {
        try (NbdBlockDevice d = NbdBlockDevice.open(server.uri(""), true)) {
            assertThat(d.status(SIZE - 100, 4096)).isEqualTo(new Extent(SIZE - 100, 100, true, false, 0, SIZE - 100, d.uri().toString()));
        }
        assertThat(server.requestsOf(CMD_BLOCK_STATUS)).isEmpty();
    }

    @Test
    void serverErrorsBecomeErrnoExceptions() throws Exception {
        try (NbdBlockDevice d = NbdBlockDevice.open(server.uri(""), false)) {
            server.failErrno = NbdErrno.ENOSPC;
            assertThatThrownBy(() -> d.write(4096, MemorySegment.ofArray(new byte[10]))).isInstanceOf(NbdErrorException.class)
                    .hasMessage(d.uri() + ": write at 4096 failed: " + NbdErrno.describe(NbdErrno.ENOSPC))
                    .satisfies(e -> assertThat(((NbdErrorException) e).errno()).isEqualTo(NbdErrno.ENOSPC));
            d.write(4096, MemorySegment.ofArray(new byte[] {9}));   // the connection goes on
            assertThat(server.disk[4096]).isEqualTo((byte) 9);
        }
    }

    @Test
    void closeFlushesOnceAndAClosedDeviceRefusesWork() throws Exception {
        NbdBlockDevice d = NbdBlockDevice.open(server.uri(""), false);
        d.close();
        d.close();
        await(() -> !server.requestsOf(CMD_DISC).isEmpty(), "NBD_CMD_DISC sent");
        assertThat(server.requests).extracting(RecordingNbdServer.Request::type).containsExactly(CMD_FLUSH, CMD_DISC);
        assertThatThrownBy(() -> d.read(0, MemorySegment.ofArray(new byte[1]))).isInstanceOf(BlockException.class)
                .hasMessage("NBD disk " + d.uri() + " is closed");
    }

    @Test
    void aLostConnectionWithoutReconnectDelayFailsTheRequest() throws Exception {
        try (NbdBlockDevice d = NbdBlockDevice.open(server.uri(""), true)) {
            server.dropAt = 0;
            assertThatThrownBy(() -> d.read(0, MemorySegment.ofArray(new byte[512]))).isInstanceOf(BlockException.class)
                    .hasMessageStartingWith(d.uri() + ": read failed: connection to the NBD server lost");
            assertThatThrownBy(() -> d.read(0, MemorySegment.ofArray(new byte[512]))).hasMessageContaining("read failed");
        }
    }

    @Test
    void reconnectReplaysUnflushedWritesBeforeTheRetriedRequest() throws Exception {
        try (NbdBlockDevice d = NbdBlockDevice.open(server.uri("reconnect-delay=10"), false)) {
            d.write(0, MemorySegment.ofArray(new byte[] {1, 2}));
            d.writeZeroes(4096, 512, false);
            d.flush();                                        // forgets both
            d.write(8192, MemorySegment.ofArray(new byte[] {3}));
            d.discard(12288, 4096);
            server.dropAt = server.requests.size();           // the next request kills the connection
            byte[] b = new byte[1];
            d.read(8192, MemorySegment.ofArray(b));
            assertThat(b[0]).isEqualTo((byte) 3);
            List<RecordingNbdServer.Request> second = server.requests.stream().filter(r -> r.connection() == 1).toList();
            assertThat(second).extracting(RecordingNbdServer.Request::type, RecordingNbdServer.Request::offset).containsExactly(
                    org.assertj.core.groups.Tuple.tuple(CMD_WRITE, 8192L), org.assertj.core.groups.Tuple.tuple(CMD_TRIM, 12288L),
                    org.assertj.core.groups.Tuple.tuple(CMD_READ, 8192L));
            // After a flush nothing is replayed on the next reconnect.
            d.flush();
            server.dropAt = server.requests.size();
            d.read(0, MemorySegment.ofArray(b));
            assertThat(server.requests.stream().filter(r -> r.connection() == 2).map(RecordingNbdServer.Request::type).toList())
                    .containsExactly(CMD_READ);
        }
    }

    @Test
    void anExportThatChangedSizeIsNotReconnectedTo() throws Exception {
        try (NbdBlockDevice d = NbdBlockDevice.open(server.uri("reconnect-delay=10"), true)) {
            server.advertisedSize = SIZE / 2;
            server.dropAt = server.requests.size();
            assertThatThrownBy(() -> d.read(0, MemorySegment.ofArray(new byte[1]))).isInstanceOf(BlockException.class)
                    .hasMessage(d.uri() + ": the export changed size across a reconnect (" + SIZE + " -> " + SIZE / 2 + ")");
        }
    }
    @Test
    void refusedLocallyWhatTheServerWouldNeverSee() throws Exception {
        try (NbdBlockDevice ro = NbdBlockDevice.open(server.uri(""), true)) {
            assertThatThrownBy(() -> ro.discard(0, 4096)).isInstanceOf(BlockException.class).hasMessageContaining("read-only");
            assertThatThrownBy(() -> ro.writeZeroes(0, 4096, true)).isInstanceOf(BlockException.class).hasMessageContaining("read-only");
        }
        try (NbdBlockDevice d = NbdBlockDevice.open(server.uri(""), false)) {
            assertThatThrownBy(() -> d.write(SIZE - 1, MemorySegment.ofArray(new byte[2]))).hasMessageContaining("outside the disk");
            assertThatThrownBy(() -> d.discard(SIZE - 1, 2)).hasMessageContaining("outside the disk");
            assertThatThrownBy(() -> d.writeZeroes(SIZE, 1, false)).hasMessageContaining("outside the disk");
        }
        assertThat(server.requests).extracting(RecordingNbdServer.Request::type).doesNotContain(CMD_WRITE, CMD_TRIM, CMD_WRITE_ZEROES);
    }

    @Test
    void contextZeroIsAContextAndUnknownStateIsData() throws Exception {
        server.contextId = 0;
        server.extents = new long[] {4096, 0};
        try (NbdBlockDevice d = NbdBlockDevice.open(server.uri(""), true)) {
            assertThat(d.status(0, 8192)).isEqualTo(new Extent(0, 4096, true, false, 0, 0, d.uri().toString()));
        }
        assertThat(server.requestsOf(CMD_BLOCK_STATUS)).hasSize(1);
    }

    @Test
    void anInterruptedWaitIsAnErrorAndKeepsTheInterrupt() throws Exception {
        java.util.concurrent.CountDownLatch asked = new java.util.concurrent.CountDownLatch(1);
        try (FakeNbdServer s = new FakeNbdServer(tmp.resolve("i.sock"), c -> {
            FakeNbdServer.handshake(c);
            FakeNbdServer.request(c);
            asked.countDown();
            FakeNbdServer.read(c, 1 << 20); // never answers
        }); NbdBlockDevice d = NbdBlockDevice.open(s.uri(), true)) {
            java.util.concurrent.CompletableFuture<Object[]> outcome = new java.util.concurrent.CompletableFuture<>();
            Thread t = Thread.ofPlatform().start(() -> {
                try {
                    d.read(0, MemorySegment.ofArray(new byte[512]));
                    outcome.complete(new Object[] {null, false});
                } catch (RuntimeException e) {
                    outcome.complete(new Object[] {e, Thread.currentThread().isInterrupted()});
                }
            });
            assertThat(asked.await(10, TimeUnit.SECONDS)).isTrue();
            // Interrupted while waiting for the reply, not while still inside the socket write (an
            // interrupt there closes the channel: a ClosedByInterruptException, another path).
            await(() -> t.getState() == Thread.State.WAITING, "the reader waits for the reply");
            t.interrupt();
            Object[] o = outcome.get(10, TimeUnit.SECONDS);
            assertThat((Throwable) o[0]).isInstanceOf(BlockException.class).hasMessageEndingWith("read failed: interrupted");
            assertThat(o[1]).as("the interrupt is kept").isEqualTo(true);
        }
    }

    @Test
    void unflushedWritesAreKeptUpTo64MiBThenAFlushIsForced() throws Exception {
        // A server as large as the budget; the budget only applies with a reconnect delay.
        server.close();
        server = new RecordingNbdServer(tmp.resolve("big.sock"), (64 << 20) + 4096);
        MemorySegment budget = MemorySegment.ofArray(new byte[64 << 20]);
        try (NbdBlockDevice plain = NbdBlockDevice.open(server.uri(""), false)) {
            plain.write(0, budget);
            plain.write(0, MemorySegment.ofArray(new byte[1]));
            assertThat(server.requestsOf(CMD_FLUSH)).as("nothing kept, nothing forced").isEmpty();
        }
        server.requests.clear();
        try (NbdBlockDevice d = NbdBlockDevice.open(server.uri("reconnect-delay=10"), false)) {
            d.write(0, budget);
            assertThat(server.requestsOf(CMD_FLUSH)).as("exactly 64 MiB kept").isEmpty();
            d.write(0, MemorySegment.ofArray(new byte[1]));
            assertThat(server.requestsOf(CMD_FLUSH)).as("one byte more forces a flush").hasSize(1);
            d.write(0, budget);
            assertThat(server.requestsOf(CMD_FLUSH)).as("the flush emptied the budget").hasSize(1);
        }
    }
}
