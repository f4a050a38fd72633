package dev.vmm.cli.nbd;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static dev.vmm.cli.nbd.NbdCommandTest.nbd;
import static dev.vmm.cli.nbd.NbdCommandTest.run;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * libguestfs over NBD: {@code guestfish --ro --format=raw -a nbd://localhost:PORT run : list-filesystems}
 * against {@code vmm nbd} finds the ext2 file system of an image made by mke2fs. libguestfs boots
 * its appliance (built by supermin from the host's kernel and packages) under QEMU, here with TCG:
 * slow (2¼ minutes here for a first run that builds the appliance, 30 to 90 s after; see docs/nbd.md),
 * hence the long timeout. Skipped with the reason when guestfish is absent or the host has no kernel
 * supermin can read for the appliance.
 */
@Timeout(value = 900, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class NbdGuestfishTest {
    @TempDir Path tmp;

    @Test
    void guestfishListsTheExt2FileSystemServedByVmmNbd() throws Exception {
        Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/guestfish")), "guestfish not installed (apt-get install libguestfs-tools): test skipped");
        Assumptions.assumeTrue(Files.isExecutable(Path.of("/sbin/mke2fs")) || Files.isExecutable(Path.of("/usr/sbin/mke2fs")), "mke2fs not installed (e2fsprogs): test skipped");
        Assumptions.assumeTrue(readableKernel(), "no readable /boot/vmlinuz-*: supermin cannot build the libguestfs appliance (apt-get install linux-image-amd64): test skipped");

        Path root = Files.createDirectories(tmp.resolve("root/etc"));
        Files.writeString(root.resolve("hello.txt"), "hello from vmm nbd\n");
        Path image = tmp.resolve("fs.img");
        run("mke2fs", "-q", "-F", "-t", "ext2", "-L", "vmmtest", "-d", tmp.resolve("root").toString(), image.toString(), "16M");

        int port;
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            port = s.getLocalPort();
        }
        CompletableFuture<NbdCommandTest.Run> server = nbd("--bind", "127.0.0.1", "--port", Integer.toString(port), "--read-only",
                "--persistent", "--shared", "4", "-f", "raw", image.toString());
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (true) {
            assertThat(server).as("vmm nbd running").isNotDone();
            try (SocketChannel c = SocketChannel.open(new InetSocketAddress("127.0.0.1", port))) {
                break;
            } catch (IOException notYet) {
                assertThat(System.nanoTime()).as("vmm nbd listening").isLessThan(deadline);
                Thread.sleep(20); // polling a condition under a deadline
            }
        }

        ProcessBuilder pb = new ProcessBuilder("guestfish", "--ro", "--format=raw", "-a", "nbd://localhost:" + port,
                "run", ":", "list-filesystems", ":", "mount-ro", "/dev/sda", "/", ":", "cat", "/etc/hello.txt").redirectErrorStream(true);
        pb.environment().put("LIBGUESTFS_BACKEND", "direct");
        long start = System.nanoTime();
        Process p = pb.start();
        CompletableFuture<String> out = CompletableFuture.supplyAsync(() -> {
            try {
                return new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            } catch (IOException e) {
                return e.toString();
            }
        });
        if (!p.waitFor(840, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError("guestfish did not finish within 840 s");
        }
        String o = out.get(10, TimeUnit.SECONDS);
        System.out.printf("guestfish over vmm nbd took %.1f s%n", (System.nanoTime() - start) / 1e9);
        assertThat(p.exitValue()).as(o).isZero();
        assertThat(o).contains("/dev/sda: ext2").contains("hello from vmm nbd");
        assertThat(server).isNotDone(); // persistent: left to its daemon thread, as in NbdCommandTest
    }

    private static boolean readableKernel() {
        try (var s = Files.list(Path.of("/boot"))) {
            return s.anyMatch(f -> f.getFileName().toString().startsWith("vmlinuz") && Files.isReadable(f));
        } catch (IOException e) {
            return false;
        }
    }
}
