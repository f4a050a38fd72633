package dev.vmm.usb.fuzz;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.vmm.usb.device.DescriptorParser;
import dev.vmm.usb.device.Descriptors;

import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Jazzer target for the host-side descriptor reader fed hostile bytes: a configuration set (as
 * SuperSpeed and not), a BOS and a string descriptor, the same bytes to each. Findings: any
 * exception but the reader's {@link IllegalArgumentException}, a hang, or a set accepted that breaks
 * what the reader promises (bNumInterfaces interfaces, unique endpoint addresses with a number
 * 1..15 and no reserved bits, a companion on every SuperSpeed endpoint and on no other, BOS
 * capability count). Seeds: valid sets built by {@link Descriptors} and malformed ones (bLength 0,
 * 1, past the end; wTotalLength off by one; counts that disagree; a companion alone).
 * {@code JAZZER_FUZZ=1 ./mvnw -pl vmm-chipset -am test -Dtest=DescriptorParserFuzzTest} fuzzes.
 */
class DescriptorParserFuzzTest {
    @FuzzTest(maxDuration = "60s")
    void parse(byte[] b) {
        for (boolean superSpeed : new boolean[] {false, true}) {
            DescriptorParser.Parsed p;
            try {
                p = DescriptorParser.configuration(b, superSpeed);
            } catch (IllegalArgumentException refused) {
                continue;
            }
            if (p.interfaces().size() != (b[4] & 0xff)) throw new IllegalStateException("bNumInterfaces " + (b[4] & 0xff) + " but " + p.interfaces().size());
            Set<Integer> addresses = new HashSet<>();
            for (DescriptorParser.Interface i : p.interfaces()) {
                for (Descriptors.Endpoint e : i.endpoints()) {
                    if (!addresses.add(e.address()) || e.number() == 0 || (e.address() & 0x70) != 0) {
                        throw new IllegalStateException("endpoint address " + e.address());
                    }
                    if ((e.companion() != null) != superSpeed) throw new IllegalStateException("companion of " + e.address());
                }
            }
        }
        try {
            List<Integer> caps = DescriptorParser.bos(b);
            if (caps.size() != (b[4] & 0xff)) throw new IllegalStateException("bNumDeviceCaps");
        } catch (IllegalArgumentException refused) {
            // a clear error is the expected outcome
        }
        try {
            String s = DescriptorParser.string(b);
            if (2 * s.length() != b.length - 2) throw new IllegalStateException("string of " + s.length() + " from " + b.length + " bytes");
        } catch (IllegalArgumentException refused) {
            // as above
        }
    }
}
