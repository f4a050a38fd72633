package dev.vmm.virtio.balloon;

/**
 * What the balloon asks of the VMM's memory: give guest pages back to the host. The device only
 * decides <em>which</em> pages (validated guest-physical ranges inside RAM, 4 KiB aligned); the
 * host side ({@link MadviseBalloonHost}) does the system call. Called on the queue's I/O thread,
 * never on a vCPU thread. Tests give a recording fake.
 */
@FunctionalInterface
public interface BalloonHost {
    /**
     * The guest no longer uses {@code [gpa, gpa + length)}: the host may drop the backing pages (the
     * guest reads zeroes if it touches them again). The range lies inside one RAM region and is
     * page aligned. Must not throw for a range the device passes; a host failure is reported by
     * returning false (the device logs it once and goes on).
     */
    boolean release(long gpa, long length);
}
