package dev.vmm.virtio.pci;

import dev.vmm.chipset.pci.MsixListener;
import dev.vmm.chipset.pci.PciConfigSpace;
import dev.vmm.chipset.pcie.PcieEndpointCapability;
import dev.vmm.memory.GuestMemory;
import dev.vmm.memory.GuestRegion;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/** The transport in PCI Express mode (below a root port) versus conventional mode: same virtio structures, plus PCIe. */
class VirtioPciExpressTest {
    private final GuestMemory memory = new GuestMemory(List.of(new GuestRegion(0, 0, Arena.ofAuto().allocate(1 << 20, 4096))));

    private VirtioPciDevice transport(boolean express) {
        return new VirtioPciDevice(new FakeVirtioDevice(), memory, (v, a, d) -> { }, MsixListener.NONE, 3, express);
    }

    @Test
    void expressModeAddsTheExtendedSpaceAndCapabilitiesOnly() {
        PciConfigSpace plain = transport(false).configSpace(), express = transport(true).configSpace();
        assertThat(plain.size()).isEqualTo(PciConfigSpace.SIZE);
        assertThat(express.size()).isEqualTo(PciConfigSpace.EXTENDED_SIZE);
        assertThat(plain.findCapability(PcieEndpointCapability.EXP_CAP_ID)).isEqualTo(-1);
        int exp = express.findCapability(PcieEndpointCapability.EXP_CAP_ID);
        assertThat(exp).isPositive();
        assertThat((express.read(exp + 2, 2) >>> 4) & 0xf).as("device/port type").isEqualTo(PcieEndpointCapability.PORT_TYPE_ENDPOINT);
        assertThat(express.findCapability(PcieEndpointCapability.PM_CAP_ID)).isPositive();
        // The virtio capabilities and MSI-X are the same list, in the same order, in both modes.
        List<Integer> plainIds = plain.capabilities().stream().map(PciConfigSpace.Capability::id).toList();
        List<Integer> expressIds = express.capabilities().stream().map(PciConfigSpace.Capability::id)
                .filter(id -> id != PcieEndpointCapability.EXP_CAP_ID && id != PcieEndpointCapability.PM_CAP_ID).toList();
        assertThat(expressIds).isEqualTo(plainIds);
        assertThat(express.read(0, 4)).isEqualTo(plain.read(0, 4));
        assertThat(express.bar(4)).isEqualTo(plain.bar(4));
        assertThat(express.read(0x100, 4)).as("no extended capabilities").isZero();
    }
}
