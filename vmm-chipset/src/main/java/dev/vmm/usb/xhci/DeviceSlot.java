package dev.vmm.usb.xhci;

/**
 * A Device Slot (xHCI 1.2 §4.5.3): enabled by Enable Slot, bound to a root hub port and an output
 * Device Context by Address Device, with its endpoints by Device Context Index (1..31).
 */
final class DeviceSlot {
    final int id;
    boolean enabled;
    int state = Contexts.SLOT_STATE_DISABLED;   // Enabled reads as 0 (Disabled/Enabled) in the Slot Context
    RootHubPort port;
    long outputContext;
    int interrupter;
    final Endpoint[] endpoints = new Endpoint[32];

    DeviceSlot(int id) {
        this.id = id;
    }

    Endpoint endpoint(int dci) {
        return dci >= 1 && dci <= 31 ? endpoints[dci] : null;
    }
}
