package dev.vmm.ffm.net;

import dev.vmm.ffm.CProbe;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** Every tun/tap ioctl number, flag and {@code struct ifreq} against the system headers. */
class TunHeaderProbeTest {
    @BeforeAll
    static void needsGcc() {
        assumeTrue(CProbe.gccAvailable(), "gcc is needed to compile the header probe");
    }

    @Test
    void constantsAndIfreqMatchTheHeaders() throws Exception {
        CProbe probe = new CProbe("sys/ioctl.h", "sys/socket.h", "sys/syscall.h", "net/if.h", "linux/if_tun.h", "linux/sockios.h");
        probe.struct(TunIoctls.IFREQ);
        TunIoctls.all().forEach(probe::constant);
        Map<String, Long> c = probe.run();
        assertThat(c).hasSameSizeAs(probe.expected());
        assertThat(probe.expected()).containsExactlyInAnyOrderEntriesOf(c);
        assertThat(c.get("struct ifreq.ifr_flags offset")).isEqualTo(TunIoctls.IFR_UNION_OFFSET);
    }
}
