package dev.vmm.memory;

/**
 * A guest-physical access that falls outside guest RAM (or straddles two regions). Raised for
 * guest-controlled addresses, so callers turn it into a device error, never a VMM crash.
 */
public final class GuestMemoryException extends RuntimeException {
    private final long gpa;
    private final long length;

    public GuestMemoryException(long gpa, long length) {
        super(String.format("guest range 0x%x+0x%x is not inside guest RAM", gpa, length));
        this.gpa = gpa;
        this.length = length;
    }

    public long gpa() { return gpa; }

    public long length() { return length; }
}
