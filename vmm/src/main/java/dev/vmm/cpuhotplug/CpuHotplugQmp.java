package dev.vmm.cpuhotplug;

import dev.vmm.control.DeviceDrivers;
import dev.vmm.control.QmpServer;
import dev.vmm.machine.Machine;

import java.util.Set;

/**
 * The QMP side of vCPU hot-plug: {@code query-hotpluggable-cpus}, {@code query-cpus-fast}, the CPU
 * {@link CpuDeviceDriver} and the {@code ACPI_DEVICE_OST} events. Without hot-plug
 * ({@code maxcpus} = {@code --cpus}) all answer as QEMU's do: the queries list the boot CPUs and a
 * CPU {@code device_add} is refused (every slot is taken: "CPU[0] with APIC ID 0 exists").
 */
public final class CpuHotplugQmp {
    private CpuHotplugQmp() {}

    /** For a built machine whose vCPUs are of {@code --cpu} model {@code model}. */
    public static void install(QmpServer qmp, DeviceDrivers drivers, Machine m, String model) {
        CpuHotplug h = m.cpuHotplug();
        // Without hot-plug: a view over the boot vCPUs; its block is on no bus and, every CPU being
        // present, device_add never reaches the factory (which therefore needs no maker).
        install(qmp, drivers, h != null ? h : new CpuHotplug(m.config().smp(), CpuHotplug.typeName(model), new KvmVcpuFactory(null, m), m.gpe()));
    }

    public static void install(QmpServer qmp, DeviceDrivers drivers, CpuHotplug cpus) {
        cpus.events(qmp::event);
        drivers.register(new CpuDeviceDriver(cpus));
        qmp.register("query-hotpluggable-cpus", Set.of(), a -> cpus.hotpluggableCpus());
        qmp.register("query-cpus-fast", Set.of(), a -> cpus.cpusFast());
    }
}
