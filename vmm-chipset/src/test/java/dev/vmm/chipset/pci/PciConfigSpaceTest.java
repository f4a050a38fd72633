package dev.vmm.chipset.pci;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class PciConfigSpaceTest {
    private final PciConfigSpace cs = PciConfigSpace.endpoint(0x1af4, 0x1041, 0x020000, 1);

    @Test
    void identityFieldsAreReadOnly() {
        cs.write(0x00, 4, 0xDEADBEEF);
        cs.write(0x08, 4, 0xFFFFFFFF);
        cs.write(0x0E, 1, 0xFF);
        cs.write(0x3D, 1, 3);
        assertThat(cs.read(0x00, 2)).isEqualTo(0x1af4);
        assertThat(cs.read(0x02, 2)).isEqualTo(0x1041);
        assertThat(cs.read(0x08, 4)).isEqualTo(0x02000001);
        assertThat(cs.read(0x0E, 1)).isZero();
        assertThat(cs.interruptPin()).isZero();
    }

    @Test
    void commandKeepsOnlyDefinedBits() {
        cs.write(0x04, 2, 0xFFFF);
        assertThat(cs.command()).isEqualTo(0x0547);
        cs.write(0x04, 2, 0);
        assertThat(cs.command()).isZero();
    }

    @Test
    void statusErrorBitsAreWriteOneToClear() {
        cs.setWord(0x06, 0xF900 | PciConfigSpace.STATUS_INTERRUPT);
        cs.write(0x06, 2, 0x0000);                  // writing 0 changes nothing
        assertThat(cs.status()).isEqualTo(0xF908);
        cs.write(0x06, 2, 0x2000 | 0x0008);         // clears bit 13 only; bit 3 is read-only
        assertThat(cs.status()).isEqualTo(0xD908);
        cs.write(0x06, 2, 0xFFFF);
        assertThat(cs.status()).isEqualTo(0x0008);
    }

    @Test
    void byteAndWordWritesWithinADword() {
        cs.write(0x3C, 1, 0x0B);                    // interrupt line is writable
        assertThat(cs.interruptLine()).isEqualTo(0x0B);
        cs.write(0x0C, 4, 0xFFFF_FFFF);             // cache line, latency RW; header type, BIST RO
        assertThat(cs.read(0x0C, 4)).isEqualTo(0x0000FFFF);
        assertThat(cs.read(0x0D, 1)).isEqualTo(0xFF);
    }

    @Test
    void outOfRangeAccessesNeitherThrowNorWrite() {
        assertThat(cs.read(0xFE, 4)).isEqualTo(0);
        assertThat(cs.read(0x400, 4)).isEqualTo(0);
        cs.write(0x100, 4, -1);
        cs.write(-4, 4, -1);
        assertThat(cs.read(0x00, 2)).isEqualTo(0x1af4);
    }

    @Test
    void writeListenersFireOnOverlap() {
        List<String> seen = new ArrayList<>();
        cs.addWriteListener(0x04, 2, (o, s) -> seen.add(o + "/" + s));
        cs.write(0x06, 2, 0);
        cs.write(0x04, 4, 0);
        cs.write(0x05, 1, 0);
        assertThat(seen).containsExactly("4/4", "5/1");
    }

    @Test
    void capabilityChainIsLinkedAndWalkable() {
        int a = cs.addCapability(0x09, new byte[]{1, 2, 3}, null);
        int b = cs.addCapability(0x11, new byte[10], null);
        int c = cs.addCapability(0x05, new byte[12], null);
        assertThat(a).isEqualTo(0x40);
        assertThat(b).isEqualTo(0x48);              // 0x40 + 5 bytes, dword aligned
        assertThat(c).isEqualTo(0x54);
        assertThat(cs.status() & PciConfigSpace.STATUS_CAPABILITIES).isNotZero();
        assertThat(cs.read(0x34, 1)).isEqualTo(0x40);
        assertThat(cs.read(0x41, 1)).isEqualTo(0x48);
        assertThat(cs.read(0x49, 1)).isEqualTo(0x54);
        assertThat(cs.read(0x55, 1)).isZero();
        assertThat(cs.capabilities()).containsExactly(
                new PciConfigSpace.Capability(0x09, 0x40),
                new PciConfigSpace.Capability(0x11, 0x48),
                new PciConfigSpace.Capability(0x05, 0x54));
        assertThat(cs.findCapability(0x11)).isEqualTo(0x48);
        assertThat(cs.read(0x42, 4) & 0xFFFFFF).isEqualTo(0x030201);
    }

    @Test
    void capabilityHeaderIsReadOnlyAndBodyFollowsItsMask() {
        int off = cs.addCapability(0x09, new byte[]{0x11, 0x22}, new byte[]{(byte) 0xF0, 0});
        cs.write(off, 4, 0xFFFF_FFFF);
        assertThat(cs.read(off, 1)).isEqualTo(0x09);
        assertThat(cs.read(off + 1, 1)).isZero();
        assertThat(cs.read(off + 2, 1)).isEqualTo(0xF1);
        assertThat(cs.read(off + 3, 1)).isEqualTo(0x22);
    }

    @Test
    void noCapabilityListWithoutCapabilities() {
        assertThat(cs.capabilities()).isEmpty();
        assertThat(cs.status() & PciConfigSpace.STATUS_CAPABILITIES).isZero();
    }

    @Test
    void capabilityThatDoesNotFitIsRefused() {
        cs.addCapability(0x09, new byte[150], null);
        assertThatThrownBy(() -> cs.addCapability(0x09, new byte[100], null)).isInstanceOf(IllegalStateException.class);
    }

    @Test
    void loopingCapabilityListFromAGuestPointOfViewTerminates() {
        int off = cs.addCapability(0x09, new byte[2], null);
        cs.setByte(off + 1, off);                   // a corrupt chain pointing at itself
        assertThat(cs.capabilities()).hasSize(48);
    }

    @Test
    void memory32BarSizing() {
        cs.addBar(0, PciBar.memory32(0x1000, false));
        assertThat(cs.read(0x10, 4)).isEqualTo(0);
        cs.write(0x10, 4, 0xFFFF_FFFF);
        assertThat(cs.read(0x10, 4)).isEqualTo(0xFFFF_F000);
        assertThat(cs.barBeingSized(0)).isTrue();
        cs.write(0x10, 4, 0xFEBF_1234);
        assertThat(cs.read(0x10, 4)).isEqualTo(0xFEBF_1000);
        assertThat(cs.barAddress(0)).isEqualTo(0xFEBF_1000L);
        assertThat(cs.barBeingSized(0)).isFalse();
    }

    @Test
    void prefetchableMemory64BarSizing() {
        cs.addBar(2, PciBar.memory64(0x4000, true));
        assertThat(cs.read(0x18, 4)).isEqualTo(0xC);        // 64-bit, prefetchable
        cs.write(0x18, 4, 0xFFFF_FFFF);
        cs.write(0x1C, 4, 0xFFFF_FFFF);
        assertThat(cs.read(0x18, 4)).isEqualTo(0xFFFF_C00C);
        assertThat(cs.read(0x1C, 4)).isEqualTo(0xFFFF_FFFF);
        cs.write(0x18, 4, 0x0000_4000);
        cs.write(0x1C, 4, 0x0000_0008);
        assertThat(cs.barAddress(2)).isEqualTo(0x8_0000_4000L);
    }

    @Test
    void hugeMemory64BarSizesIntoTheHighDword() {
        cs.addBar(0, PciBar.memory64(1L << 34, false));     // 16 GiB
        cs.write(0x10, 4, 0xFFFF_FFFF);
        cs.write(0x14, 4, 0xFFFF_FFFF);
        assertThat(cs.read(0x10, 4)).isEqualTo(0x4);
        assertThat(cs.read(0x14, 4)).isEqualTo(0xFFFF_FFFC);
    }

    @Test
    void ioBarSizing() {
        cs.addBar(4, PciBar.io(0x20));
        assertThat(cs.read(0x20, 4)).isEqualTo(1);
        cs.write(0x20, 4, 0xFFFF_FFFF);
        assertThat(cs.read(0x20, 4)).isEqualTo(0x0000_FFE1);
        cs.write(0x20, 4, 0xC040);
        assertThat(cs.barAddress(4)).isEqualTo(0xC040L);
    }

    @Test
    void unimplementedBarsAndRomReadZeroAfterSizing() {
        cs.write(0x14, 4, 0xFFFF_FFFF);
        cs.write(0x30, 4, 0xFFFF_FFFF);
        assertThat(cs.read(0x14, 4)).isZero();
        assertThat(cs.read(0x30, 4)).isZero();
    }

    @Test
    void barDeclarationsAreValidated() {
        cs.addBar(0, PciBar.memory64(0x1000, false));
        assertThatThrownBy(() -> cs.addBar(1, PciBar.io(0x10))).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> cs.addBar(5, PciBar.memory64(0x1000, false))).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> PciBar.memory32(0x1800, false)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> PciBar.io(2)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> cs.setBarAddress(0, 0x1800)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void bridgeHeaderRegisters() {
        PciConfigSpace br = PciConfigSpace.bridge(0x1b36, 0x0001, 0x060400, 0);
        assertThat(br.read(0x0E, 1)).isEqualTo(1);
        assertThat(br.barCount()).isEqualTo(2);
        br.write(0x18, 4, 0x00_05_03_00 | 0x40 << 24);      // primary 0, secondary 3, subordinate 5, latency
        assertThat(br.read(0x18, 4)).isEqualTo(0x40050300);
        br.write(0x1C, 2, 0xFFFF);                            // I/O base/limit: only bits 7:4 writable
        assertThat(br.read(0x1C, 2)).isEqualTo(0xF0F0);
        br.write(0x20, 4, 0xFFFF_FFFF);
        assertThat(br.read(0x20, 4)).isEqualTo(0xFFF0_FFF0);
        assertThat(br.read(0x24, 4)).isEqualTo(0x0001_0001); // 64-bit prefetchable window
        br.write(0x24, 4, 0xFFFF_FFFF);
        assertThat(br.read(0x24, 4)).isEqualTo(0xFFF1_FFF1);
        br.write(0x30, 4, 0xFFFF_FFFF);                       // upper I/O: 16-bit decode, read-only 0
        assertThat(br.read(0x30, 4)).isZero();
        assertThatThrownBy(() -> br.addBar(2, PciBar.io(4))).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void extendedCapabilitiesChainFrom0x100() {
        PciConfigSpace ex = PciConfigSpace.expressEndpoint(0x1b36, 0x10, 0x010802, 0);
        int a = ex.addExtendedCapability(0x0001, 2, new byte[8], null);
        int b = ex.addExtendedCapability(0x000B, 1, new byte[]{1, 2, 3, 4}, new byte[]{(byte) 0xFF, 0, 0, 0});
        assertThat(a).isEqualTo(0x100);
        assertThat(b).isEqualTo(0x10C);
        assertThat(ex.read(0x100, 4)).isEqualTo(0x10C << 20 | 2 << 16 | 0x0001);
        assertThat(ex.read(0x10C, 4)).isEqualTo(1 << 16 | 0x000B);
        ex.write(0x100, 4, 0);                              // header read-only
        ex.write(0x110, 4, 0xAAAA_AAAA);
        assertThat(ex.read(0x100, 4) & 0xFFFF).isEqualTo(1);
        assertThat(ex.read(0x110, 4)).isEqualTo(0x0403_02AA);
        assertThatThrownBy(() -> cs.addExtendedCapability(1, 1, new byte[4], null)).isInstanceOf(IllegalStateException.class);
    }
}
