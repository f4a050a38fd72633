package dev.vmm.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vmm.it.GuestKit.Format;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Boots every guest of the kit under QEMU (the reference VMM) in both boot formats and checks its
 * report. This validates the guests themselves, so that a failure under our VMM points at the VMM.
 */
class GuestKitQemuTest {
    private static GuestKit kit;

    @BeforeAll
    static void requireQemuAndKit() {
        GuestNeeds.qemu();
        kit = GuestNeeds.guestKit();
    }

    private static Qemu.Result boot(String guest, Format format, Qemu.Config config) throws Exception {
        Path image = kit.image(guest, format);
        Qemu.Result r = Qemu.run(image, config);
        assertThat(r.timedOut()).as("timed out: %s", r.describe()).isFalse();
        assertThat(r.guestExitCode()).as("exit port value vs EXIT line: %s", r.describe())
                .isEqualTo(r.serialExitCode());
        return r;
    }

    private static String protocol(Format f) {
        return f == Format.PVH ? "pvh" : "multiboot";
    }

    @ParameterizedTest
    @EnumSource(Format.class)
    void helloReportsProtocolAndCmdlineAndReturnsFromUserMode(Format format) throws Exception {
        Qemu.Result r = boot("hello", format, Qemu.Config.defaults().withCmdline("count=10 user=1"));
        assertThat(r.serial())
                .contains("Hello from the guest kit\n")
                .contains("boot protocol: " + protocol(format) + "\n")
                .containsPattern("cmdline: .*count=10 user=1\n")
                .contains("user mode round trip: ok")
                .endsWith("EXIT 0\n");
        assertThat(r.guestExitCode()).hasValue(0);
    }

    @ParameterizedTest
    @EnumSource(Format.class)
    void demoDescribesTheMachine(Format format) throws Exception {
        Qemu.Result r = boot("demo", format, Qemu.Config.defaults().withMemoryMib(128).withCpus(2));
        assertThat(r.serial())
                .contains("boot protocol: " + protocol(format) + "\n")
                .contains("cpus: 2 (madt)\n")
                .containsPattern("cpu vendor: (GenuineIntel|AuthenticAMD)\n")
                .contains("demo: ok\n");
        // 128 MiB minus the BIOS areas and the reserved bits QEMU's e820 carves out.
        Matcher m = Pattern.compile("memory: (\\d+) MiB usable").matcher(r.serial());
        assertThat(m.find()).as(r.describe()).isTrue();
        assertThat(Integer.parseInt(m.group(1))).isBetween(120, 128);
        assertThat(r.guestExitCode()).hasValue(0);
    }

    @Test
    void cpusComeFromTheMpTableWithoutAcpi() throws Exception {
        // SeaBIOS's MP table lists only the BSP, whatever -smp says (see docs/guest-kit.md).
        Qemu.Result r = boot("demo", Format.MULTIBOOT,
                Qemu.Config.defaults().withCpus(2).withExtraArgs("-machine", "acpi=off"));
        assertThat(r.serial()).contains("cpus: 1 (mptable)\n");
        assertThat(r.guestExitCode()).hasValue(0);
    }

    @ParameterizedTest
    @EnumSource(Format.class)
    void exitsPerformsTheRequestedPioAndMmioWrites(Format format) throws Exception {
        Qemu.Result r = boot("exits", format, Qemu.Config.defaults().withCmdline("count=2000"));
        assertThat(r.serial())
                .contains("exits: count=2000 pio=0x80 mmio=0xfef00000 cpl=3")
                .contains("exits: pio: 2000 exits")
                .contains("exits: mmio: 2000 exits")
                .contains("exits: done pio=2000 mmio=2000\n");
        assertThat(r.guestExitCode()).hasValue(0);
    }

    @Test
    void exitsRejectsAnMmioAddressInsideRam() throws Exception {
        Qemu.Result r = boot("exits", Format.PVH, Qemu.Config.defaults().withCmdline("mmio=0x200000"));
        assertThat(r.serial()).contains("must be a 4-byte aligned address below 4 GiB outside RAM");
        assertThat(r.guestExitCode()).hasValue(1);
    }

    @ParameterizedTest
    @EnumSource(Format.class)
    void smpStartsEveryApplicationProcessor(Format format) throws Exception {
        Qemu.Result r = boot("smp", format, Qemu.Config.defaults().withCpus(3));
        assertThat(r.serial()).contains("smp: 3/3 CPUs checked in: ids 0 1 2\n");
        assertThat(r.guestExitCode()).hasValue(0);
    }

    @ParameterizedTest
    @EnumSource(Format.class)
    void memtestCoversRamAboveTheImage(Format format) throws Exception {
        Qemu.Result r = boot("memtest", format, Qemu.Config.defaults().withMemoryMib(48));
        Matcher m = Pattern.compile("memtest: (\\d+) MiB tested, 1 pass\\(es\\), \\d+ Mcycles, ok\n").matcher(r.serial());
        assertThat(m.find()).as(r.describe()).isTrue();
        // Everything from just above the ~1.2 MiB kit to the top of the 48 MiB.
        assertThat(Integer.parseInt(m.group(1))).isBetween(45, 47);
        assertThat(r.guestExitCode()).hasValue(0);
    }

    @Test
    void exceptionsAreReportedWithVectorAndAddress() throws Exception {
        Qemu.Result r = boot("hello", Format.PVH, Qemu.Config.defaults().withCmdline("fault=user-pf"));
        assertThat(r.serial())
                .contains("EXCEPTION vector=14 (#PF page fault) error=0x4")
                .contains("cr2=0x8000000000 cpl=3\n")
                .endsWith("EXIT 2\n");
        assertThat(r.guestExitCode()).hasValue(2);
    }

    @Test
    void badCmdlineValuesAreRejected() throws Exception {
        Qemu.Result r = boot("exits", Format.MULTIBOOT, Qemu.Config.defaults().withCmdline("count=12q"));
        assertThat(r.serial()).contains("kit: bad value for cmdline option count: '12q'");
        assertThat(r.guestExitCode()).hasValue(1);
    }
}
