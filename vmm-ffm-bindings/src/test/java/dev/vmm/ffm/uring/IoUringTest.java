package dev.vmm.ffm.uring;

import dev.vmm.ffm.NativeException;
import dev.vmm.ffm.libc.Errno;
import dev.vmm.ffm.libc.Libc;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.Arena;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import static dev.vmm.ffm.uring.IoUringConstants.*;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** io_uring against the running kernel: real files in a temp dir, eventfds, pipes. */
class IoUringTest {
    private static final int POLLIN = 0x001;
    private static final int ECANCELED = 125;
    private static final long SYS_PIPE2 = 293;

    @TempDir
    Path dir;

    private Arena arena;
    private IoUring ring;
    private final List<Integer> fds = new ArrayList<>();

    @BeforeEach
    void setUp() {
        arena = Arena.ofConfined();
        ring = IoUring.create(32, 0);
    }

    @AfterEach
    void tearDown() {
        ring.close();
        for (int fd : fds) Libc.close(fd);
        arena.close();
    }

    private int track(int fd) {
        fds.add(fd);
        return fd;
    }

    private int tempFile(String name) {
        return track(Libc.open(dir.resolve(name).toString(), Libc.O_RDWR | Libc.O_CREAT | Libc.O_CLOEXEC, 0600));
    }

    private Cqe waitOne() {
        assertThat(ring.submitAndWait(1, 5, TimeUnit.SECONDS)).as("a completion within 5 s").isTrue();
        return ring.completionQueue().poll();
    }

    private MemorySegment pattern(long size, int seed) {
        MemorySegment s = arena.allocate(size, 4096);
        Random r = new Random(seed);
        long i = 0;
        for (; i + 8 <= size; i += 8) s.set(JAVA_LONG, i, r.nextLong());
        for (; i < size; i++) s.set(JAVA_BYTE, i, (byte) r.nextInt());
        return s;
    }

    private long stBlocks(int fd) {
        MemorySegment st = arena.allocate(Libc.STAT);
        Libc.fstat(fd, st);
        return st.get(JAVA_LONG, Libc.STAT.byteOffset(MemoryLayout.PathElement.groupElement("st_blocks")));
    }

    @Test
    void ringIsSetUpAsTheKernelReported() {
        assertThat(ring.submissionQueue().entries()).isEqualTo(32);
        assertThat(ring.completionQueue().entries()).isEqualTo(64);
        assertThat(ring.hasFeature(IORING_FEAT_SINGLE_MMAP)).isTrue();
        assertThat(ring.submissionQueue().available()).isEqualTo(32);
        assertThat(ring.completionQueue().ready()).isZero();
        try (IoUring custom = IoUring.create(5, 0, 100)) {
            assertThat(custom.submissionQueue().entries()).isEqualTo(8);
            assertThat(custom.completionQueue().entries()).isEqualTo(128);
            assertThat(custom.setupFlags() & IORING_SETUP_CQSIZE).isNotZero();
        }
    }

    @Test
    void nopRoundTrip() {
        Sqe sqe = ring.submissionQueue().prep(0xCAFE_F00D_1234L, Sqe::prepNop);
        assertThat(sqe.opcode()).isEqualTo(IORING_OP_NOP);
        assertThat(ring.submissionQueue().unpublished()).isEqualTo(1);
        assertThat(ring.submitAndWait(1)).isEqualTo(1);
        Cqe cqe = ring.completionQueue().poll();
        assertThat(cqe.userData()).isEqualTo(0xCAFE_F00D_1234L);
        assertThat(cqe.res()).isZero();
        assertThat(ring.completionQueue().poll()).isNull();
        assertThat(ring.submit()).as("nothing left to submit").isZero();
    }

    @Test
    void writeThenReadWithReadAndWrite() {
        int fd = tempFile("rw");
        MemorySegment out = pattern(8192, 1);
        ring.submissionQueue().prep(1, s -> s.prepWrite(fd, out, 4096));
        Cqe w = waitOne();
        assertThat(w.userData()).isEqualTo(1);
        assertThat(w.res()).isEqualTo(8192);

        MemorySegment in = arena.allocate(8192, 4096);
        ring.submissionQueue().prep(2, s -> s.prepRead(fd, in, 4096));
        Cqe r = waitOne();
        assertThat(r.userData()).isEqualTo(2);
        assertThat(r.res()).isEqualTo(8192);
        assertThat(in.mismatch(out)).isEqualTo(-1);

        // The hole before offset 4096 reads as zeros, and reading past the end gives a short count.
        MemorySegment head = pattern(4096 + 100, 9);
        ring.submissionQueue().prep(3, s -> s.prepRead(fd, head.asSlice(0, 100), 0));
        assertThat(waitOne().res()).isEqualTo(100);
        assertThat(head.asSlice(0, 100).mismatch(arena.allocate(100))).isEqualTo(-1);
        ring.submissionQueue().prep(4, s -> s.prepRead(fd, in, 8192));
        assertThat(waitOne().res()).isEqualTo(4096);
    }

    @Test
    void writevThenReadvAcrossDifferentlySplitBuffers() {
        int fd = tempFile("rwv");
        MemorySegment data = pattern(4433, 2);
        MemorySegment wiov = iovecs(data.asSlice(0, 100), data.asSlice(100, 4000), data.asSlice(4100, 333));
        ring.submissionQueue().prep(10, s -> s.prepWritev(fd, wiov, 3, 512));
        assertThat(waitOne().res()).isEqualTo(4433);

        MemorySegment a = arena.allocate(2000), b = arena.allocate(2433);
        ring.submissionQueue().prep(11, s -> s.prepReadv(fd, iovecs(a, b), 2, 512));
        Cqe r = waitOne();
        assertThat(r.userData()).isEqualTo(11);
        assertThat(r.res()).isEqualTo(4433);
        assertThat(a.mismatch(data.asSlice(0, 2000))).isEqualTo(-1);
        assertThat(b.mismatch(data.asSlice(2000, 2433))).isEqualTo(-1);
        // Cross-check with plain pread: the data really is in the file at that offset.
        MemorySegment check = arena.allocate(4433);
        assertThat(Libc.pread(fd, check, 512)).isEqualTo(4433);
        assertThat(check.mismatch(data)).isEqualTo(-1);
    }

    private MemorySegment iovecs(MemorySegment... bufs) {
        MemorySegment iov = arena.allocate(Libc.IOVEC, bufs.length);
        for (int i = 0; i < bufs.length; i++) {
            iov.set(JAVA_LONG, i * 16L, bufs[i].address());
            iov.set(JAVA_LONG, i * 16L + 8, bufs[i].byteSize());
        }
        return iov;
    }

    @Test
    void fsyncAndFdatasyncComplete_andErrorsArriveAsNegativeRes() {
        int fd = tempFile("sync");
        ring.submissionQueue().prep(1, s -> s.prepWrite(fd, pattern(4096, 3), 0)).flags(IOSQE_IO_LINK);
        Sqe fsync = ring.submissionQueue().prep(2, s -> s.prepFsync(fd, false));
        assertThat(fsync.opFlags()).isZero();
        assertThat(ring.submissionQueue().prep(3, s -> s.prepFsync(fd, true)).opFlags()).isEqualTo(IORING_FSYNC_DATASYNC);
        assertThat(ring.submitAndWait(3, 5, TimeUnit.SECONDS)).isTrue();
        Map<Long, Integer> res = new HashMap<>();
        ring.completionQueue().drain((ud, r, f) -> res.put(ud, r));
        assertThat(res).containsEntry(1L, 4096).containsEntry(2L, 0).containsEntry(3L, 0);

        ring.submissionQueue().prep(4, s -> s.prepFsync(999_999, false));
        Cqe bad = waitOne();
        assertThat(bad.userData()).isEqualTo(4);
        assertThat(bad.res()).isEqualTo(-Errno.EBADF);
    }

    @Test
    void fallocatePunchHoleDropsTheFileBlocks() {
        int fd = tempFile("punch");
        long mib = 1 << 20;
        MemorySegment data = pattern(mib, 4);
        assertThat(Libc.pwrite(fd, data, 0)).isEqualTo(mib);
        Libc.fsync(fd);
        long before = stBlocks(fd);
        assertThat(before).isGreaterThanOrEqualTo(mib / 512);

        Sqe sqe = ring.submissionQueue().prep(5, s -> s.prepFallocate(fd, Libc.FALLOC_FL_PUNCH_HOLE | Libc.FALLOC_FL_KEEP_SIZE, 256 * 1024, 512 * 1024));
        assertThat(sqe.opcode()).isEqualTo(IORING_OP_FALLOCATE);
        Cqe c = waitOne();
        assertThat(c.userData()).isEqualTo(5);
        assertThat(c.res()).isZero();

        assertThat(stBlocks(fd)).isLessThanOrEqualTo(before - 512 * 1024 / 512);
        MemorySegment st = arena.allocate(Libc.STAT);
        Libc.fstat(fd, st);
        assertThat(st.get(JAVA_LONG, Libc.STAT.byteOffset(MemoryLayout.PathElement.groupElement("st_size"))))
                .as("KEEP_SIZE").isEqualTo(mib);
        MemorySegment hole = arena.allocate(512 * 1024);
        hole.fill((byte) 0x55);
        Libc.pread(fd, hole, 256 * 1024);
        assertThat(hole.mismatch(arena.allocate(512 * 1024))).as("the hole reads as zeros").isEqualTo(-1);
        MemorySegment after = arena.allocate(4096);
        Libc.pread(fd, after, 768 * 1024);
        assertThat(after.mismatch(data.asSlice(768 * 1024, 4096))).as("data after the hole is kept").isEqualTo(-1);
    }

    @Test
    void queueFullGivesNullUntilTheKernelConsumesTheSlots() {
        try (IoUring small = IoUring.create(4, 0)) {
            SubmissionQueue sq = small.submissionQueue();
            for (int i = 0; i < 4; i++) assertThat(sq.prep(i, Sqe::prepNop)).isNotNull();
            assertThat(sq.available()).isZero();
            assertThat(sq.next()).as("full").isNull();
            assertThat(sq.prep(99, Sqe::prepNop)).isNull();
            assertThat(small.submit()).isEqualTo(4);
            assertThat(sq.available()).as("slots are free once consumed, before reaping").isEqualTo(4);

            // Push 40 more through the 4-slot ring the way an I/O thread would: fill, submit, reap.
            Set<Long> seen = new HashSet<>();
            small.completionQueue().drain((ud, res, f) -> seen.add(ud));
            long next = 4;
            while (next < 44) {
                Sqe s;
                while (next < 44 && (s = sq.next()) != null) s.prepNop().userData(next++);
                small.submitAndWait(1);
                small.completionQueue().drain((ud, res, f) -> seen.add(ud));
            }
            small.submitAndWait(0);
            small.completionQueue().drain((ud, res, f) -> seen.add(ud));
            assertThat(seen).hasSize(44);
            for (long i = 0; i < 44; i++) assertThat(seen).contains(i);
        }
    }

    @Test
    void completionQueueOverflowIsKeptByTheKernelAndFlushedLater() {
        try (IoUring small = IoUring.create(4, 0)) {
            assertThat(small.hasFeature(IORING_FEAT_NODROP)).isTrue();
            CompletionQueue cq = small.completionQueue();
            for (int batch = 0; batch < 3; batch++) {
                for (int i = 0; i < 4; i++) small.submissionQueue().prep(batch * 4L + i, Sqe::prepNop);
                small.submit();
            }
            assertThat(cq.ready()).as("CQ ring of 8 is full").isEqualTo(8);
            assertThat(small.submissionQueue().ringFlags() & IORING_SQ_CQ_OVERFLOW).isNotZero();
            List<Long> seen = new ArrayList<>();
            cq.drain((ud, r, f) -> seen.add(ud));
            small.submitAndWait(0); // flushes the 4 kept back
            cq.drain((ud, r, f) -> seen.add(ud));
            assertThat(seen).containsExactly(0L, 1L, 2L, 3L, 4L, 5L, 6L, 7L, 8L, 9L, 10L, 11L);
            assertThat(cq.overflow()).as("nothing dropped").isZero();
        }
    }

    @Test
    void manyOutstandingOpsCompleteOutOfOrderAndAreMatchedByUserData() {
        // 24 one-shot polls on eventfds, all outstanding at once; signal them in a shuffled order:
        // each completion that arrives is the one just signalled, not the oldest submitted.
        int n = 24;
        int[] efds = new int[n];
        for (int i = 0; i < n; i++) {
            int efd = efds[i] = track(Libc.eventfd(0, Libc.EFD_CLOEXEC | Libc.EFD_NONBLOCK));
            ring.submissionQueue().prep(1000 + i, s -> s.prepPollAdd(efd, POLLIN));
        }
        // And some file reads in between, which complete at once.
        int fd = tempFile("many");
        MemorySegment data = pattern(8 * 512, 5);
        Libc.pwrite(fd, data, 0);
        MemorySegment[] bufs = new MemorySegment[8];
        for (int i = 0; i < 8; i++) {
            MemorySegment buf = bufs[i] = arena.allocate(512);
            long offset = (7 - i) * 512L;
            ring.submissionQueue().prep(2000 + i, s -> s.prepRead(fd, buf, offset));
        }
        assertThat(ring.submit()).isEqualTo(n + 8);
        assertThat(ring.submitAndWait(8, 5, TimeUnit.SECONDS)).isTrue();
        Map<Long, Integer> reads = new HashMap<>();
        ring.completionQueue().drain((ud, res, f) -> reads.put(ud, res));
        assertThat(reads).hasSize(8).allSatisfy((ud, res) -> assertThat(res).isEqualTo(512));
        for (int i = 0; i < 8; i++) assertThat(bufs[i].mismatch(data.asSlice((7 - i) * 512L, 512))).isEqualTo(-1);

        List<Integer> order = new ArrayList<>();
        for (int i = 0; i < n; i++) order.add(i);
        Collections.shuffle(order, new Random(7));
        MemorySegment one = arena.allocate(JAVA_LONG);
        one.set(JAVA_LONG, 0, 1);
        for (int i : order) {
            assertThat(ring.completionQueue().ready()).isZero();
            assertThat(Libc.writeRaw(efds[i], one, 8)).isEqualTo(8);
            Cqe c = waitOne();
            assertThat(c.userData()).isEqualTo(1000 + i);
            assertThat(c.res() & POLLIN).isNotZero();
        }
    }

    @Test
    void registeredEventfdSignalsCompletionsToEpoll() {
        int efd = track(Libc.eventfd(0, Libc.EFD_CLOEXEC | Libc.EFD_NONBLOCK));
        int ep = track(Libc.epollCreate1(Libc.EPOLL_CLOEXEC));
        Libc.epollCtl(ep, Libc.EPOLL_CTL_ADD, efd, Libc.EPOLLIN, 77);
        ring.registerEventfd(efd);
        MemorySegment events = arena.allocate(Libc.EPOLL_EVENT, 4);
        MemorySegment counter = arena.allocate(JAVA_LONG);

        assertThat(Libc.readRaw(efd, counter, 8)).as("quiet before any completion").isEqualTo(-Errno.EAGAIN);
        ring.submissionQueue().prep(1, Sqe::prepNop);
        ring.submissionQueue().prep(2, Sqe::prepNop);
        ring.submit(); // no wait: the I/O thread learns about completions from epoll
        assertThat(Libc.epollWaitRaw(ep, events, 4, 5000)).isEqualTo(1);
        assertThat(events.get(JAVA_LONG.withByteAlignment(4), 4)).isEqualTo(77);
        assertThat(Libc.readRaw(efd, counter, 8)).isEqualTo(8);
        assertThat(counter.get(JAVA_LONG, 0)).isBetween(1L, 2L);
        assertThat(ring.completionQueue().drain((ud, r, f) -> {})).isEqualTo(2);

        // Disabled notification, then unregistered: completions no longer touch the eventfd.
        ring.completionQueue().setEventfdEnabled(false);
        assertThat(ring.completionQueue().eventfdEnabled()).isFalse();
        ring.submissionQueue().prep(3, Sqe::prepNop);
        assertThat(waitOne().userData()).isEqualTo(3);
        assertThat(Libc.readRaw(efd, counter, 8)).isEqualTo(-Errno.EAGAIN);
        ring.completionQueue().setEventfdEnabled(true);
        ring.unregisterEventfd();
        ring.submissionQueue().prep(4, Sqe::prepNop);
        assertThat(waitOne().userData()).isEqualTo(4);
        assertThat(Libc.readRaw(efd, counter, 8)).isEqualTo(-Errno.EAGAIN);
    }

    @Test
    void pollAddOnAPipeCompletesWhenDataArrives_andPollRemoveCancels() {
        MemorySegment pipe = arena.allocate(JAVA_INT, 2);
        assertThat(Libc.syscallRaw(SYS_PIPE2, pipe.address(), Libc.O_CLOEXEC, 0, 0, 0, 0)).isZero();
        int rd = track(pipe.getAtIndex(JAVA_INT, 0)), wr = track(pipe.getAtIndex(JAVA_INT, 1));

        ring.submissionQueue().prep(5, s -> s.prepPollAdd(rd, POLLIN));
        assertThat(ring.submitAndWait(1, 30, TimeUnit.MILLISECONDS)).as("nothing to read yet").isFalse();
        MemorySegment b = arena.allocate(1);
        assertThat(Libc.writeRaw(wr, b, 1)).isEqualTo(1);
        Cqe c = waitOne();
        assertThat(c.userData()).isEqualTo(5);
        assertThat(c.res() & POLLIN).isNotZero();

        // A poll on the drained (empty) pipe, removed before it fires.
        Libc.readRaw(rd, b, 1);
        ring.submissionQueue().prep(6, s -> s.prepPollAdd(rd, POLLIN));
        ring.submit();
        ring.submissionQueue().prep(7, s -> s.prepPollRemove(6));
        assertThat(ring.submitAndWait(2, 5, TimeUnit.SECONDS)).isTrue();
        Map<Long, Integer> res = new HashMap<>();
        ring.completionQueue().drain((ud, r, f) -> res.put(ud, r));
        assertThat(res).containsEntry(6L, -ECANCELED).containsEntry(7L, 0);
    }

    @Test
    void timeoutOpCompletesWithEtime() {
        MemorySegment ts = arena.allocate(IoUringLayouts.KERNEL_TIMESPEC);
        ts.set(JAVA_LONG, 8, 10_000_000L); // 10 ms
        ring.submissionQueue().prep(8, s -> s.prepTimeout(ts, 0, 0));
        Cqe c = waitOne();
        assertThat(c.userData()).isEqualTo(8);
        assertThat(c.res()).isEqualTo(-Errno.ETIME);
        assertThat(ring.submitAndWait(1, 10, TimeUnit.MILLISECONDS)).as("nothing pending").isFalse();
    }

    @Test
    void probeListsTheOpcodesTheVmmNeeds() {
        IoUringProbe probe = ring.probe();
        assertThat(probe.supports(IORING_OP_READV)).isTrue();
        assertThat(probe.supports(IORING_OP_WRITEV)).isTrue();
        assertThat(probe.supportedNames()).contains("NOP", "READV", "WRITEV", "FSYNC", "READ_FIXED", "WRITE_FIXED",
                "POLL_ADD", "READ", "WRITE", "FALLOCATE", "SENDMSG", "RECVMSG", "TIMEOUT", "ASYNC_CANCEL");
        assertThat(probe.lastOp()).isGreaterThanOrEqualTo(IORING_OP_SENDMSG_ZC);
        assertThat(probe.missing(IORING_OP_READV, IORING_OP_WRITEV, IORING_OP_FSYNC)).isEmpty();
        assertThat(probe.supports(255)).isFalse();
        assertThatThrownBy(() -> probe.require("a test", IORING_OP_READ, 255))
                .isInstanceOf(IoUringUnavailableException.class)
                .hasMessage("io_uring on this kernel lacks op 255, needed for a test");
    }

    @Test
    void fixedBuffersAndFixedFiles() {
        int fd = tempFile("fixed");
        MemorySegment region = arena.allocate(64 * 1024, 4096); // stands for a guest RAM region
        ring.registerBuffers(region);
        ring.registerFiles(-1, fd);
        MemorySegment out = region.asSlice(4096, 8192);
        MemorySegment expected = pattern(8192, 6);
        out.copyFrom(expected);
        ring.submissionQueue().prep(1, s -> s.prepWriteFixed(1, out, 0, 0)).flags(IOSQE_FIXED_FILE);
        assertThat(waitOne().res()).isEqualTo(8192);

        MemorySegment in = region.asSlice(32 * 1024, 8192);
        ring.submissionQueue().prep(2, s -> s.prepReadFixed(1, in, 0, 0)).flags(IOSQE_FIXED_FILE);
        assertThat(waitOne().res()).isEqualTo(8192);
        assertThat(in.mismatch(expected)).isEqualTo(-1);

        // A buffer outside the registered region is refused by the kernel.
        ring.submissionQueue().prep(3, s -> s.prepReadFixed(1, arena.allocate(512), 0, 0)).flags(IOSQE_FIXED_FILE);
        assertThat(waitOne().res()).isEqualTo(-Errno.EFAULT);

        assertThat(ring.updateFiles(1, -1)).isEqualTo(1);
        ring.submissionQueue().prep(4, s -> s.prepRead(1, arena.allocate(512), 0)).flags(IOSQE_FIXED_FILE);
        assertThat(waitOne().res()).isEqualTo(-Errno.EBADF);
        ring.unregisterFiles();
        ring.unregisterBuffers();
    }

    @Test
    void failingRegisterCallsNameTheCall() {
        assertThatThrownBy(() -> ring.registerFiles(999_999))
                .isInstanceOfSatisfying(NativeException.class, e -> {
                    assertThat(e.call()).isEqualTo("io_uring_register(IORING_REGISTER_FILES)");
                    assertThat(e.errno()).isEqualTo(Errno.EBADF);
                });
        assertThatThrownBy(() -> ring.unregisterBuffers())
                .isInstanceOf(NativeException.class).hasMessageStartingWith("io_uring_register(IORING_UNREGISTER_BUFFERS): ");
        assertThatThrownBy(() -> ring.registerEventfd(999_999))
                .isInstanceOf(NativeException.class).hasMessageContaining("IORING_REGISTER_EVENTFD");
    }

    @Test
    void invalidArgumentsAreRefusedBeforeReachingTheKernel() {
        assertThatThrownBy(() -> IoUring.create(0, 0)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> IoUring.create(IoUring.MAX_ENTRIES + 1, 0)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> IoUring.create(8, IORING_SETUP_SQE128)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("0x400");
        SubmissionQueue sq = ring.submissionQueue();
        MemorySegment heap = MemorySegment.ofArray(new byte[512]);
        assertThatThrownBy(() -> sq.prep(1, s -> s.prepRead(0, heap, 0))).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("heap segment");
        assertThatThrownBy(() -> sq.prep(1, s -> s.prepReadv(0, arena.allocate(16), 2, 0))).isInstanceOf(IllegalArgumentException.class);
        assertThat(sq.available()).as("a refused prep leaves its slot free").isEqualTo(32);
        assertThat(sq.unpublished()).isZero();
        assertThatThrownBy(() -> ring.submitAndWait(ring.completionQueue().entries() + 1))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> ring.registerBuffers(heap)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void setupRefusalsGiveOneLineReasons() {
        assertThat(IoUringUnavailableException.ofSetupError(Errno.EPERM, "2").getMessage())
                .isEqualTo("io_uring is unavailable: disabled by sysctl kernel.io_uring_disabled=2 (set it to 0 to allow io_uring)");
        assertThat(IoUringUnavailableException.ofSetupError(Errno.EPERM, "1").getMessage())
                .contains("kernel.io_uring_group");
        assertThat(IoUringUnavailableException.ofSetupError(Errno.EPERM, "0").getMessage())
                .contains("seccomp").doesNotContain("\n");
        IoUringUnavailableException nosys = IoUringUnavailableException.ofSetupError(Errno.ENOSYS, null);
        assertThat(nosys.getMessage()).contains("CONFIG_IO_URING");
        assertThat(nosys.errno()).isEqualTo(Errno.ENOSYS);
        assertThat(nosys.getCause()).isInstanceOf(NativeException.class).hasMessageStartingWith("io_uring_setup: ");
        assertThat(IoUringUnavailableException.ofSetupError(Errno.EINVAL, "0")).as("not an availability problem").isNull();
    }

    @Test
    void sqpollRingSubmitsWithoutEnter() {
        try (IoUring polled = IoUring.create(8, IORING_SETUP_SQPOLL)) {
            for (int i = 0; i < 3; i++) polled.submissionQueue().prep(100 + i, Sqe::prepNop);
            polled.submit();
            assertThat(polled.submitAndWait(3, 5, TimeUnit.SECONDS)).isTrue();
            List<Long> seen = new ArrayList<>();
            polled.completionQueue().drain((ud, r, f) -> seen.add(ud));
            assertThat(seen).containsExactlyInAnyOrder(100L, 101L, 102L);
        }
    }

    @Test
    void disabledRingRefusesSubmissionsUntilEnabled() {
        try (IoUring r = IoUring.create(4, IORING_SETUP_R_DISABLED)) {
            r.submissionQueue().prep(1, Sqe::prepNop);
            assertThatThrownBy(r::submit).isInstanceOfSatisfying(NativeException.class, e -> {
                assertThat(e.call()).isEqualTo("io_uring_enter");
                assertThat(e.errno()).isEqualTo(77); // EBADFD
            });
            r.enableRings();
            assertThat(r.submitAndWait(1, 5, TimeUnit.SECONDS)).isTrue();
            assertThat(r.completionQueue().poll().userData()).isEqualTo(1);
        }
    }

    @Test
    void closeIsIdempotentAndUseAfterCloseFailsCleanly() {
        SubmissionQueue sq = ring.submissionQueue();
        ring.close();
        ring.close();
        assertThatThrownBy(sq::next).isInstanceOf(IllegalStateException.class);
        assertThatThrownBy(() -> ring.completionQueue().ready()).isInstanceOf(IllegalStateException.class);
        assertThatThrownBy(() -> ring.probe()).isInstanceOf(IllegalStateException.class);
    }

    private long sink;

    @Test
    void hotPathAllocatesNothingOnceCompiled() {
        // Fill SQEs, submit-and-wait, drain CQEs: after JIT warm-up a whole round of this loop must
        // allocate nothing (measured with the thread's allocation counter, not with time). SQEs are
        // filled as the I/O threads do, straight on next()'s slot: SubmissionQueue.prep takes a
        // lambda, which a capturing call may allocate.
        var mx = (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
        long tid = Thread.currentThread().threadId();
        MemorySegment buf = arena.allocate(512);
        int fd = tempFile("hot");
        CompletionHandler handler = (ud, res, flags) -> sink += ud + res;
        long lastRound = -1;
        for (int round = 0; round < 30 && lastRound != 0; round++) {
            long before = mx.getThreadAllocatedBytes(tid);
            for (int i = 0; i < 5000; i++) {
                SubmissionQueue sq = ring.submissionQueue();
                for (int k = 0; k < 4; k++) sq.next().prepNop().userData(k);
                sq.next().prepRead(fd, buf, 0).userData(5).flags(IOSQE_ASYNC);
                ring.submitAndWait(5);
                ring.completionQueue().drain(handler);
            }
            lastRound = mx.getThreadAllocatedBytes(tid) - before;
        }
        assertThat(lastRound).as("bytes allocated by 5000 submit/reap rounds after warm-up").isZero();
    }

    @Test
    void drainStopsAtMaxAndPeekDoesNotConsume() {
        for (int i = 0; i < 5; i++) ring.submissionQueue().prep(i, Sqe::prepNop);
        ring.submitAndWait(5);
        CompletionQueue cq = ring.completionQueue();
        assertThat(cq.peek().userData()).isZero();
        assertThat(cq.peek().userData()).as("peek again: same CQE").isZero();
        List<Long> seen = new ArrayList<>();
        assertThat(cq.drain((ud, r, f) -> seen.add(ud), 2)).isEqualTo(2);
        assertThat(cq.ready()).isEqualTo(3);
        cq.advance(1);
        assertThat(cq.poll().userData()).isEqualTo(3);
        assertThatThrownBy(() -> cq.advance(2)).isInstanceOf(IllegalArgumentException.class);
        // A throwing handler consumes the CQE it was given, leaves the rest.
        ring.submissionQueue().prep(10, Sqe::prepNop);
        ring.submitAndWait(1);
        assertThatThrownBy(() -> cq.drain((ud, r, f) -> { throw new IllegalStateException("boom " + ud); }))
                .hasMessage("boom 4");
        assertThat(cq.poll().userData()).isEqualTo(10);
        assertThat(seen).containsExactly(0L, 1L);
    }
}
