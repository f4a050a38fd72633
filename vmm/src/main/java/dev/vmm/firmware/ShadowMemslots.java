package dev.vmm.firmware;

import dev.vmm.chipset.bios.ShadowLayout;
import dev.vmm.chipset.q35.PamRegisters;
import dev.vmm.ffm.kvm.VmFd;
import dev.vmm.memory.GuestMemory;

import java.lang.foreign.MemorySegment;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static dev.vmm.ffm.kvm.KvmIoctls.KVM_MEM_READONLY;

/**
 * The KVM memory slots of the BIOS area 0xC0000-0xFFFFF, kept equal to {@link ShadowLayout#slots}
 * of the PAM registers. A PAM write arrives on the vCPU thread that made the config write; the
 * listener runs there, synchronously, so that vCPU continues only once the slots match the new
 * registers (KVM publishes a slot change to all vCPUs before the ioctl returns). Slots that went
 * away are deleted first, then the new ones created (KVM refuses overlapping slots); an access by
 * another vCPU in between finds no slot, exits, and {@code ShadowAccess} answers it with the same
 * meaning — the guest never sees a state that the registers do not describe.
 *
 * <p>Only runs with KVM (nothing here can be tested without {@code /dev/kvm}); the layout it
 * applies is {@link ShadowLayout}'s, which is unit-tested.
 */
final class ShadowMemslots implements PamRegisters.Listener {
    private final VmFd vm;
    private final GuestMemory ram;
    private final MemorySegment rom;
    private final PamRegisters pam;
    private final Map<ShadowLayout.Slot, Integer> installed = new HashMap<>();
    private final Deque<Integer> freeIds = new ArrayDeque<>();

    /** @param firstId, count the KVM slot numbers this class may use (13 cover every PAM state) */
    ShadowMemslots(VmFd vm, GuestMemory ram, MemorySegment rom, PamRegisters pam, int firstId, int count) {
        this.vm = vm;
        this.ram = ram;
        this.rom = rom;
        this.pam = pam;
        for (int i = 0; i < count; i++) freeIds.add(firstId + i);
    }

    @Override
    public void accessChanged(PamRegisters.Segment segment, PamRegisters.Access oldAccess, PamRegisters.Access newAccess) {
        sync();
    }

    /** Makes the installed slots those of the current PAM state. */
    synchronized void sync() {
        List<ShadowLayout.Slot> wanted = ShadowLayout.slots(ShadowLayout.regions(ShadowLayout.snapshot(pam), rom.byteSize()));
        for (var it = installed.entrySet().iterator(); it.hasNext(); ) {
            var e = it.next();
            if (wanted.contains(e.getKey())) continue;
            vm.setUserMemoryRegion(e.getValue(), 0, e.getKey().base(), hostOf(e.getKey()).asSlice(0, 0));
            freeIds.push(e.getValue());
            it.remove();
        }
        for (ShadowLayout.Slot s : wanted) {
            if (installed.containsKey(s)) continue;
            int id = freeIds.pop();
            vm.setUserMemoryRegion(id, s.readOnly() ? KVM_MEM_READONLY : 0, s.base(), hostOf(s));
            installed.put(s, id);
        }
    }

    private MemorySegment hostOf(ShadowLayout.Slot s) {
        return s.backing() == ShadowLayout.Backing.RAM ? ram.slice(s.base(), s.size()) : rom.asSlice(s.offset(), s.size());
    }
}
