package dev.vmm.chipset.acpi;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Resource descriptors at the limits each {@link ResourceTemplate} method accepts, compared with
 * what ACPICA's {@code iasl} compiles from the same ASL macro at test time (the oracle), and the
 * values just past those limits refused. PIT showed every bound of the validation surviving.
 */
class ResourceTemplateLimitsTest {

    @Test
    @Timeout(120)
    void descriptorsAtTheLimitsAreWhatIaslCompiles(@TempDir Path dir) throws Exception {
        Iasl.assumeInstalled();
        Map<String, ResourceTemplate> cases = new LinkedHashMap<>();
        cases.put("IO (Decode16, 0x0000, 0xFFFF, 0xFF, 0xFF)", new ResourceTemplate().io(0, 0xffff, 0xff, 0xff));
        cases.put("IO (Decode16, 0x0070, 0x0070, 0x00, 0x01)", new ResourceTemplate().io(0x70, 0x70, 0, 1));
        cases.put("IRQNoFlags () {0,15}", new ResourceTemplate().irqNoFlags(0, 15));
        cases.put("Memory32Fixed (ReadWrite, 0xFFFFF000, 0x00001000)", new ResourceTemplate().memory32Fixed(0xffff_f000L, 0x1000));
        cases.put("Memory32Fixed (ReadWrite, 0x00000000, 0x00000000)", new ResourceTemplate().memory32Fixed(0, 0));
        cases.put("WordBusNumber (ResourceProducer, MinFixed, MaxFixed, PosDecode, 0x0000, 0x00FF, 0x00FF, 0x0000, 0x0001)",
                new ResourceTemplate().wordBusNumber(0xff, 0xff));
        cases.put("WordIO (ResourceProducer, MinFixed, MaxFixed, PosDecode, EntireRange, 0x0000, 0x0CF8, 0x0CF8, 0x0000, 0x0001)",
                new ResourceTemplate().wordIo(0xcf8, 0xcf8));
        cases.put("WordIO (ResourceProducer, MinFixed, MaxFixed, PosDecode, EntireRange, 0x0000, 0x0000, 0xFFFE, 0x0000, 0xFFFF)",
                new ResourceTemplate().wordIo(0, 0xfffe));
        cases.put("DWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, Cacheable, ReadWrite, 0x00000000, 0x00000000, 0xFFFFFFFE, 0x00000000, 0xFFFFFFFF)",
                new ResourceTemplate().dwordMemory(0, 0xffff_fffeL));
        cases.put("DWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, Cacheable, ReadWrite, 0x00000000, 0xFFFFFFFF, 0xFFFFFFFF, 0x00000000, 0x00000001)",
                new ResourceTemplate().dwordMemory(0xffff_ffffL, 0xffff_ffffL));
        cases.put("QWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, Cacheable, ReadWrite, 0x0000000000000000, 0x0000000000000001, 0xFFFFFFFFFFFFFFFF, 0x0000000000000000, 0xFFFFFFFFFFFFFFFF)",
                new ResourceTemplate().qwordMemory(1, -1L));
        cases.put("QWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, Cacheable, ReadWrite, 0x0000000000000000, 0x0000000000000000, 0x0000000000000000, 0x0000000000000000, 0x0000000000000001)",
                new ResourceTemplate().qwordMemory(0, 0));

        StringBuilder asl = new StringBuilder("DefinitionBlock (\"\", \"SSDT\", 2, \"VMMTST\", \"RESLIM\", 1)\n{\n");
        int i = 0;
        for (String macro : cases.keySet())
            asl.append(String.format("    Name (R%03d, ResourceTemplate () { %s })%n", i++, macro));
        asl.append("}\n");
        Files.writeString(dir.resolve("limits.asl"), asl);
        Iasl.Result r = Iasl.run(dir, "-p", "limits", "limits.asl");
        assertThat(r.exitCode()).as(r.output()).isZero();
        String aml = HexFormat.of().formatHex(Files.readAllBytes(dir.resolve("limits.aml")));

        for (var c : cases.entrySet()) {
            // the template's bytes (descriptor, End Tag, checksum) appear as the Name's buffer data
            String ours = HexFormat.of().formatHex(c.getValue().toByteArray());
            assertThat(aml).as(c.getKey()).contains(ours);
        }
    }

    @Test
    void valuesJustPastTheLimitsAreRefused() {
        assertRefused(() -> new ResourceTemplate().io(-1, 0, 1, 1));
        assertRefused(() -> new ResourceTemplate().io(0, 0x10000, 1, 1));
        assertRefused(() -> new ResourceTemplate().io(0, 1, 0x100, 1));
        assertRefused(() -> new ResourceTemplate().io(0, 1, -1, 1));
        assertRefused(() -> new ResourceTemplate().io(0, 1, 1, 0x100));
        assertRefused(() -> new ResourceTemplate().io(0, 1, 1, -1));
        assertRefused(() -> new ResourceTemplate().irqNoFlags(-1));
        assertRefused(() -> new ResourceTemplate().memory32Fixed(-1, 1));
        assertRefused(() -> new ResourceTemplate().memory32Fixed(0, -1));
        assertRefused(() -> new ResourceTemplate().memory32Fixed(0xffff_f000L, 0x1001));
        assertRefused(() -> new ResourceTemplate().wordBusNumber(-1, 0));
        assertRefused(() -> new ResourceTemplate().wordBusNumber(5, 4));
        assertRefused(() -> new ResourceTemplate().wordIo(-1, 0));
        assertRefused(() -> new ResourceTemplate().wordIo(0, 0x10000));
        assertRefused(() -> new ResourceTemplate().wordIo(5, 4));
        assertRefused(() -> new ResourceTemplate().dwordMemory(-1, 0));
        assertRefused(() -> new ResourceTemplate().dwordMemory(5, 4));
        assertRefused(() -> new ResourceTemplate().qwordMemory(0, -1L));
    }

    @Test
    void aFullRangeWhoseLengthDoesNotFitTheDescriptorIsRefused() {
        // 0..0xFFFF is 0x10000 ports and 0..0xFFFFFFFF 4 GiB: neither length fits the Word/DWord
        // length field (it would wrap to 0), as a full 64-bit range does not fit QWordMemory's.
        assertRefused(() -> new ResourceTemplate().wordIo(0, 0xffff));
        assertRefused(() -> new ResourceTemplate().dwordMemory(0, 0xffff_ffffL));
    }

    private static void assertRefused(org.assertj.core.api.ThrowableAssert.ThrowingCallable call) {
        assertThatThrownBy(call).isInstanceOf(IllegalArgumentException.class);
    }
}
