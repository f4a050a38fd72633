package dev.vmm.it;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.platform.launcher.Launcher;
import org.junit.platform.launcher.LauncherDiscoveryRequest;
import org.junit.platform.launcher.core.LauncherConfig;
import org.junit.platform.launcher.core.LauncherFactory;
import org.junit.platform.launcher.listeners.SummaryGeneratingListener;
import org.junit.platform.launcher.listeners.TestExecutionSummary;
import org.opentest4j.TestAbortedException;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;
import static org.junit.platform.engine.discovery.DiscoverySelectors.selectClass;
import static org.junit.platform.launcher.core.LauncherDiscoveryRequestBuilder.request;

/**
 * The strict switch's decision (no guest, no KVM): which values of VMM_IT_REQUIRE turn a skip
 * into a failure, and — through the JUnit launcher on sample classes — that a failed assumption
 * in a test or in {@code @BeforeAll} is a failure naming the test under the switch and a skip
 * without it, while passing and failing tests are left alone.
 */
class StrictSkipsTest {
    @Test
    void onlyAllIsStrictAndATypoIsAnError() {
        assertThat(StrictSkips.strict(null)).isFalse();
        assertThat(StrictSkips.strict("")).isFalse();
        assertThat(StrictSkips.strict("none")).isFalse();
        assertThat(StrictSkips.strict("all")).isTrue();
        assertThat(StrictSkips.strict(" ALL ")).isTrue();
        assertThatThrownBy(() -> StrictSkips.strict("yes")).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("VMM_IT_REQUIRE=yes");
    }

    @Test
    void aSkipBecomesAFailureWithItsReasonOnlyUnderTheSwitch() {
        TestAbortedException skip = new TestAbortedException("Assumption failed: gcc is not installed");
        assertThat(StrictSkips.underSwitch(false, "X.y", skip)).isSameAs(skip);
        Throwable strict = StrictSkips.underSwitch(true, "X.y", skip);
        assertThat(strict).isInstanceOf(AssertionError.class).hasCause(skip)
                .hasMessageContaining("X.y was skipped (gcc is not installed)").hasMessageContaining("VMM_IT_REQUIRE=all");
        IllegalStateException bug = new IllegalStateException("boom");
        assertThat(StrictSkips.underSwitch(true, "X.y", bug)).isSameAs(bug);
    }

    @Test
    void aHostKindSkipStaysASkipUnderTheSwitch() {
        HostKindSkip pvm = new HostKindSkip("a PVM host: guest user mode cannot make system calls");
        assertThat(StrictSkips.underSwitch(true, "X.y", pvm)).isSameAs(pvm);
        assertThatThrownBy(() -> HostKindSkip.unless(false, "why")).isInstanceOf(TestAbortedException.class)
                .hasMessage("Assumption failed: " + HostKindSkip.MARK + "why");
        HostKindSkip.unless(true, "never thrown");
    }

    // ---- sample classes, run through the launcher (nested: surefire does not pick them up) ----

    static volatile boolean strictForSamples;

    static class SkipsInBeforeAll {
        @RegisterExtension static StrictSkipExtension ext = new StrictSkipExtension(() -> strictForSamples);

        @BeforeAll
        static void needsATool() {
            assumeTrue(false, "no-such-tool is not installed");
        }

        @Test
        void test() { }
    }

    static class SkipsInTest {
        @RegisterExtension static StrictSkipExtension ext = new StrictSkipExtension(() -> strictForSamples);

        @Test
        void needsPrivilege() {
            assumeTrue(false, "needs root");
        }

        @Test
        void passes() { }

        @Test
        void fails() {
            throw new AssertionError("a real failure");
        }
    }

    private static TestExecutionSummary run(Class<?> sample, boolean strict) {
        strictForSamples = strict;
        // Only the extension the sample registers: not the auto-detected one (it follows this JVM's
        // VMM_IT_REQUIRE), nor GuestTestSummary (it would write the module's skip summary).
        LauncherDiscoveryRequest req = request().selectors(selectClass(sample))
                .configurationParameter("junit.jupiter.extensions.autodetection.enabled", "false").build();
        Launcher launcher = LauncherFactory.create(LauncherConfig.builder().enableTestExecutionListenerAutoRegistration(false).build());
        SummaryGeneratingListener l = new SummaryGeneratingListener();
        launcher.execute(req, l);
        return l.getSummary();
    }

    @Test
    void beforeAllSkipFailsTheClassUnderTheSwitch() {
        TestExecutionSummary lenient = run(SkipsInBeforeAll.class, false);
        assertThat(lenient.getContainersAbortedCount()).isEqualTo(1);
        assertThat(lenient.getTotalFailureCount()).isZero();

        TestExecutionSummary strict = run(SkipsInBeforeAll.class, true);
        assertThat(strict.getContainersAbortedCount()).isZero();
        assertThat(strict.getTotalFailureCount()).isEqualTo(1);
        assertThat(strict.getFailures().getFirst().getException()).hasMessageContaining(SkipsInBeforeAll.class.getName())
                .hasMessageContaining("no-such-tool is not installed");
    }

    @Test
    void testSkipFailsThatTestUnderTheSwitchAndNothingElseChanges() {
        TestExecutionSummary lenient = run(SkipsInTest.class, false);
        assertThat(lenient.getTestsAbortedCount()).isEqualTo(1);
        assertThat(lenient.getTestsSucceededCount()).isEqualTo(1);
        assertThat(lenient.getTestsFailedCount()).isEqualTo(1);

        TestExecutionSummary strict = run(SkipsInTest.class, true);
        assertThat(strict.getTestsAbortedCount()).isZero();
        assertThat(strict.getTestsSucceededCount()).isEqualTo(1);
        assertThat(strict.getTestsFailedCount()).isEqualTo(2);
        assertThat(strict.getFailures()).anySatisfy(f -> assertThat(f.getException())
                .hasMessageContaining("SkipsInTest.needsPrivilege was skipped (needs root)"));
        assertThat(strict.getFailures()).anySatisfy(f -> assertThat(f.getException()).hasMessage("a real failure"));
    }
}
