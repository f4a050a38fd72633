package dev.vmm.machine;

import dev.vmm.memory.GuestMemory;
import dev.vmm.migration.IncomingTarget;
import dev.vmm.migration.VmControl;
import dev.vmm.migration.stream.StateReader;
import dev.vmm.migration.stream.StateWriter;
import dev.vmm.snapshot.PciDeviceState;
import dev.vmm.snapshot.Snapshot;

/**
 * A {@link Machine} as the migration engine sees it: the source's {@link VmControl} (QMP
 * {@code migrate}) and the destination's {@link IncomingTarget} ({@code --incoming}). One object
 * per migration: on the source it keeps the device state captured at the pause.
 */
public final class MachineMigration implements VmControl, IncomingTarget {
    private final Machine machine;
    private PciDeviceState devices; // captured by pause(), written by writeDeviceState()

    public MachineMigration(Machine machine) {
        this.machine = machine;
    }

    // ------------------------------------------------------------ source (VmControl)

    @Override
    public void pause() throws Exception {
        machine.pause();
        // Quiesce the devices now, before the final RAM pass: their last completions write guest RAM.
        devices = PciDeviceState.capture(machine);
    }

    @Override
    public void resume() {
        machine.resume();
    }

    @Override
    public void rehearse() throws Exception {
        Snapshot.rehearseSave(machine);
    }

    @Override
    public void throttle(int percent) {
        machine.throttle(percent);
    }

    @Override
    public void handOver() {
        machine.devices().releaseDiskLocks(); // taken back if 'cont' resumes the source
        machine.lifecycle().outgoingCompleted(); // QEMU's postmigrate: 'cont' may still resume the source
    }

    @Override
    public void writeDeviceState(StateWriter w) throws Exception {
        Snapshot.writeDeviceState(machine, w, devices != null ? devices : PciDeviceState.capture(machine));
    }

    // ------------------------------------------------------------ destination (IncomingTarget)

    @Override
    public GuestMemory memory() {
        return machine.memory();
    }

    @Override
    public void loadDeviceState(StateReader reader) throws Exception {
        Snapshot.readDeviceState(machine, reader);
    }

    @Override
    public void rehearseLoad() throws Exception {
        Snapshot.rehearseLoad(machine);
    }

    /** Nothing to do: {@code vmm run} runs the machine once the incoming migration returned. */
    @Override
    public void start() { }
}
