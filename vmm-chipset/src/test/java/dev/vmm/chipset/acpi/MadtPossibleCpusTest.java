package dev.vmm.chipset.acpi;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * With CPU hot-plug the MADT lists every possible CPU (issue 15): the boot CPUs enabled, the others
 * disabled (Linux hot-adds only a CPU it found there), ACPI processor UID = hot-plug index, as the
 * {@code Cxxx._UID} of the AML. Read back by iasl's disassembler; without hot-plug the table is unchanged.
 */
@Timeout(60)
class MadtPossibleCpusTest {
    private static byte[] madt(AcpiTables t) {
        byte[] image = t.bytes();
        int off = (int) (t.tableAddresses().get("APIC") - t.address());
        int len = ByteBuffer.wrap(image, off + 4, 4).order(ByteOrder.LITTLE_ENDIAN).getInt();
        return Arrays.copyOfRange(image, off, off + len);
    }

    /** {uid, apic id, flags} of each Processor Local APIC entry. */
    private static List<int[]> localApics(byte[] madt) {
        List<int[]> out = new ArrayList<>();
        for (int p = 44; p < madt.length; p += madt[p + 1] & 0xff) {
            if (madt[p] == 0) out.add(new int[] {madt[p + 2] & 0xff, madt[p + 3] & 0xff, ByteBuffer.wrap(madt, p + 4, 4).order(ByteOrder.LITTLE_ENDIAN).getInt()});
        }
        return out;
    }

    @Test
    void possibleCpusAreListedDisabled(@TempDir Path dir) throws Exception {
        // two sockets of two cores, one of each present: APIC ids 0, 1, 2, 3 with 0 and 1 at boot
        AcpiTables t = AcpiTables.builder(2).apicIds(0, 1).cpuHotplug(AcpiCpuHotplug.PIIX_BASE, 0, 1, 2, 3).build(AcpiTablesTest.BASE);
        List<int[]> cpus = localApics(madt(t));
        assertThat(cpus).extracting(c -> c[0] + "/" + c[1] + "/" + c[2]).containsExactly("0/0/1", "1/1/1", "2/2/0", "3/3/0");
        Iasl.assumeInstalled();
        String dsl = Iasl.disassemble(dir, "apic", madt(t));
        assertThat(dsl.lines().filter(l -> l.contains("Processor Enabled")).map(l -> l.replaceAll(".*: ", "").strip()).toList())
                .containsExactly("1", "1", "0", "0");
    }

    @Test
    void withoutHotplugTheMadtIsUnchangedAndBootCpusMustComeFirst() {
        byte[] plain = madt(AcpiTables.builder(2).build(AcpiTablesTest.BASE));
        assertThat(localApics(plain)).extracting(c -> c[0] + "/" + c[1] + "/" + c[2]).containsExactly("0/0/1", "1/1/1");
        assertThatThrownBy(() -> AcpiTables.builder(1).apicIds(2).cpuHotplug(AcpiCpuHotplug.PIIX_BASE, 0, 1, 2).build(AcpiTablesTest.BASE))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("must be the first");
    }
}
