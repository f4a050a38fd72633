package dev.vmm.it;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Issue 15 test 4: a NIC added at run time ({@code netdev_add} of a tap + {@code device_add}
 * virtio-net-pci on {@code pc}, ACPI hot-plug) gets its address from a real dnsmasq. As
 * {@link SmokeKernelDhcpTest}, but the kernel's own {@code ip=dhcp} only runs at boot: the
 * guest-test init waits for eth0, brings it up and runs busybox's udhcpc (over AF_PACKET), which
 * prints the lease. The network is a private namespace with a bridge (10.79.1.1/24), dnsmasq
 * serving one address and a tap made beforehand on the bridge; QEMU (TCG, the reference) or the
 * VMM runs inside the namespace and attaches to that tap.
 */
@Tag("smoke-kernel")
@Timeout(value = 25, unit = TimeUnit.MINUTES)
class SmokeKernelNicHotplugTest {
    private static final Path DNSMASQ = Path.of("/usr/sbin/dnsmasq");
    private static final String BRIDGE = "vmmbr1";
    private static final String SERVER = "10.79.1.1";
    private static final String LEASE = "10.79.1.60";
    private static final String MAC = "52:54:00:d4:c0:02";

    @Test
    void qemuReference(@TempDir Path dir) throws Exception {
        SmokeGuest.needQemu();
        needNetwork();
        Path initrd = SmokeGuest.initramfs(dir);
        run(dir, tap -> SmokeGuest.qemuCommand(dir, "pc", "1", initrd, cmdline(), List.of()), SmokeGuest.qmpSocket(dir, "qemu"),
                ",\"script\":\"no\",\"downscript\":\"no\"");
    }

    @Test
    void vmm(@TempDir Path dir) throws Exception {
        SmokeGuest.needVmmGuestUserSpace();
        needNetwork();
        Path initrd = SmokeGuest.initramfs(dir);
        run(dir, tap -> SmokeGuest.vmmCommand(dir, initrd, cmdline(), List.of("--machine", "pc")), SmokeGuest.qmpSocket(dir, "vmm"), "");
    }

    private static void needNetwork() {
        GuestNeeds.netNamespace();
        assumeTrue(Files.isExecutable(DNSMASQ), "dnsmasq is not installed (apt-get install dnsmasq-base)");
    }

    private static String cmdline() {
        return SmokeGuest.cmdline("nethp", "panic=-1");
    }

    private interface Command {
        List<String> of(String tap);
    }

    private static void run(Path dir, Command command, Path sock, String netdevExtra) throws Exception {
        String tap = "vmmnh" + ProcessHandle.current().pid() % 100000;
        Path leases = dir.resolve("dnsmasq.leases");
        Path dnsLog = dir.resolve("dnsmasq.log");
        Process dnsmasq = null;
        try (NetNamespace ns = NetNamespace.create("vmmnh")) {
            ns.ip("link", "add", BRIDGE, "type", "bridge", "forward_delay", "0");
            ns.ip("addr", "add", SERVER + "/24", "dev", BRIDGE);
            ns.ip("link", "set", BRIDGE, "up");
            ns.ip("tuntap", "add", "dev", tap, "mode", "tap");
            ns.ip("link", "set", tap, "master", BRIDGE);
            ns.ip("link", "set", tap, "up");
            dnsmasq = new ProcessBuilder(ns.command(List.of(DNSMASQ.toString(), "--no-daemon", "--conf-file=/dev/null",
                    "--port=0", "--interface=" + BRIDGE, "--bind-interfaces", "--pid-file",
                    "--dhcp-range=" + LEASE + "," + LEASE + ",255.255.255.0,1h", "--dhcp-leasefile=" + leases, "--log-dhcp")))
                    .redirectErrorStream(true).redirectOutput(dnsLog.toFile())
                    .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
            try (SmokeGuest g = SmokeGuest.start(ns.command(command.of(tap)), sock)) {
                g.expect(SmokeGuest.BOOT_BUDGET, SmokeKernel.LINUX_VERSION, SmokeGuest.said("init waits", "net hot-plug: waiting for eth0"));
                g.ok("netdev_add", "{\"type\":\"tap\",\"id\":\"hn1\",\"ifname\":\"" + tap + "\"" + netdevExtra + "}");
                g.ok("device_add", "{\"driver\":\"virtio-net-pci\",\"id\":\"nic1\",\"netdev\":\"hn1\",\"mac\":\"" + MAC + "\"}");
                g.expect(SmokeGuest.STEP_BUDGET,
                        SmokeGuest.said("eth0 appeared with the MAC", "eth0 appeared: " + MAC),
                        SmokeGuest.said("lease", "lease " + LEASE.replace(".", "\\.") + " on eth0 from " + SERVER.replace(".", "\\.")),
                        SmokeGuest.said("init ends", "done, powering off"));
                assertThat(g.exitStatus(SmokeGuest.STEP_BUDGET)).as(g.tail()).isZero();
            }
            String dns = Files.readString(dnsLog, StandardCharsets.UTF_8);
            assertThat(dns).as("dnsmasq's side").contains("DHCPACK(" + BRIDGE + ") " + LEASE + " " + MAC);
            assertThat(Files.readString(leases)).contains(MAC + " " + LEASE);
        } finally {
            if (dnsmasq != null) dnsmasq.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        }
    }
}
