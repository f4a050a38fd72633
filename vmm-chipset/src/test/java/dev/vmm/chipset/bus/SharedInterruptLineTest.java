package dev.vmm.chipset.bus;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.vmm.chipset.testing.RecordingLine;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** A level-triggered line shared by several sources (the SCI): asserted while any source asserts it. */
class SharedInterruptLineTest {
    @Test
    void theLineIsTheOrOfItsSourcesAndOnlyChangesOnTransitions() {
        RecordingLine sci = new RecordingLine();
        SharedInterruptLine shared = new SharedInterruptLine(sci);
        InterruptLine pm1 = shared.source(), gpe = shared.source();

        pm1.set(true);
        gpe.set(true);                        // already high: no second edge
        pm1.set(false);                       // gpe still asserts it
        assertThat(sci.level()).isTrue();
        assertThat(sci.history()).containsExactly(true);
        gpe.set(false);
        assertThat(sci.history()).containsExactly(true, false);
        gpe.set(false);                       // already low
        pm1.set(false);
        assertThat(sci.history()).containsExactly(true, false);
    }

    @Test
    void aSourceThatAssertsTwiceStillReleasesTheLineOnce() {
        RecordingLine sci = new RecordingLine();
        SharedInterruptLine shared = new SharedInterruptLine(sci);
        InterruptLine a = shared.source();
        a.set(true);
        a.set(true);
        a.set(false);
        assertThat(sci.history()).containsExactly(true, false);
    }

    @Test
    void aPulseOnASourceIsOneEdge() {
        RecordingLine sci = new RecordingLine();
        SharedInterruptLine shared = new SharedInterruptLine(sci);
        InterruptLine a = shared.source(), b = shared.source();
        a.pulse();
        assertThat(sci.history()).containsExactly(true, false);
        b.set(true);
        a.pulse();                            // hidden by b's level
        assertThat(sci.history()).containsExactly(true, false, true);
    }

    @Test
    void sixtyFourSourcesAreDistinctAndASixtyFifthIsRefused() {
        RecordingLine sci = new RecordingLine();
        SharedInterruptLine shared = new SharedInterruptLine(sci);
        List<InterruptLine> sources = new ArrayList<>();
        for (int i = 0; i < 64; i++) sources.add(shared.source());
        assertThatThrownBy(shared::source).isInstanceOf(IllegalStateException.class).hasMessageContaining("64");
        // Each source has its own bit: the line stays up until the last (bit 63) lets go.
        sources.forEach(s -> s.set(true));
        for (int i = 0; i < 63; i++) sources.get(i).set(false);
        assertThat(sci.level()).isTrue();
        sources.get(63).set(false);
        assertThat(sci.history()).containsExactly(true, false);
    }
}
