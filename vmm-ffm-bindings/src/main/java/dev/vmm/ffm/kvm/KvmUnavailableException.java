package dev.vmm.ffm.kvm;

/** KVM cannot be used on this host (no /dev/kvm, no permission, wrong API). */
public final class KvmUnavailableException extends RuntimeException {
    public KvmUnavailableException(String message, Throwable cause) {
        super(message, cause);
    }
}
