package dev.vmm.cli.codegen;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;

import javax.tools.Diagnostic;
import javax.tools.DiagnosticCollector;
import javax.tools.JavaCompiler;
import javax.tools.JavaFileObject;
import javax.tools.StandardJavaFileManager;
import javax.tools.ToolProvider;
import java.io.IOException;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The processor run by javac on small annotated classes: which classes get a model, the note for
 * those that do not, and that a generated model compiles and parses like picocli's reflection.
 */
@Timeout(120)
class CommandModelProcessorTest {
    @TempDir
    Path dir;

    private final DiagnosticCollector<JavaFileObject> diagnostics = new DiagnosticCollector<>();

    /** Compiles {@code sources} (class name -> text) with the processor; the generated sources' directory. */
    private Path compile(Map<String, String> sources) throws IOException {
        Path src = dir.resolve("src"), out = dir.resolve("classes"), gen = dir.resolve("generated");
        Files.createDirectories(out);
        Files.createDirectories(gen);
        List<Path> files = new ArrayList<>();
        for (Map.Entry<String, String> e : sources.entrySet()) {
            Path f = src.resolve(e.getKey().replace('.', '/') + ".java");
            Files.createDirectories(f.getParent());
            Files.writeString(f, e.getValue());
            files.add(f);
        }
        JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
        try (StandardJavaFileManager fm = javac.getStandardFileManager(diagnostics, null, null)) {
            List<String> options = List.of("-classpath", System.getProperty("java.class.path"), "-d", out.toString(),
                    "-s", gen.toString(), "-processor", CommandModelProcessor.class.getName(), "-Avmm.cli.models=t.Models");
            boolean ok = javac.getTask(null, fm, diagnostics, options, null, fm.getJavaFileObjectsFromPaths(files)).call();
            assertTrue(ok, "compilation failed: " + diagnostics.getDiagnostics());
        }
        return gen;
    }

    private String notes() {
        StringBuilder b = new StringBuilder();
        for (Diagnostic<? extends JavaFileObject> d : diagnostics.getDiagnostics()) {
            if (d.getKind() == Diagnostic.Kind.NOTE) b.append(d.getMessage(null)).append('\n');
        }
        return b.toString();
    }

    private Object spec(String command) throws Exception {
        try (URLClassLoader l = new URLClassLoader(new URL[] {dir.resolve("classes").toUri().toURL()}, getClass().getClassLoader())) {
            Object c = l.loadClass(command).getDeclaredConstructor().newInstance();
            return l.loadClass("t.Models").getMethod("spec", Object.class).invoke(null, c);
        }
    }

    private static final String MIXIN = """
            package t;
            public class Verbosity {
                @picocli.CommandLine.Option(names = {"-v", "--verbose"}, description = "say more") boolean verbose;
            }
            """;

    @Test
    void commandWithOptionsPositionalAndMixinGetsAModelThatParsesLikeReflection() throws Exception {
        Path gen = compile(Map.of("t.Verbosity", MIXIN, "t.Copy", """
                package t;
                import picocli.CommandLine.*;
                @Command(name = "copy", mixinStandardHelpOptions = true, description = "Copy a file.")
                public class Copy implements Runnable {
                    @Option(names = "--count", paramLabel = "N", defaultValue = "3", description = "times (default: ${DEFAULT-VALUE})") int count;
                    @Option(names = "--tag", arity = "0..1", fallbackValue = "x") java.util.List<String> tags = new java.util.ArrayList<>();
                    @Parameters(index = "0", paramLabel = "SRC") java.nio.file.Path src;
                    @Mixin Verbosity verbosity;
                    @Spec Model.CommandSpec spec;
                    public void run() {}
                }
                """));
        assertTrue(Files.exists(gen.resolve("t/CopyModel.java")));
        assertTrue(Files.exists(gen.resolve("t/VerbosityModel.java")));
        CommandSpec generated = (CommandSpec) spec("t.Copy");
        assertEquals("copy", generated.name());
        assertTrue(generated.mixinStandardHelpOptions());
        try (URLClassLoader l = new URLClassLoader(new URL[] {dir.resolve("classes").toUri().toURL()}, getClass().getClassLoader())) {
            CommandSpec reflective = CommandSpec.forAnnotatedObject(l.loadClass("t.Copy").getDeclaredConstructor().newInstance());
            assertEquals(names(reflective), names(generated));
            assertEquals(new CommandLine(reflective).getUsageMessage(CommandLine.Help.Ansi.OFF),
                    new CommandLine(generated).getUsageMessage(CommandLine.Help.Ansi.OFF));
        }
        new CommandLine(generated).parseArgs("--tag", "--tag", "b", "-v", "in.txt");
        Object copy = generated.userObject();
        assertEquals(3, field(copy, "count"));
        assertEquals(List.of("x", "b"), field(copy, "tags"));
        assertEquals(Path.of("in.txt"), field(copy, "src"));
        assertEquals(true, field(field(copy, "verbosity"), "verbose"));
        assertEquals(generated, field(copy, "spec"));
    }

    @Test
    void unsupportedAnnotationMeansNoModelAndANote() throws Exception {
        Path gen = compile(Map.of("t.Grouped", """
                package t;
                import picocli.CommandLine.*;
                @Command(name = "grouped")
                public class Grouped implements Runnable {
                    @ArgGroup Object group;
                    public void run() {}
                }
                """));
        assertFalse(Files.exists(gen.resolve("t/GroupedModel.java")));
        assertTrue(notes().contains("ArgGroup"), notes());
        assertNull(spec("t.Grouped"));
    }

    @Test
    void privateOptionMeansNoModelAndANote() throws Exception {
        Path gen = compile(Map.of("t.Hidden", """
                package t;
                @picocli.CommandLine.Command(name = "hidden")
                public class Hidden implements Runnable {
                    @picocli.CommandLine.Option(names = "--secret") private String secret;
                    public void run() {}
                }
                """));
        assertFalse(Files.exists(gen.resolve("t/HiddenModel.java")));
        assertTrue(notes().contains("private member secret"), notes());
    }

    @Test
    void commandWhoseMixinHasNoModelHasNoneEither() throws Exception {
        Path gen = compile(Map.of("t.Odd", """
                package t;
                public class Odd {
                    @picocli.CommandLine.Option(names = "--odd", order = 1, interactive = true) String odd;
                }
                """, "t.User", """
                package t;
                @picocli.CommandLine.Command(name = "user")
                public class User implements Runnable {
                    @picocli.CommandLine.Mixin Odd odd;
                    public void run() {}
                }
                """));
        assertFalse(Files.exists(gen.resolve("t/OddModel.java")));
        assertFalse(Files.exists(gen.resolve("t/UserModel.java")));
        assertTrue(notes().contains("attribute interactive"), notes());
        assertTrue(notes().contains("mixin t.Odd has none"), notes());
    }

    private static List<String> names(CommandSpec s) {
        List<String> n = new ArrayList<>();
        for (OptionSpec o : s.options()) n.add(String.join(",", o.names()) + " " + o.arity() + " " + o.type().getName());
        return n;
    }

    private static Object field(Object o, String name) throws ReflectiveOperationException {
        var f = o.getClass().getDeclaredField(name);
        f.setAccessible(true);
        return f.get(o);
    }
}
