package dev.vmm.machine;

import dev.vmm.devices.DeviceRegistry;
import dev.vmm.memory.GuestMemory;
import dev.vmm.migration.DirtyLog;
import dev.vmm.migration.VmControl;

/**
 * What the QMP migration commands ({@code dev.vmm.control.MigrationCommands}: migrate,
 * x-vmm-ram-hash) use of the machine they migrate; {@link #of(Machine)} is a {@link Machine}'s,
 * over KVM's dirty log. Naming it lets the commands be driven without KVM.
 */
public interface MigratableMachine {
    /** The devices (whether each can save its state), or null. */
    DeviceRegistry devices();

    GuestMemory memory();

    boolean paused();

    /** A new dirty log of {@link #memory()} for one migration. */
    DirtyLog dirtyLog();

    /** A new pause/device-state/hand-over adapter for one outgoing migration. */
    VmControl migrationControl();

    static MigratableMachine of(Machine m) {
        return new MigratableMachine() {
            @Override public DeviceRegistry devices() { return m.devices(); }

            @Override public GuestMemory memory() { return m.memory(); }

            @Override public boolean paused() { return m.paused(); }

            @Override public DirtyLog dirtyLog() { return new KvmDirtyLog(m.vm(), m.memory()); }

            @Override public VmControl migrationControl() { return new MachineMigration(m); }
        };
    }
}
