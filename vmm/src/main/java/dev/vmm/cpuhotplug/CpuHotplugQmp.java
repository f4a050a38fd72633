package dev.vmm.cpuhotplug;

import dev.vmm.control.DeviceDrivers;
import dev.vmm.control.QmpServer;
import dev.vmm.machine.Machine;

import java.util.Set;

/**
 * The QMP side of vCPU hot-plug: {@code query-hotpluggable-cpus}, {@code query-cpus-fast}, the CPU
 * {@link CpuDeviceDriver} and the {@code ACPI_DEVICE_OST} events. Without hot-plug
 * ({@code maxcpus} = {@code --cpus}) the queries still answer (QEMU answers them on every machine)
 * and {@code device_add} of a CPU finds no such driver.
 */
public final class CpuHotplugQmp {
    private CpuHotplugQmp() {}

    /** For a built machine whose vCPUs are of {@code --cpu} model {@code model}. */
    public static void install(QmpServer qmp, DeviceDrivers drivers, Machine m, String model) {
        CpuHotplug h = m.cpuHotplug();
        if (h != null) {
            install(qmp, drivers, h, true);
        } else {
            // Boot CPUs only: a view over the machine's vCPU threads, no register block on any bus.
            install(qmp, drivers, new CpuHotplug(m.config().smp(), CpuHotplug.typeName(model), new KvmVcpuFactory(null, m), m.gpe()), false);
        }
    }

    /** {@code pluggable}: whether {@code device_add}/{@code device_del} take CPUs of {@code cpus}. */
    public static void install(QmpServer qmp, DeviceDrivers drivers, CpuHotplug cpus, boolean pluggable) {
        if (pluggable) {
            cpus.events(qmp::event);
            drivers.register(new CpuDeviceDriver(cpus));
        }
        qmp.register("query-hotpluggable-cpus", Set.of(), a -> cpus.hotpluggableCpus());
        qmp.register("query-cpus-fast", Set.of(), a -> cpus.cpusFast());
    }
}
