package dev.vmm.ffm.kvm;

import dev.vmm.ffm.NativeException;
import dev.vmm.ffm.libc.Libc;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;

import static dev.vmm.ffm.kvm.KvmIoctls.*;
import static dev.vmm.ffm.kvm.KvmLayouts.offset;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/** A VM fd: memory slots, vCPUs, the in-kernel irqchip and PIT, irqfd/ioeventfd, routing, clocks. */
public final class VmFd implements AutoCloseable {
    private final Kvm kvm;
    private final int fd;
    private final long vcpuMmapSize;

    VmFd(Kvm kvm, int fd) {
        this.kvm = kvm;
        this.fd = fd;
        this.vcpuMmapSize = kvm.vcpuMmapSize();
    }

    public int fd() { return fd; }

    public Kvm kvm() { return kvm; }

    /** KVM_CHECK_EXTENSION on the VM fd (some capabilities are per VM). */
    public int checkExtension(int cap) {
        return Math.max(Libc.ioctlRaw(fd, KVM_CHECK_EXTENSION, cap), 0);
    }

    /** KVM_SET_USER_MEMORY_REGION; a {@code host} of size 0 deletes the slot. */
    public void setUserMemoryRegion(int slot, int flags, long guestPhysAddr, MemorySegment host) {
        StructIoctl.write(fd, "KVM_SET_USER_MEMORY_REGION", KVM_SET_USER_MEMORY_REGION, KvmLayouts.KVM_USERSPACE_MEMORY_REGION,
                slot, flags, guestPhysAddr, host.byteSize(), host.address());
    }

    public VcpuFd createVcpu(int id) {
        int vcpu = Libc.ioctl(fd, "KVM_CREATE_VCPU", KVM_CREATE_VCPU, id);
        return new VcpuFd(this, vcpu, id, vcpuMmapSize);
    }

    public void setTssAddr(long addr) {
        Libc.ioctl(fd, "KVM_SET_TSS_ADDR", KVM_SET_TSS_ADDR, addr);
    }

    public void setIdentityMapAddr(long addr) {
        try (Arena a = Arena.ofConfined()) {
            Libc.ioctl(fd, "KVM_SET_IDENTITY_MAP_ADDR", KVM_SET_IDENTITY_MAP_ADDR, a.allocateFrom(JAVA_LONG, addr));
        }
    }

    public void createIrqchip() {
        Libc.ioctl(fd, "KVM_CREATE_IRQCHIP", KVM_CREATE_IRQCHIP, 0L);
    }

    /** KVM_CREATE_PIT2 with the speaker port left to user space? No: a dummy speaker, as QEMU does. */
    public void createPit2() {
        StructIoctl.write(fd, "KVM_CREATE_PIT2", KVM_CREATE_PIT2, KvmLayouts.KVM_PIT_CONFIG, KVM_PIT_SPEAKER_DUMMY);
    }

    /** Drives an in-kernel irqchip input line (GSI) to {@code level}. */
    public void irqLine(int gsi, boolean level) {
        StructIoctl.write(fd, "KVM_IRQ_LINE", KVM_IRQ_LINE, KvmLayouts.KVM_IRQ_LEVEL, gsi, level ? 1 : 0);
    }

    /** Binds {@code eventfd} to {@code gsi}: a write to the eventfd injects the interrupt without a VMM exit. */
    public void registerIrqfd(int eventfd, int gsi, int resampleFd) {
        irqfd(eventfd, gsi, resampleFd >= 0 ? KVM_IRQFD_FLAG_RESAMPLE : 0, Math.max(resampleFd, 0));
    }

    public void unregisterIrqfd(int eventfd, int gsi) {
        irqfd(eventfd, gsi, KVM_IRQFD_FLAG_DEASSIGN, 0);
    }

    private void irqfd(int eventfd, int gsi, int flags, int resampleFd) {
        StructIoctl.write(fd, "KVM_IRQFD", KVM_IRQFD, KvmLayouts.KVM_IRQFD, eventfd, gsi, flags, resampleFd);
    }

    /**
     * Binds a guest write at {@code addr} (PIO port or MMIO address) of {@code len} bytes to
     * {@code eventfd}; with {@code datamatch} non-null only writes of that value match.
     */
    public void registerIoeventfd(int eventfd, long addr, int len, boolean pio, Long datamatch) {
        ioeventfd(eventfd, addr, len, pio, datamatch, false);
    }

    public void unregisterIoeventfd(int eventfd, long addr, int len, boolean pio, Long datamatch) {
        ioeventfd(eventfd, addr, len, pio, datamatch, true);
    }

    private void ioeventfd(int eventfd, long addr, int len, boolean pio, Long datamatch, boolean deassign) {
        int flags = (pio ? KVM_IOEVENTFD_FLAG_PIO : 0) | (datamatch != null ? KVM_IOEVENTFD_FLAG_DATAMATCH : 0)
                | (deassign ? KVM_IOEVENTFD_FLAG_DEASSIGN : 0);
        StructIoctl.write(fd, "KVM_IOEVENTFD", KVM_IOEVENTFD, KvmLayouts.KVM_IOEVENTFD,
                datamatch == null ? 0 : datamatch, addr, len, eventfd, flags);
    }

    /** One GSI route: to an irqchip pin or to an MSI message. */
    public sealed interface Route permits IrqchipRoute, MsiRoute {
        int gsi();
    }

    public record IrqchipRoute(int gsi, int irqchip, int pin) implements Route {}

    public record MsiRoute(int gsi, long address, int data) implements Route {}

    /** KVM_SET_GSI_ROUTING: replaces the whole routing table. */
    public void setGsiRouting(List<Route> routes) {
        long entry = KvmLayouts.KVM_IRQ_ROUTING_ENTRY.byteSize();
        long header = KvmLayouts.KVM_IRQ_ROUTING.byteSize();
        long u = offset(KvmLayouts.KVM_IRQ_ROUTING_ENTRY, "u");
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(header + entry * routes.size(), 8);
            s.set(JAVA_INT, 0, routes.size());
            for (int i = 0; i < routes.size(); i++) {
                long o = header + entry * i;
                Route r = routes.get(i);
                s.set(JAVA_INT, o, r.gsi());
                switch (r) {
                    case IrqchipRoute ic -> {
                        s.set(JAVA_INT, o + 4, KVM_IRQ_ROUTING_IRQCHIP);
                        s.set(JAVA_INT, o + u, ic.irqchip());
                        s.set(JAVA_INT, o + u + 4, ic.pin());
                    }
                    case MsiRoute m -> {
                        s.set(JAVA_INT, o + 4, KVM_IRQ_ROUTING_MSI);
                        s.set(JAVA_INT, o + u, (int) m.address());
                        s.set(JAVA_INT, o + u + 4, (int) (m.address() >>> 32));
                        s.set(JAVA_INT, o + u + 8, m.data());
                    }
                }
            }
            Libc.ioctl(fd, "KVM_SET_GSI_ROUTING", KVM_SET_GSI_ROUTING, s);
        }
    }

    /** KVM_SIGNAL_MSI: injects one MSI directly. Returns false if the guest had it masked/blocked. */
    public boolean signalMsi(long address, int data) {
        return StructIoctl.write(fd, "KVM_SIGNAL_MSI", KVM_SIGNAL_MSI, KvmLayouts.KVM_MSI, address & 0xFFFF_FFFFL, address >>> 32, data) > 0;
    }

    /**
     * KVM_GET_DIRTY_LOG for {@code slot} into {@code bitmap} (one bit per 4 KiB page, at least
     * {@code ceil(pages/64)*8} bytes); fetching the log also clears it.
     */
    public void getDirtyLog(int slot, MemorySegment bitmap) {
        StructIoctl.write(fd, "KVM_GET_DIRTY_LOG", KVM_GET_DIRTY_LOG, KvmLayouts.KVM_DIRTY_LOG, slot, 0, bitmap.address());
    }

    public void enableCap(int cap, long... args) {
        Kvm.enableCap(fd, cap, args);
    }

    /** KVM_GET_CLOCK: the kvmclock value (ns) and flags. */
    public byte[] getClock() {
        return StructIoctl.get(fd, "KVM_GET_CLOCK", KVM_GET_CLOCK, KvmLayouts.KVM_CLOCK_DATA.byteSize(), -1);
    }

    public void setClock(byte[] data) {
        StructIoctl.set(fd, "KVM_SET_CLOCK", KVM_SET_CLOCK, data);
    }

    /** KVM_GET_IRQCHIP for chip 0 (PIC master), 1 (PIC slave) or 2 (IOAPIC): the raw struct. */
    public byte[] getIrqchip(int chipId) {
        return StructIoctl.get(fd, "KVM_GET_IRQCHIP", KVM_GET_IRQCHIP, KvmLayouts.KVM_IRQCHIP.byteSize(), chipId);
    }

    public void setIrqchip(byte[] data) {
        StructIoctl.set(fd, "KVM_SET_IRQCHIP", KVM_SET_IRQCHIP, data);
    }

    public byte[] getPit2() {
        return StructIoctl.get(fd, "KVM_GET_PIT2", KVM_GET_PIT2, KvmLayouts.KVM_PIT_STATE2.byteSize(), -1);
    }

    public void setPit2(byte[] data) {
        StructIoctl.set(fd, "KVM_SET_PIT2", KVM_SET_PIT2, data);
    }



    @Override
    public void close() {
        try {
            Libc.close(fd);
        } catch (NativeException ignored) {
            // closing twice on shutdown paths is harmless
        }
    }
}
