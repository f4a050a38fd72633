package dev.vmm.config.scsi;

import dev.vmm.MainRun;
import dev.vmm.config.ConfigException;
import dev.vmm.config.DeviceSpec;
import dev.vmm.config.DiskSpec;
import dev.vmm.config.ScsiControllerSpec;
import dev.vmm.config.pci.PciTarget;
import dev.vmm.config.pci.PlacedSpec;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Issue 15: {@code --scsi-controller} and {@code --scsi ...,controller=,scsi-id=,lun=,id=}
 * ({@link ScsiLayout}), the start-up id namespace ({@link dev.vmm.config.ids.StartupIds}) in any
 * option order, and the refusals QEMU 7.2 also makes, compared with QEMU's words for the same
 * {@code -device scsi-hd} options at test time.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class ScsiLayoutTest {
    @TempDir
    Path dir;

    private static List<DeviceSpec> layout(List<String> scsi, List<String> controllers) {
        List<DeviceSpec> specs = new ArrayList<>();
        ScsiLayout.add(specs, scsi, controllers);
        return specs;
    }

    private static ScsiControllerSpec spec(DeviceSpec s) {
        return (ScsiControllerSpec) (s instanceof PlacedSpec p ? p.device() : s);
    }

    @Test
    void plainScsiOptionsMakeWhatTheyAlwaysMade() {
        List<DeviceSpec> specs = layout(List.of("path=a.raw", "path=b.raw,addr=6"), List.of());
        assertThat(specs).singleElement().isInstanceOf(PlacedSpec.class);
        ScsiControllerSpec c = spec(specs.getFirst());
        assertThat(c).isEqualTo(new ScsiControllerSpec(c.disks()));
        assertThat(c.plain()).isTrue();
        assertThat(((PlacedSpec) specs.getFirst()).target()).isEqualTo(new PciTarget(null, 6, 0));
        assertThat(layout(List.of(), List.of())).isEmpty();
        assertThatThrownBy(() -> layout(List.of("path=a,addr=5", "path=b,addr=6"), List.of())).hasMessageContaining("disagree");
    }

    @Test
    void controllersAndUnits() {
        List<DeviceSpec> specs = layout(List.of("path=a.raw,controller=s1,lun=3,id=d1", "path=b.raw,lun=2", "path=c.raw",
                "path=d.raw,controller=s1,scsi-id=0,channel=0"), List.of("id=s1,queues=2,addr=5", "id=s2"));
        assertThat(specs).hasSize(3);
        ScsiControllerSpec plain = spec(specs.get(0)), s1 = spec(specs.get(1)), s2 = spec(specs.get(2));
        assertThat(plain.id()).isNull();
        assertThat(plain.units()).containsExactly(new ScsiControllerSpec.Unit(2, null, true), new ScsiControllerSpec.Unit(0, null, false));
        assertThat(s1.id()).isEqualTo("s1");
        assertThat(s1.queues()).isEqualTo(2);
        assertThat(((PlacedSpec) specs.get(1)).target()).isEqualTo(new PciTarget(null, 5, 0));
        assertThat(s1.units()).containsExactly(new ScsiControllerSpec.Unit(3, "d1", true), new ScsiControllerSpec.Unit(0, null, true));
        assertThat(s2.disks()).isEmpty();
        assertThat(s2.queues()).isNull();
    }

    @Test
    void hostileOptionsAreOneLineRefusals() {
        String[][] bad = {
                {"path=a,controller=nope", "--scsi: controller=nope: no --scsi-controller id=nope"},
                {"path=a,controller=s1,addr=6", "--scsi: bus=/addr= place the controller: give them on --scsi-controller id=s1"},
                {"path=a,controller=s1,queues=2", "--scsi: queues= is the controller's: give it on --scsi-controller id=s1"},
                {"path=a,scsi-id=1", "--scsi: scsi-id=1: this VMM's virtio-scsi controller has one target (scsi-id 0); give each disk its own lun instead"},
                {"path=a,lun=-1", "--scsi: lun=-1 is not a number 0-4294967295"},
                {"path=a,lun=4294967296", "--scsi: lun=4294967296 is not a number 0-4294967295"},
                {"path=a,lun=x", "--scsi: lun=x is not a number 0-4294967295"},
                {"path=a,lun=1,lun=2", "--scsi: 'lun' given twice"},
                {"path=a,controller=1x", "--scsi: controller=1x is not a --scsi-controller id (a letter, then letters, digits, '-', '.', '_')"},
                {"path=a,id=a b", "--scsi: id must start with a letter and have only letters, digits, '-', '.', '_' (at most 64)"},
                {"path=a,id=" + "d".repeat(65), "--scsi: id must start with a letter and have only letters, digits, '-', '.', '_' (at most 64)"},
        };
        for (String[] b : bad) {
            assertThatThrownBy(() -> layout(List.of(b[0]), List.of("id=s1"))).as(b[0]).isInstanceOf(ConfigException.class).hasMessage(b[1]);
        }
        assertThatThrownBy(() -> layout(List.of(), List.of("queues=2"))).hasMessage("--scsi-controller: 'id=' is required");
        assertThatThrownBy(() -> layout(List.of(), List.of("id=s1,queues=0"))).isInstanceOf(ConfigException.class).hasMessageStartingWith("--scsi-controller");
        assertThatThrownBy(() -> layout(List.of(), List.of("id=s1,num_queues=2"))).hasMessageStartingWith("--scsi-controller: unknown key 'num_queues'");
        assertThatThrownBy(() -> layout(List.of(), List.of("id=s1", "id=s1"))).hasMessage("Duplicate ID 's1' for device");
        assertThatThrownBy(() -> layout(List.of("path=a,lun=1", "path=b,lun=1,id=d2"), List.of())).hasMessage("--scsi: lun already used by '(null)'");
        // A controller= naming a device that is no SCSI controller.
        List<DeviceSpec> others = new ArrayList<>(List.of(DiskSpec.parse("path=x,id=vd1")));
        assertThatThrownBy(() -> ScsiLayout.add(others, List.of("path=a,controller=vd1"), List.of()))
                .hasMessage("--scsi: controller=vd1 is a --disk id, not a SCSI controller's");
        // Ids are one namespace with the other devices'.
        List<DeviceSpec> clash = new ArrayList<>(List.of(DiskSpec.parse("path=x,id=s1")));
        ScsiLayout.add(clash, List.of("path=a,controller=s1,id=d1"), List.of("id=s1"));
        assertThatThrownBy(() -> dev.vmm.config.ids.StartupIds.check(clash)).hasMessage("Duplicate ID 's1' for device");
        List<DeviceSpec> lunClash = new ArrayList<>(List.of(DiskSpec.parse("path=x,id=d1")));
        ScsiLayout.add(lunClash, List.of("path=a,controller=s1,id=d1"), List.of("id=s1"));
        assertThatThrownBy(() -> dev.vmm.config.ids.StartupIds.check(lunClash)).hasMessage("Duplicate ID 'd1' for device");
    }

    /** QEMU 7.2's refusals of the same {@code -device scsi-hd} options at start-up, and ours. */
    @Test
    void rangeAndLunRefusalsAreQemusWords() throws Exception {
        Assumptions.assumeTrue(qemuAvailable(), "qemu-system-x86_64 not installed");
        Path a = dir.resolve("a.raw"), b = dir.resolve("b.raw");
        Files.write(a, new byte[1 << 20]);
        Files.write(b, new byte[1 << 20]);
        String[][] cases = {
                {"lun=16384"}, {"scsi-id=256"}, {"channel=1"}, {"scsi-id=0,lun=1,id=d1", "scsi-id=0,lun=1,id=d2"},
        };
        for (String[] disks : cases) {
            List<String> args = new ArrayList<>(List.of("qemu-system-x86_64", "-M", "pc", "-accel", "tcg", "-display", "none", "-S", "-nodefaults",
                    "-blockdev", "driver=file,filename=" + a + ",node-name=n0,read-only=on",
                    "-blockdev", "driver=file,filename=" + b + ",node-name=n1,read-only=on", "-device", "virtio-scsi-pci,id=s1"));
            List<String> ours = new ArrayList<>();
            for (int i = 0; i < disks.length; i++) {
                args.addAll(List.of("-device", "scsi-hd,bus=s1.0,drive=n" + i + "," + disks[i]));
                ours.add("path=" + (i == 0 ? a : b) + ",controller=s1," + disks[i]);
            }
            String qemu = qemuError(args);
            String mine = org.assertj.core.api.Assertions.catchThrowable(() -> layout(ours, List.of("id=s1"))).getMessage();
            assertThat(mine).as("%s", List.of(disks)).isEqualTo("--scsi: " + qemu);
        }
    }

    /** QEMU's one-line start-up error without its "qemu-system-x86_64: -device ...: " prefix. */
    private static String qemuError(List<String> args) throws Exception {
        Process p = new ProcessBuilder(args).redirectErrorStream(true).start();
        if (!p.waitFor(30, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError("QEMU accepted " + args);
        }
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        assertThat(p.exitValue()).as(out).isNotZero();
        String line = out.lines().filter(l -> l.startsWith("qemu-system-x86_64: -device scsi-hd")).findFirst().orElseThrow(() -> new AssertionError(out));
        int cut = line.indexOf(": ", "qemu-system-x86_64: -device ".length());
        return line.substring(cut + 2);
    }

    private static boolean qemuAvailable() {
        try {
            return new ProcessBuilder("qemu-system-x86_64", "--version").start().waitFor(20, TimeUnit.SECONDS);
        } catch (Exception e) {
            return false;
        }
    }

    /** Issue 15 item 2: a device id equal to a root port's is refused whatever the options' order (dry run included). */
    @Test
    void rootPortIdClashesAreRefusedInAnyOrder() throws Exception {
        Path a = dir.resolve("r.raw");
        Files.write(a, new byte[1 << 20]);
        String port = "id=rp1,chassis=1,slot=1";
        String[][] devices = {{"--disk", "path=" + a + ",id=rp1"}, {"--net", "fd=0,id=rp1"}, {"--scsi-controller", "id=rp1"},
                {"--scsi", "path=" + a + ",id=rp1"}};
        for (String[] d : devices) {
            MainRun before = MainRun.run("run", "--dry-run", "--machine", "q35", d[0], d[1], "--pcie-root-port", port);
            MainRun after = MainRun.run("run", "--dry-run", "--machine", "q35", "--pcie-root-port", port, d[0], d[1]);
            assertThat(before.status()).as("%s before the port: %s", d[0], before.err()).isEqualTo(2);
            assertThat(before.err().lines().toList()).as(d[0]).containsExactly("vmm: Duplicate ID 'rp1' for device");
            assertThat(after.status()).isEqualTo(2);
            assertThat(after.err()).isEqualTo(before.err());
        }
        // The new options through the whole dry run: the controller, its LUNs and their ids shown.
        MainRun ok = MainRun.run("run", "--dry-run", "--scsi-controller", "id=s1,addr=5", "--scsi", "path=" + a + ",controller=s1,lun=3,id=d1");
        assertThat(ok.status()).as(ok.err()).isZero();
        assertThat(ok.out()).contains("00:05.0 virtio-scsi-pci bus s1.0: LUN 3 " + a + " (raw, id d1) id=s1");
    }
}
