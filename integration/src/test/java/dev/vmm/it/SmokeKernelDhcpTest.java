package dev.vmm.it;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The smoke kernel's own DHCP client ({@code ip=dhcp}, CONFIG_IP_PNP_DHCP) gets its address from
 * a real dnsmasq over our virtio-net: a private network namespace holds a bridge with 10.79.0.1/24
 * and dnsmasq serving exactly one address; the VMM runs inside the namespace and puts its tap on
 * the bridge ({@code --net tap=...,bridge=...}). Exercises the whole path: PCI probe, feature
 * negotiation, TX of the DISCOVER/REQUEST broadcasts, RX of the OFFER/ACK into the guest's
 * (mergeable) buffers, interrupts. Nothing leaves the namespace; it is deleted afterwards.
 */
@Tag("smoke-kernel")
@Timeout(value = 25, unit = TimeUnit.MINUTES) // one boot, budget 15 min (SmokeKernel.bootBudget(900)), plus setup
class SmokeKernelDhcpTest {
    private static final Duration BOOT_BUDGET = SmokeKernel.bootBudget(900);
    private static final Path DNSMASQ = Path.of("/usr/sbin/dnsmasq");
    private static final String BRIDGE = "vmmbr0";
    private static final String SERVER = "10.79.0.1";
    private static final String LEASE = "10.79.0.50";
    private static final String MAC = "52:54:00:d4:c0:01";

    @BeforeAll
    static void needs() {
        GuestNeeds.kvm();
        GuestNeeds.netNamespace();
        assumeTrue(Files.isExecutable(DNSMASQ), "dnsmasq is not installed (apt-get install dnsmasq-base)");
    }

    @Test
    void kernelGetsItsAddressFromDnsmasqOverVirtioNet(@TempDir Path tmp) throws Exception {
        Path vmlinux = SmokeKernel.vmlinux();
        Path initrd = SmokeKernel.makeInitramfs(tmp);
        Path leases = tmp.resolve("dnsmasq.leases");
        Path dnsLog = tmp.resolve("dnsmasq.log");
        String tap = "vmmdh" + ProcessHandle.current().pid() % 100000;
        try (NetNamespace ns = NetNamespace.create("vmmdh")) {
            bootAgainstDnsmasq(ns, vmlinux, initrd, leases, dnsLog, tap);
        }
    }

    /** Everything started here is killed before the namespace goes. */
    private static void bootAgainstDnsmasq(NetNamespace ns, Path vmlinux, Path initrd, Path leases, Path dnsLog,
                                           String tap) throws Exception {
        Process dnsmasq = null;
        Process vmm = null;
        try {
            ns.ip("link", "add", BRIDGE, "type", "bridge", "forward_delay", "0");
            ns.ip("addr", "add", SERVER + "/24", "dev", BRIDGE);
            ns.ip("link", "set", BRIDGE, "up");
            dnsmasq = new ProcessBuilder(ns.command(List.of(DNSMASQ.toString(), "--no-daemon", "--conf-file=/dev/null",
                    "--port=0", "--interface=" + BRIDGE, "--bind-interfaces", "--pid-file",
                    "--dhcp-range=" + LEASE + "," + LEASE + ",255.255.255.0,1h", "--dhcp-leasefile=" + leases,
                    "--log-dhcp"))).redirectErrorStream(true).redirectOutput(dnsLog.toFile())
                    .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();

            List<String> cmd = List.of(Vmm.binary().toString(), "run", "--kernel", vmlinux.toString(),
                    "--initrd", initrd.toString(), "--memory", "256M", "--cpus", "1",
                    "--cmdline", SmokeKernel.defaultCmdline("ip=dhcp"),
                    "--net", "tap=" + tap + ",bridge=" + BRIDGE + ",mac=" + MAC);
            long t0 = System.nanoTime();
            vmm = new ProcessBuilder(ns.command(cmd)).redirectErrorStream(true)
                    .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
            try (ConsoleWatcher console = ConsoleWatcher.watch(vmm.getInputStream(), t0, null)) {
                List<ConsoleWatcher.Milestone> wanted = new ArrayList<>(List.of(
                        SmokeKernel.LINUX_VERSION,
                        ConsoleWatcher.Milestone.of("PCI probe of the virtio-net function", "pci 0000:00:0\\d\\.0: \\[1af4:1041\\]"),
                        ConsoleWatcher.Milestone.of("DHCP requests sent", "Sending DHCP requests"),
                        ConsoleWatcher.Milestone.of("DHCP answer", "IP-Config: Got DHCP answer from " + SERVER.replace(".", "\\.")
                                + ", my address is " + LEASE.replace(".", "\\.")),
                        ConsoleWatcher.Milestone.of("IP-Config complete on the virtio-net device",
                                "device=eth0, hwaddr=" + MAC + ", ipaddr=" + LEASE.replace(".", "\\.") + ", mask=255\\.255\\.255\\.0"),
                        SmokeKernel.RUN_INIT));
                wanted.addAll(SmokeKernel.hostNeedsPvmWorkarounds() ? List.of(SmokeKernel.PANIC)
                        : List.of(SmokeKernel.INIT_RAN, SmokeKernel.REBOOT));
                ConsoleWatcher.Result r = console.await(wanted, BOOT_BUDGET);
                String dns = Files.exists(dnsLog) ? Files.readString(dnsLog, StandardCharsets.UTF_8) : "";
                System.out.println("vmm DHCP boot:\n" + r.describe(0));
                assertThat(r.allSeen()).as("all milestones:\n%s\n--- dnsmasq ---\n%s", r.describe(60), dns).isTrue();
                assertThat(r.inOrder()).as("milestones in boot order:\n%s", r).isTrue();
                // The server's side of the same exchange: it handed out the lease to our MAC.
                assertThat(dns).contains("DHCPACK(" + BRIDGE + ") " + LEASE + " " + MAC);
                assertThat(Files.readString(leases)).contains(MAC + " " + LEASE);
                assertThat(vmm.waitFor(60, TimeUnit.SECONDS)).as("the VMM ends after the guest does:\n%s", r.describe(20)).isTrue();
                assertThat(vmm.exitValue()).isZero();
            }
        } finally {
            if (vmm != null) vmm.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            if (dnsmasq != null) dnsmasq.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        }
    }
}
