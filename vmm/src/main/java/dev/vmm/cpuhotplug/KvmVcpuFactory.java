package dev.vmm.cpuhotplug;

import dev.vmm.ffm.kvm.VcpuFd;
import dev.vmm.machine.Machine;
import dev.vmm.vcpu.Vcpu;
import dev.vmm.vcpu.VcpuMaker;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Hot-plugged vCPUs on KVM: made by the machine's own {@link VcpuMaker} (the boot vCPUs' path), run
 * by the machine. KVM cannot destroy a vCPU, so an ejected one is parked here, as QEMU parks its
 * fd, and plugged again when the same CPU is added later. Needs /dev/kvm: not run on the
 * development host of issue 15.
 */
public final class KvmVcpuFactory implements VcpuFactory {
    /** KVM_MP_STATE_INIT_RECEIVED: an application processor waiting for the OS's SIPI. */
    private static final int MP_STATE_INIT_RECEIVED = 2;
    private static final long THREAD_START_TIMEOUT_MS = 5_000;

    private final VcpuMaker maker;
    private final Machine machine;
    private final Map<Integer, VcpuFd> parked = new ConcurrentHashMap<>();

    public KvmVcpuFactory(VcpuMaker maker, Machine machine) {
        this.maker = maker;
        this.machine = machine;
    }

    @Override
    public Plugged plug(int index) {
        List<String> refused = new ArrayList<>(); // reported once, for the boot vCPU
        VcpuFd fd = parked.remove(index);
        if (fd != null) {
            maker.initialise(fd, refused);
            fd.setMpState(MP_STATE_INIT_RECEIVED);
        } else {
            fd = maker.create(index, refused);
        }
        Vcpu v = maker.loop(fd);
        machine.plugVcpu(v);
        VcpuFd parkedFd = fd;
        return new Plugged() {
            @Override
            public int threadId() {
                return v.threadId(THREAD_START_TIMEOUT_MS);
            }

            @Override
            public void unplug() {
                machine.unplugVcpu(v);
                parked.put(index, parkedFd);
            }
        };
    }

    @Override
    public int bootThreadId(int index) {
        return machine.vcpus().get(index).threadId(THREAD_START_TIMEOUT_MS);
    }

    @Override
    public void closeParked() {
        parked.values().forEach(VcpuFd::close);
        parked.clear();
    }
}
