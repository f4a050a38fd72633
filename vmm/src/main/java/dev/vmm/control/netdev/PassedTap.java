package dev.vmm.control.netdev;

import com.fasterxml.jackson.databind.JsonNode;
import dev.vmm.control.QmpServer.QmpException;
import dev.vmm.control.fdpass.NamedFds;
import dev.vmm.ffm.libc.Libc;
import dev.vmm.virtio.net.tap.Tap;
import dev.vmm.virtio.net.tap.TapException;

import java.util.ArrayList;
import java.util.List;

/**
 * {@code netdev_add {"type": "tap", "fd": NAME}} / {@code "fds": "NAME:NAME..."} (one per queue):
 * a tap libvirt opened and passed with {@code getfd}, checked in QEMU 7.2's order and words (the
 * options that cannot go with it, each name looked up and taken from the list, each fd a tap).
 */
final class PassedTap {
    private PassedTap() {}

    static Tap open(JsonNode a, NamedFds passed) throws QmpException {
        boolean fd = a.has("fd");
        if (fd && (a.has("ifname") || a.has("queues") || a.has("fds"))) {
            throw QmpException.generic("ifname=, script=, downscript=, vnet_hdr=, helper=, queues=, fds=, and vhostfds= are invalid with fd=");
        }
        if (!fd && (a.has("ifname") || a.has("queues"))) {
            throw QmpException.generic("ifname=, script=, downscript=, vnet_hdr=, helper=, queues=, and vhostfd= are invalid with fds=");
        }
        String[] names = fd ? new String[] {a.get("fd").asText()} : a.get("fds").asText().split(":", -1);
        if (names.length > Tap.MAX_QUEUES) throw QmpException.generic("at most " + Tap.MAX_QUEUES + " tap fds, not " + names.length);
        List<Integer> taken = new ArrayList<>();
        try {
            for (String n : names) {
                if (passed == null) throw QmpException.generic("File descriptor named '" + n + "' has not been found");
                // QEMU also takes a number as a raw fd of its own process; a raw fd is not served here.
                if (!n.isEmpty() && Character.isDigit(n.charAt(0))) {
                    throw QmpException.generic("fd=" + n + ": raw fd numbers are not accepted here; pass the fd with getfd and use its name");
                }
                int one = passed.take(n);
                taken.add(one);
                Tap.probe(one); // QEMU checks each fd as it takes it, before looking up the next name
            }
            int[] fds = taken.stream().mapToInt(Integer::intValue).toArray();
            Tap t = Tap.adopt(fds);
            taken.clear(); // the tap owns them now
            return t;
        } catch (TapException e) {
            throw QmpException.generic(e.getMessage());
        } finally {
            taken.forEach(Libc::close); // QEMU closes a taken fd it could not use, too
        }
    }
}
