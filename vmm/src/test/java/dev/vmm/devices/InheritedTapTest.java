package dev.vmm.devices;

import dev.vmm.config.NetOptions;
import dev.vmm.ffm.libc.Libc;
import dev.vmm.virtio.net.tap.Tap;
import dev.vmm.virtio.net.tap.TapException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * {@code --net fd=N}/{@code fds=N:M}: taps inherited open. Refusals are compared with QEMU 7.2's for
 * {@code -netdev tap,fd=N} at test time (QEMU started by a shell that opened the same kind of
 * descriptor under the number given); a real multiqueue tap is adopted when this host lets the test
 * create one (root with /dev/net/tun).
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class InheritedTapTest {
    private static final int F_DUPFD_CLOEXEC = 1030;

    @Test
    void aNumberThatIsNoOpenDescriptorIsRefusedInQemusWords() throws Exception {
        int closed = 1_000_000; // above any fd this JVM or a shell has open
        String ours = refusal(List.of(closed));
        assertThat(ours).isEqualTo("Can't use file descriptor " + closed + ": Bad file descriptor");
        String qemu = qemuRefusal("fd=" + closed, "");
        assumeTrue(qemu != null, "qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)");
        // QEMU puts the netdev id first ("n0: Can't use ..."); the rest must be the same line
        assertThat(qemu).endsWith(ours);
    }

    @Test
    void aDescriptorThatIsNoTapIsRefusedInQemusWords() throws Exception {
        int fd = Libc.open("/dev/null", Libc.O_RDWR | Libc.O_CLOEXEC, 0);
        try {
            String ours = refusal(List.of(fd)).replace("FD " + fd + ":", "FD N:");
            String qemu = qemuRefusal("fd=7", "exec 7<>/dev/null; ");
            assumeTrue(qemu != null, "qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)");
            assertThat(ours).startsWith("Unable to query TUNGETIFF on FD N: ");
            assertThat(qemu.replace("FD 7:", "FD N:")).isEqualTo(ours);
            // the caller's descriptor is left open: it is not ours to close when we refuse it
            assertThat(Libc.fcntl(fd, Libc.F_GETFD, 0)).isNotNegative();
        } finally {
            Libc.close(fd);
        }
    }

    @Test
    void aMultiqueueTapIsAdoptedUnderItsOwnName() {
        Tap made;
        try {
            made = Tap.open("vmminh" + (ProcessHandle.current().pid() % 10000), 2);
        } catch (RuntimeException e) { // TapException: no CAP_NET_ADMIN or no /dev/net/tun
            assumeTrue(false, "cannot create a tap here (needs root and /dev/net/tun): " + e.getMessage());
            return;
        }
        try (made) {
            // what a parent process would have handed down: its own descriptors of the same tap queues
            int a = Libc.fcntl(made.fd(0), F_DUPFD_CLOEXEC, 0);
            int b = Libc.fcntl(made.fd(1), F_DUPFD_CLOEXEC, 0);
            Libc.fcntl(a, Libc.F_SETFD, 0); // inherited descriptors come without close-on-exec
            NetOptions o = NetOptions.parse("fds=" + a + ":" + b + ",id=nic0");
            try (Tap adopted = InheritedTap.adopt(o.fds())) {
                assertThat(adopted.name()).isEqualTo(made.name());
                assertThat(adopted.queues()).isEqualTo(2);
                assertThat(o.queuePairs(4)).isEqualTo(2);
                assertThat(adopted.fd(0)).isEqualTo(a);
                assertThat(Libc.fcntl(a, Libc.F_GETFD, 0) & Libc.FD_CLOEXEC).as("close-on-exec set").isEqualTo(Libc.FD_CLOEXEC);
                assertThat(o.macFor(adopted.name())).isEqualTo(NetOptions.parse("tap=" + made.name()).macOrDerived());
            }
            // closing the adopted tap closed the inherited descriptors, not the other owner's
            assertThatThrownBy(() -> Libc.fcntl(a, Libc.F_GETFD, 0)).isInstanceOf(dev.vmm.ffm.NativeException.class);
            assertThat(Libc.fcntl(made.fd(0), Libc.F_GETFD, 0)).isNotNegative();
        }
    }

    private static String refusal(List<Integer> fds) {
        try {
            InheritedTap.adopt(fds).close();
        } catch (TapException e) {
            return e.getMessage();
        }
        throw new AssertionError("adopted " + fds);
    }

    /** QEMU's one-line refusal of {@code -netdev tap,ARGS,id=n0} without its program and option prefix; null without QEMU. */
    private static String qemuRefusal(String args, String shellSetUp) throws IOException, InterruptedException {
        String exe = Stream.of(System.getenv().getOrDefault("PATH", "/usr/bin").split(":"))
                .map(d -> Path.of(d, "qemu-system-x86_64")).filter(Files::isExecutable).findFirst().map(Path::toString).orElse(null);
        if (exe == null) return null;
        String option = "tap," + args + ",id=n0";
        Process p = new ProcessBuilder("bash", "-c", shellSetUp + "exec " + exe
                + " -machine none -accel tcg -display none -nodefaults -netdev " + option)
                .redirectErrorStream(true).redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as(out).isEqualTo(1);
        String prefix = "qemu-system-x86_64: -netdev " + option + ": ";
        assertThat(out).startsWith(prefix);
        return out.substring(prefix.length());
    }
}
