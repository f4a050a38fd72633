package dev.vmm.it;

import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.LifecycleMethodExecutionExceptionHandler;
import org.junit.jupiter.api.extension.TestExecutionExceptionHandler;

/**
 * Applies {@link StrictSkips} to every test of the integration module (registered through
 * META-INF/services with extension auto-detection, see junit-platform.properties): an assumption
 * that fails in a test or in a {@code @BeforeAll}/{@code @BeforeEach} is rethrown as a failure
 * when {@code VMM_IT_REQUIRE=all}.
 */
public final class StrictSkipExtension implements TestExecutionExceptionHandler, LifecycleMethodExecutionExceptionHandler {
    private final java.util.function.BooleanSupplier strict;

    /** The switch from the environment (what auto-detection instantiates). */
    public StrictSkipExtension() {
        this(StrictSkips::strict);
    }

    /** The switch from elsewhere (StrictSkipsTest). */
    StrictSkipExtension(java.util.function.BooleanSupplier strict) {
        this.strict = strict;
    }

    @Override
    public void handleTestExecutionException(ExtensionContext context, Throwable t) throws Throwable {
        throw StrictSkips.underSwitch(strict.getAsBoolean(), name(context), t);
    }

    @Override
    public void handleBeforeAllMethodExecutionException(ExtensionContext context, Throwable t) throws Throwable {
        throw StrictSkips.underSwitch(strict.getAsBoolean(), context.getRequiredTestClass().getName(), t);
    }

    @Override
    public void handleBeforeEachMethodExecutionException(ExtensionContext context, Throwable t) throws Throwable {
        throw StrictSkips.underSwitch(strict.getAsBoolean(), name(context), t);
    }

    private static String name(ExtensionContext c) {
        return c.getRequiredTestClass().getName() + "." + c.getRequiredTestMethod().getName();
    }
}
