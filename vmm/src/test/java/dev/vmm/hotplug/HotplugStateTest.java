package dev.vmm.hotplug;

import com.fasterxml.jackson.databind.JsonNode;
import dev.vmm.chipset.acpi.Piix4PciHotplug;
import dev.vmm.chipset.q35.PcieRootPort;
import dev.vmm.config.DeviceSpec;
import dev.vmm.config.DiskSpec;
import dev.vmm.config.RngOptions;
import dev.vmm.config.pci.PlacedSpec;
import dev.vmm.migration.stream.StateFormatException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Issue 15: a snapshot / migration stream of a machine with a PCI device plugged at run time,
 * loaded into a destination started as QEMU's is (libvirt's way): the hot-plugged device given as
 * an ordinary start-up option ({@code --disk ...,addr=5,id=vd1} / {@code bus=rp1,addr=0,id=vd1}) at the address
 * it had. Both machines are the real {@code pc}/{@code q35} recipes on scratch buses
 * ({@link HotplugRig}); the stream is written and read by the production code
 * ({@link StateTransfer}). The guest driver keeps using the disk on the destination; a destination
 * with other devices is refused with the difference named.
 */
@Timeout(value = 90, unit = TimeUnit.SECONDS)
class HotplugStateTest {
    @TempDir
    Path dir;
    private final byte[] content = new byte[1 << 20];

    private Path image() throws Exception {
        Path image = dir.resolve("disk.raw");
        if (!Files.exists(image)) {
            for (int i = 0; i < content.length; i++) content[i] = (byte) (i * 7 + 3);
            Files.write(image, content);
        }
        return image;
    }

    private static DeviceSpec disk(String text) {
        return PlacedSpec.parse("--disk", text, DiskSpec::parse);
    }

    private static void ok(JsonNode reply) {
        assertThat(reply.has("return")).as("%s", reply).isTrue();
    }

    /** pc: blockdev-add + device_add at 00:05.0, the guest reads through it; returns the guest driver. */
    private VirtioBlkGuest plugAndUse(HotplugRig source) throws Exception {
        ok(source.qmp.execute("blockdev-add", "{\"driver\": \"raw\", \"node-name\": \"n1\", \"file\": {\"driver\": \"file\", \"filename\": \""
                + image() + "\"}}"));
        ok(source.qmp.execute("device_add", "{\"driver\": \"virtio-blk-pci\", \"id\": \"vd1\", \"drive\": \"n1\", \"addr\": \"5\"}"));
        VirtioBlkGuest guest = new VirtioBlkGuest(source, 0, 5);
        guest.start();
        byte[] got = guest.readSector0(Duration.ofSeconds(20));
        assertThat(got[512]).isZero();
        assertThat(Arrays.copyOf(got, 512)).isEqualTo(Arrays.copyOf(content, 512));
        return guest;
    }

    @Test
    void pcHotPluggedDiskTravelsToADestinationStartedWithIt() throws Exception {
        try (HotplugRig source = new HotplugRig("pc", dir)) {
            VirtioBlkGuest guest = plugAndUse(source);
            // The guest has not read the announcement (PCIU) yet: it must still be pending on the destination.
            assertThat(source.registry.unsaveable()).as("no longer refused").isEmpty();
            byte[] stream = StateTransfer.save(source);
            Piix4PciHotplug.State saved = ((AcpiPciSlots) source.recipe.pciSlots()).block().state();
            assertThat(saved.up()).as("PCIU still pending at the save").isEqualTo(1 << 5);

            try (HotplugRig dest = new HotplugRig("pc", dir, List.of(disk("path=" + image() + ",addr=5,id=vd1")))) {
                StateTransfer.copyRam(source, dest, 0x100000);
                StateTransfer.load(stream, dest);
                assertThat(((AcpiPciSlots) dest.recipe.pciSlots()).block().state()).isEqualTo(saved);
                assertThat(dest.pio.read(Piix4PciHotplug.BASE + Piix4PciHotplug.PCIU, 4)).as("the guest reads the pending PCIU here")
                        .isEqualTo(1L << 5);
                assertThat(dest.cfgRead(0, 5, 0, 0, 4)).isEqualTo(0x1042_1af4L);
                // The driver continues on the destination where it was: same BAR, same ring, next index.
                VirtioBlkGuest moved = guest.movedTo(dest);
                byte[] got = moved.readSector0(Duration.ofSeconds(20));
                assertThat(got[512]).as("VIRTIO_BLK_S_OK on the destination").isZero();
                assertThat(Arrays.copyOf(got, 512)).isEqualTo(Arrays.copyOf(content, 512));
            }
        }
    }

    @Test
    void pcDestinationWithOtherDevicesIsRefusedNamingTheDifference() throws Exception {
        try (HotplugRig source = new HotplugRig("pc", dir)) {
            plugAndUse(source);
            byte[] stream = StateTransfer.save(source);
            String path = "path=" + image();
            assertThat(refusal(stream, "pc", List.of()))
                    .contains("missing device virtio-blk 'vd1' at pci.0 05.0")
                    .contains("start the destination with the source's current devices");
            assertThat(refusal(stream, "pc", List.of(disk(path + ",addr=6"))))
                    .contains("virtio-blk 'vd1' at pci.0 05.0 is at pci.0 06.0 here");
            assertThat(refusal(stream, "pc", List.of(disk(path + ",addr=5,queues=2"))))
                    .contains("virtio-blk 'vd1' at pci.0 05.0 has 1 queues in the state, 2 here");
            assertThat(refusal(stream, "pc", List.of(disk(path + ",addr=5"))))
                    .contains("virtio-blk 'vd1' at pci.0 05.0 has id 'vd1' in the state, none here");
            assertThat(refusal(stream, "pc", List.of(disk(path + ",addr=5,id=vd1"), PlacedSpec.parse("--rng", "addr=7", RngOptions::parse))))
                    .contains("extra device virtio-rng at pci.0 07.0");
        }
    }

    /** Loads {@code stream} into a fresh destination with {@code startup}; returns the one-line refusal. */
    private String refusal(byte[] stream, String machine, List<DeviceSpec> startup) throws Exception {
        try (HotplugRig dest = new HotplugRig(machine, dir, startup, machine.equals("q35") ? new String[] {"rp1"} : new String[0])) {
            Throwable t = org.assertj.core.api.Assertions.catchThrowable(() -> StateTransfer.load(stream, dest));
            assertThat(t).isInstanceOf(StateFormatException.class);
            assertThat(dest.registry.transports()).allMatch(v -> !v.isActivated()).as("nothing was loaded");
            return t.getMessage();
        }
    }

    @Test
    void q35RootPortSlotStateTravels() throws Exception {
        try (HotplugRig source = new HotplugRig("q35", dir, "rp1")) {
            PcieRootPort port = ((dev.vmm.devices.pcie.RootPortAttach.Slot) source.placement.bus("rp1")).port();
            // pciehp's set-up: enable the slot events and the hot-plug interrupt.
            int cap = port.expressCapability();
            int bus = 0, devfn = 1;                           // the root port at 00:01.0 (first free slot)
            source.cfgWrite(bus, devfn, 0, cap + PcieRootPort.EXP_SLTCTL, 2,
                    PcieRootPort.SLTCTL_ABPE | PcieRootPort.SLTCTL_PDCE | PcieRootPort.SLTCTL_CCIE | PcieRootPort.SLTCTL_HPIE);
            ok(source.qmp.execute("blockdev-add", "{\"driver\": \"raw\", \"node-name\": \"n1\", \"file\": {\"driver\": \"file\", \"filename\": \""
                    + image() + "\"}}"));
            ok(source.qmp.execute("device_add", "{\"driver\": \"virtio-blk-pci\", \"id\": \"vd1\", \"drive\": \"n1\", \"bus\": \"rp1\"}"));
            long status = source.cfgRead(bus, devfn, 0, cap + PcieRootPort.EXP_SLTSTA, 2);
            assertThat(port.hotplugInterrupt()).as("PDC pending, interrupt asserted").isTrue();
            byte[] stream = StateTransfer.save(source);

            try (HotplugRig dest = new HotplugRig("q35", dir, List.of(disk("path=" + image() + ",bus=rp1,addr=0,id=vd1")), "rp1")) {
                PcieRootPort destPort = ((dev.vmm.devices.pcie.RootPortAttach.Slot) dest.placement.bus("rp1")).port();
                assertThat(destPort.hotplugInterrupt()).as("a cold-plugged slot has no event").isFalse();
                StateTransfer.load(stream, dest);
                assertThat(dest.cfgRead(bus, devfn, 0, cap + PcieRootPort.EXP_SLTSTA, 2)).as("slot status").isEqualTo(status);
                assertThat(dest.cfgRead(bus, devfn, 0, cap + PcieRootPort.EXP_SLTCTL, 2)).as("slot control")
                        .isEqualTo(source.cfgRead(bus, devfn, 0, cap + PcieRootPort.EXP_SLTCTL, 2));
                assertThat(destPort.hotplugInterrupt()).as("the pending event's interrupt re-asserted").isTrue();
                // pciehp acknowledges PDC (write 1 to clear) on the destination: the event shadow came along.
                dest.cfgWrite(bus, devfn, 0, cap + PcieRootPort.EXP_SLTSTA, 2, PcieRootPort.SLTSTA_PDC);
                assertThat(dest.cfgRead(bus, devfn, 0, cap + PcieRootPort.EXP_SLTSTA, 2) & PcieRootPort.SLTSTA_PDC).isZero();
            }
            assertThat(refusal(stream, "q35", List.of())).contains("missing device virtio-blk 'vd1' at rp1 00.0");
        }
    }
}
