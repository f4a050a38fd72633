package dev.vmm.cli.sandbox;

import dev.vmm.sandbox.PrivilegeDrop;
import dev.vmm.virtio.net.tap.Tap;

/** Child process of {@link PrivilegeDropTest}: drops to nobody, then tries to open a tap. */
public final class TapAfterDrop {
    public static void main(String[] args) {
        ClasspathPreload.beforeDrop(); // as PrivilegeOption does: nobody may not be able to read the class path
        PrivilegeDrop.apply(PrivilegeDrop.resolve("nobody"), null);
        try (Tap t = Tap.open(args[0], 1)) {
            System.out.println("OPENED " + t);
        } catch (RuntimeException e) {
            System.out.println("REFUSED " + e.getMessage());
        }
    }
}
