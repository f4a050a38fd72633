package dev.vmm.ffm.uring;

import dev.vmm.ffm.CProbe;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemoryLayout;
import java.util.Map;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** Every io_uring struct size, member offset/size and constant against {@code <linux/io_uring.h>}. */
class IoUringHeaderProbeTest {
    @BeforeAll
    static void needsGcc() {
        assumeTrue(CProbe.gccAvailable(), "gcc is needed to compile the header probe");
    }

    @Test
    void layoutsAndConstantsMatchTheHeader() throws Exception {
        CProbe probe = new CProbe("linux/io_uring.h");
        IoUringLayouts.all().values().forEach(probe::struct);
        IoUringConstants.all().forEach(probe::constant);
        Map<String, Long> c = probe.run();
        assertThat(c).hasSameSizeAs(probe.expected());
        assertThat(probe.expected()).containsExactlyInAnyOrderEntriesOf(c);
    }

    @Test
    void theProbeCoversTheSqeUnionsAndTheFixedSizes() {
        // The union members must reach the probe by their C names (the `$` unions drop out of the path).
        Map<String, Long> expected = new CProbe("linux/io_uring.h").struct(IoUringLayouts.IO_URING_SQE).expected();
        assertThat(expected).containsEntry("struct io_uring_sqe size", 64L)
                .containsEntry("struct io_uring_sqe.addr2 offset", 8L)
                .containsEntry("struct io_uring_sqe.splice_off_in offset", 16L)
                .containsEntry("struct io_uring_sqe.fsync_flags offset", 28L)
                .containsEntry("struct io_uring_sqe.poll_events size", 2L)
                .containsEntry("struct io_uring_sqe.buf_group offset", 40L)
                .containsEntry("struct io_uring_sqe.file_index offset", 44L)
                .containsEntry("struct io_uring_sqe.addr3 offset", 48L);
        assertThat(IoUringLayouts.IO_URING_CQE.byteSize()).isEqualTo(16);
    }

    @Test
    void probeCatchesAWrongConstantAndAWrongOffset() throws Exception {
        var wrong = MemoryLayout.structLayout(JAVA_INT.withName("res"), JAVA_INT.withName("flags"),
                JAVA_LONG.withName("user_data")).withName("io_uring_cqe");
        CProbe probe = new CProbe("linux/io_uring.h").struct(wrong).constant("IORING_OP_READ", 23);
        Map<String, Long> c = probe.run();
        assertThat(c.get("struct io_uring_cqe.user_data offset")).isEqualTo(0L);
        assertThat(c.get("IORING_OP_READ")).isEqualTo(22L);
        assertThat(probe.expected()).isNotEqualTo(c);
    }
}
