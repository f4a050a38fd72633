package dev.vmm.chipset.firmware;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class MpTableTest {
    static final long GPA = 0xf0000;

    static int sum(byte[] b, int off, int len) {
        int s = 0;
        for (int i = 0; i < len; i++) s += b[off + i];
        return s & 0xff;
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 2, 64, 254, 255})
    void checksumsAndParseBack(int cpus) {
        MpTable.Builder builder = MpTable.builder(cpus).cpuid(0x000806f8, 0x178bfbff);
        byte[] image = builder.build(GPA);
        assertThat(image).hasSize(builder.size());
        assertThat(sum(image, 0, 16)).isZero();
        int length = (image[16 + 4] & 0xff) | (image[16 + 5] & 0xff) << 8;
        assertThat(16 + length).isEqualTo(image.length);
        assertThat(sum(image, 16, length)).isZero();

        MpTable.Parsed p = MpTable.parse(image, GPA);
        assertThat(p.floatingPointerAddress()).isEqualTo(GPA);
        assertThat(p.configTableAddress()).isEqualTo(GPA + 16);
        assertThat(p.specRev()).isEqualTo(4);
        assertThat(p.imcrPresent()).isFalse();
        assertThat(p.localApicAddress()).isEqualTo(0xfee00000L);
        assertThat(p.oemId()).isEqualTo("VMM");

        assertThat(p.processors()).hasSize(cpus);
        assertThat(p.processors()).extracting(MpTable.Processor::apicId)
                .containsExactlyElementsOf(IntStream.range(0, cpus).boxed().toList());
        assertThat(p.processors()).allSatisfy(c -> {
            assertThat(c.enabled()).isTrue();
            assertThat(c.apicVersion()).isEqualTo(0x14);
            assertThat(c.signature()).isEqualTo(0x000806f8);
            assertThat(c.features()).isEqualTo(0x178bfbff);
        });
        assertThat(p.processors()).filteredOn(MpTable.Processor::bootstrap).hasSize(1);
        assertThat(p.processors().get(0).bootstrap()).isTrue();

        assertThat(p.buses()).containsExactly(new MpTable.Bus(0, "PCI"), new MpTable.Bus(1, "ISA"));

        int ioApicId = cpus < 255 ? cpus : 0;
        assertThat(p.ioApics()).containsExactly(new MpTable.IoApic(ioApicId, 0x20, true, 0xfec00000L));

        // ISA IRQ 0 -> pin 2, 1 and 3..15 identity, no IRQ 2; all from the ISA bus.
        assertThat(p.ioInterrupts()).hasSize(15);
        assertThat(p.ioInterrupts()).allSatisfy(i -> {
            assertThat(i.type()).isEqualTo(MpTable.INT);
            assertThat(i.sourceBus()).isEqualTo(1);
            assertThat(i.destinationId()).isEqualTo(ioApicId);
            assertThat(i.flags()).isEqualTo(MpTable.FLAGS_CONFORMING);
        });
        assertThat(p.ioInterrupts().get(0).sourceIrq()).isZero();
        assertThat(p.ioInterrupts().get(0).destinationPin()).isEqualTo(2);
        assertThat(p.ioInterrupts()).extracting(MpTable.Interrupt::sourceIrq).doesNotContain(2);
        assertThat(p.ioInterrupts()).filteredOn(i -> i.sourceIrq() != 0)
                .allSatisfy(i -> assertThat(i.destinationPin()).isEqualTo(i.sourceIrq()));

        assertThat(p.localInterrupts()).containsExactly(
                new MpTable.Interrupt(MpTable.EXTINT, 0, 1, 0, 0xff, 0),
                new MpTable.Interrupt(MpTable.NMI, 0, 1, 0, 0xff, 1));
    }

    @Test
    void pciRoutesAddEntriesAndBuses() {
        byte[] image = MpTable.builder(2)
                .addPciRoute(0, 3, 0, 16)
                .addPciRoute(0, 4, 1, 17)
                .addPciRoute(2, 0, 0, 18)
                .ioApicVersion(0x11)
                .build(GPA);
        MpTable.Parsed p = MpTable.parse(image, GPA);
        assertThat(p.buses()).containsExactly(new MpTable.Bus(0, "PCI"), new MpTable.Bus(2, "PCI"),
                new MpTable.Bus(3, "ISA"));
        assertThat(p.ioApics().get(0).version()).isEqualTo(0x11);
        assertThat(p.ioInterrupts()).filteredOn(i -> i.sourceBus() != 3).containsExactly(
                new MpTable.Interrupt(MpTable.INT, 0x0f, 0, 3 << 2, 2, 16),
                new MpTable.Interrupt(MpTable.INT, 0x0f, 0, 4 << 2 | 1, 2, 17),
                new MpTable.Interrupt(MpTable.INT, 0x0f, 2, 0, 2, 18));
        assertThat(p.localInterrupts()).allSatisfy(i -> assertThat(i.sourceBus()).isEqualTo(3));
    }

    @Test
    void customApicIdsIsaPinsAndIds() {
        byte[] image = MpTable.builder(3).apicIds(0, 2, 4).ioApicId(8)
                .isaIrqPin(0, 0).isaIrqPin(9, -1).oemId("ACME").productId("TESTBOX")
                .build(GPA);
        MpTable.Parsed p = MpTable.parse(image, GPA);
        assertThat(p.processors()).extracting(MpTable.Processor::apicId).containsExactly(0, 2, 4);
        assertThat(p.ioApics().get(0).id()).isEqualTo(8);
        assertThat(p.ioInterrupts()).hasSize(14);
        assertThat(p.ioInterrupts().get(0).destinationPin()).isZero();
        assertThat(p.ioInterrupts()).extracting(MpTable.Interrupt::sourceIrq).doesNotContain(9);
        assertThat(p.oemId()).isEqualTo("ACME");
        assertThat(p.productId()).isEqualTo("TESTBOX");
        // Default IOAPIC id follows the highest APIC id.
        assertThat(MpTable.parse(MpTable.builder(2).apicIds(0, 6).build(GPA), GPA).ioApics().get(0).id()).isEqualTo(7);
    }

    @Test
    void parseFindsTheTableInsideALargerRegionAndDetectsCorruption() {
        byte[] image = MpTable.builder(4).build(0xf5a30);
        byte[] bios = new byte[0x10000];
        System.arraycopy(image, 0, bios, 0x5a30, image.length);
        assertThat(MpTable.parse(bios, 0xf0000).processors()).hasSize(4);

        byte[] bad = image.clone();
        bad[16 + 44 + 1] ^= 1; // first processor's APIC id
        assertThatThrownBy(() -> MpTable.parse(bad, 0xf5a30)).hasMessageContaining("base table checksum");
        byte[] badFp = image.clone();
        badFp[9] = 1;
        assertThatThrownBy(() -> MpTable.parse(badFp, 0xf5a30)).hasMessageContaining("floating pointer checksum");
        assertThatThrownBy(() -> MpTable.parse(new byte[64], 0)).hasMessageContaining("no _MP_");
        // The pointer points elsewhere than the region given.
        assertThatThrownBy(() -> MpTable.parse(image, 0x1000)).hasMessageContaining("outside memory");
    }

    @Test
    void validatesParameters() {
        assertThatThrownBy(() -> MpTable.builder(0)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> MpTable.builder(256)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> MpTable.builder(2).apicIds(1, 1)).hasMessageContaining("duplicate");
        assertThatThrownBy(() -> MpTable.builder(2).apicIds(1)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> MpTable.builder(1).apicIds(255)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> MpTable.builder(1).ioApicVersion(0x30)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> MpTable.builder(1).isaIrqPin(16, 3)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new MpTable.PciRoute(0, 32, 0, 16)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new MpTable.PciRoute(0, 1, 4, 16)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new MpTable.PciRoute(0, 1, 0, 24)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> MpTable.builder(1).addPciRoute(0, 1, 0, 16).addPciRoute(0, 1, 0, 17))
                .hasMessageContaining("twice");
        assertThatThrownBy(() -> MpTable.builder(1).addPciRoute(255, 1, 0, 16).build(GPA))
                .hasMessageContaining("ISA");
        assertThatThrownBy(() -> MpTable.builder(1).build(GPA + 8)).hasMessageContaining("aligned");
        assertThatThrownBy(() -> MpTable.builder(1).build(0xffff_fff0L)).hasMessageContaining("4 GiB");
        assertThatThrownBy(() -> MpTable.builder(1).oemId("TOO LONG ID")).isInstanceOf(IllegalArgumentException.class);
    }
}
