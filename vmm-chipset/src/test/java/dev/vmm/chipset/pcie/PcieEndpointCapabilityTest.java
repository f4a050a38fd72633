package dev.vmm.chipset.pcie;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.vmm.chipset.pci.PciConfigSpace;
import org.junit.jupiter.api.Test;

/** Where install() puts the PCI Express capability (PCIe Base 4.0, 7.5.3: capability ID 10h, a 2.0 layout). */
class PcieEndpointCapabilityTest {
    @Test
    void installReturnsTheOffsetOfTheExpressCapabilityInTheList() {
        PciConfigSpace config = PciConfigSpace.expressEndpoint(0x1af4, 0x1041, 0x010000, 1);
        int exp = PcieEndpointCapability.install(config);
        assertThat(exp).isBetween(0x40, 0xfc);
        assertThat(config.read(exp, 1)).isEqualTo(0x10);                 // capability ID: PCI Express
        assertThat(config.read(exp + 2, 2) & 0xf).isEqualTo(2);          // capability version 2
        assertThat(config.read(exp + 2, 2) >> 4 & 0xf).isEqualTo(PcieEndpointCapability.PORT_TYPE_ENDPOINT);
        // The list from the header's capabilities pointer (0x34) reaches it.
        int at = config.read(0x34, 1);
        for (int i = 0; i < 48 && at != 0 && at != exp; i++) at = config.read(at + 1, 1);
        assertThat(at).isEqualTo(exp);
    }

    @Test
    void aConventionalConfigSpaceIsRefused() {
        PciConfigSpace config = PciConfigSpace.endpoint(0x1af4, 0x1000, 0x020000, 0);
        assertThatThrownBy(() -> PcieEndpointCapability.install(config)).isInstanceOf(IllegalArgumentException.class);
    }
}
