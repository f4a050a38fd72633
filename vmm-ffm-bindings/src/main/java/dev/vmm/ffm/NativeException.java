package dev.vmm.ffm;

/**
 * A failed native call: names the call and carries errno with its strerror text, so that a
 * user-facing message is one line ("KVM_CREATE_VM: Cannot allocate memory (errno 12)").
 */
public class NativeException extends RuntimeException {
    private final String call;
    private final int errno;

    public NativeException(String call, int errno) {
        super(call + ": " + dev.vmm.ffm.libc.Libc.strerror(errno) + " (errno " + errno + ")");
        this.call = call;
        this.errno = errno;
    }

    public String call() { return call; }

    public int errno() { return errno; }
}
