package dev.vmm.firmware;

import dev.vmm.chipset.bios.ShadowAccess;
import dev.vmm.chipset.bios.ShadowLayout;
import dev.vmm.chipset.bus.Bus;
import dev.vmm.chipset.fwcfg.FwCfg;
import dev.vmm.chipset.q35.PamRegisters;
import dev.vmm.ffm.kvm.KvmUnavailableException;
import dev.vmm.ffm.kvm.VmFd;
import dev.vmm.ffm.libc.Libc;
import dev.vmm.memory.GuestMemory;
import dev.vmm.memory.GuestRegion;

import java.lang.foreign.MemorySegment;

import static dev.vmm.ffm.kvm.KvmIoctls.KVM_CAP_READONLY_MEM;
import static dev.vmm.ffm.kvm.KvmIoctls.KVM_MEM_READONLY;

/**
 * Puts a firmware image into a KVM VM: the ROM as a read-only slot at 4 GiB − size (writes exit and
 * are dropped: nothing decodes there), the first RAM slot split around 0xC0000-0xFFFFF, whose slots
 * follow the PAM registers ({@link ShadowMemslots}) with {@link ShadowAccess} on the MMIO bus for
 * the accesses no slot takes, and fw_cfg on its ports. There is no SMM: SMRAM stays closed, the
 * SMRAM/ESMRAMC registers are storage (docs/firmware.md). Needs KVM (read-only memory slots).
 *
 * <p>The RAM slot layout differs from direct boot's (one slot per region), so dirty logging for
 * snapshots and migration does not cover it: a firmware-booted machine refuses to be saved.
 */
public final class FirmwareBoot implements AutoCloseable {
    /** KVM slot numbers: GuestRam uses 0 (low RAM) and 1 (above 4 GiB). */
    static final int RAM_ABOVE_1M_SLOT = 2, ROM_SLOT = 3, FIRST_SHADOW_SLOT = 4, SHADOW_SLOTS = 13;

    private final MemorySegment rom;

    private FirmwareBoot(MemorySegment rom) {
        this.rom = rom;
    }

    /** @param hostFunction the function at 00:00.0, whose PAM registers decide the BIOS area (i440FX PMC or Q35 MCH) */
    public static FirmwareBoot install(VmFd vm, Bus pio, Bus mmio, GuestMemory memory, FirmwareImage image,
                                       dev.vmm.chipset.pci.PciDevice hostFunction, FwCfg fwCfg) {
        PamRegisters pam = pamOf(hostFunction);
        if (vm.checkExtension(KVM_CAP_READONLY_MEM) <= 0) {
            throw new KvmUnavailableException("this host's KVM lacks KVM_CAP_READONLY_MEM, which firmware boot needs (the BIOS ROM)", null);
        }
        MemorySegment rom = Libc.mmap(MemorySegment.NULL, image.size(), Libc.PROT_READ | Libc.PROT_WRITE,
                Libc.MAP_PRIVATE | Libc.MAP_ANONYMOUS, -1, 0);
        MemorySegment.copy(MemorySegment.ofArray(image.bytes()), 0, rom, 0, image.size());
        vm.setUserMemoryRegion(ROM_SLOT, KVM_MEM_READONLY, image.base(), rom);

        GuestRegion low = memory.regions().getFirst();
        if (low.base() != 0 || low.size() < ShadowLayout.END) throw new IllegalStateException("firmware boot needs RAM from 0 to past 1 MiB");
        vm.setUserMemoryRegion(low.slot(), 0, 0, low.host().asSlice(0, 0));                     // delete the whole-region slot
        vm.setUserMemoryRegion(low.slot(), 0, 0, low.host().asSlice(0, ShadowLayout.START));
        if (low.size() > ShadowLayout.END) {
            vm.setUserMemoryRegion(RAM_ABOVE_1M_SLOT, 0, ShadowLayout.END, low.host().asSlice(ShadowLayout.END));
        }
        mmio.register(ShadowLayout.START, ShadowAccess.SIZE, new ShadowAccess(pam, image.bytes(), memory));
        ShadowMemslots slots = new ShadowMemslots(vm, memory, rom, pam, FIRST_SHADOW_SLOT, SHADOW_SLOTS);
        slots.sync();
        pam.addListener(slots);
        fwCfg.registerPorts(pio);
        return new FirmwareBoot(rom);
    }

    /** The PAM registers of a host bridge function. */
    static PamRegisters pamOf(dev.vmm.chipset.pci.PciDevice hostFunction) {
        return switch (hostFunction) {
            case dev.vmm.chipset.q35.Q35Mch m -> m.pam();
            case dev.vmm.chipset.q35.I440fxPmc p -> p.pam();
            default -> throw new IllegalStateException("firmware boot needs a host bridge with PAM registers, not " + hostFunction.name());
        };
    }

    /** Unmaps the ROM's host copy (after the VM is closed). */
    @Override
    public void close() {
        Libc.munmap(rom);
    }
}
