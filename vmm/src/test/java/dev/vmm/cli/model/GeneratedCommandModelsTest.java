package dev.vmm.cli.model;

import dev.vmm.cli.RunCommand;
import dev.vmm.cli.img.ImgCommand;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import picocli.CommandLine;
import picocli.CommandLine.Model.ArgSpec;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.Model.PositionalParamSpec;

import java.lang.reflect.Field;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The picocli models generated at compile time (dev.vmm.cli.codegen.CommandModelProcessor) against
 * the models picocli's reflection builds from the same annotated classes: every option and
 * positional parameter (names, arity, label, type, defaults, description, converters, flags), the
 * command's own attributes, the usage text, and what parsing the same arguments writes into the
 * command objects. So the two cannot drift: an option added with annotations is in both or this fails.
 */
@Timeout(60)
class GeneratedCommandModelsTest {

    static List<String> commands() {
        return GeneratedCommandModels.commands();
    }

    /** The short commands of the start-up target (issue 19) must not fall back to reflection. */
    @Test
    void startUpCommandsHaveGeneratedModels() {
        assertTrue(commands().size() >= 2, "models: " + commands());
        assertNotNull(GeneratedCommandModels.spec(new RunCommand()), "vmm run");
        assertNotNull(GeneratedCommandModels.spec(ImgCommand.subcommand("info")), "vmm img info");
    }

    @ParameterizedTest
    @MethodSource("commands")
    void generatedModelEqualsReflectiveModel(String className) throws Exception {
        CommandSpec reflective = CommandSpec.forAnnotatedObject(newInstance(className));
        CommandSpec generated = GeneratedCommandModels.spec(newInstance(className));
        assertNotNull(generated);
        assertEquals(reflective.name(), generated.name(), "name");
        assertEquals(List.of(reflective.usageMessage().description()), List.of(generated.usageMessage().description()), "description");
        assertEquals(reflective.usageMessage().sortOptions(), generated.usageMessage().sortOptions(), "sortOptions");
        assertEquals(reflective.mixinStandardHelpOptions(), generated.mixinStandardHelpOptions(), "mixinStandardHelpOptions");
        assertEquals(classOf(reflective.versionProvider()), classOf(generated.versionProvider()), "versionProvider");
        assertEquals(reflective.mixins().keySet(), generated.mixins().keySet(), "mixins");
        assertEquals(describe(reflective.options()), describe(generated.options()), "options");
        assertEquals(describe(reflective.positionalParameters()), describe(generated.positionalParameters()), "positionals");
        assertEquals(new CommandLine(reflective).getUsageMessage(CommandLine.Help.Ansi.OFF),
                new CommandLine(generated).getUsageMessage(CommandLine.Help.Ansi.OFF), "usage text");
    }

    /** The same arguments parsed through either model leave both command objects in the same state. */
    @ParameterizedTest
    @MethodSource("parses")
    void parsingWritesTheSameFields(String className, List<String> args) throws Exception {
        Object viaReflection = newInstance(className);
        Object viaGenerated = newInstance(className);
        new CommandLine(viaReflection).parseArgs(args.toArray(String[]::new));
        new CommandLine(GeneratedCommandModels.spec(viaGenerated)).parseArgs(args.toArray(String[]::new));
        assertEquals(state(viaReflection), state(viaGenerated));
    }

    static List<Object[]> parses() {
        return List.of(
                new Object[] {"dev.vmm.cli.RunCommand", List.of()},
                new Object[] {"dev.vmm.cli.RunCommand", List.of("--dry-run", "--disk", "path=a.img", "--disk", "path=b.qcow2,readonly=on",
                        "--rng", "-m", "1G,thp=off", "--cpus", "2", "--serial", "none", "--hugepages", "--sandbox", "on",
                        "--chroot", "/var/empty", "--run-as", "nobody", "--usb", "--usb-tablet", "--usb-kbd", "id=k",
                        "--kernel", "/boot/vmlinuz", "--cmdline", "console=ttyS0 quiet", "-M", "q35", "--balloon")},
                new Object[] {"dev.vmm.cli.RunCommand", List.of("--serial", "file:/tmp/x", "--rng", "source=/dev/random", "--cpu", "host,-x2apic",
                        "--ahci", "path=d.img", "--cdrom", "c.iso", "--smbios", "type=1,serial=x", "-q", "--on-panic", "pause")},
                new Object[] {"dev.vmm.cli.img.ImgInfo", List.of("disk.qcow2")},
                new Object[] {"dev.vmm.cli.img.ImgInfo", List.of("-f", "qcow2", "-U", "--output", "json", "--sandbox", "on", "disk.qcow2")});
    }

    private static Object newInstance(String className) throws ReflectiveOperationException {
        var c = Class.forName(className).getDeclaredConstructor();
        c.setAccessible(true);
        return c.newInstance();
    }

    private static Class<?> classOf(Object o) {
        return o == null ? null : o.getClass();
    }

    /** Every attribute of each argument that picocli reads, as text (a readable difference on failure). */
    private static List<String> describe(List<? extends ArgSpec> args) {
        List<String> out = new ArrayList<>();
        for (ArgSpec a : args) {
            Map<String, Object> m = new TreeMap<>();
            if (a instanceof OptionSpec o) {
                m.put("names", List.of(o.names()));
                m.put("fallbackValue", o.fallbackValue());
                m.put("negatable", o.negatable());
                m.put("usageHelp", o.usageHelp());
                m.put("versionHelp", o.versionHelp());
                m.put("order", o.order());
            }
            if (a instanceof PositionalParamSpec p) m.put("index", p.index());
            m.put("arity", a.arity());
            m.put("paramLabel", a.paramLabel());
            m.put("type", a.type());
            m.put("auxiliaryTypes", List.of(a.auxiliaryTypes()));
            m.put("defaultValue", a.defaultValue());
            m.put("description", List.of(a.description()));
            m.put("descriptionKey", a.descriptionKey());
            m.put("required", a.required());
            m.put("hidden", a.hidden());
            m.put("hideParamSyntax", a.hideParamSyntax());
            m.put("splitRegex", a.splitRegex());
            m.put("showDefaultValue", a.showDefaultValue());
            m.put("interactive", a.interactive());
            m.put("multiValue", a.isMultiValue());
            m.put("converters", Arrays.stream(a.converters()).map(c -> c.getClass().getName()).toList());
            m.put("initialValue", String.valueOf(a.initialValue()));
            m.put("hasInitialValue", a.hasInitialValue());
            m.put("collection", a.typeInfo().isCollection());
            m.put("map", a.typeInfo().isMap());
            m.put("enum", a.typeInfo().isEnum());
            out.add(m.toString());
        }
        return out;
    }

    /** The fields of a command object and of its mixins, by name, as text (the spec field left out). */
    private static Map<String, String> state(Object o) throws IllegalAccessException {
        Map<String, String> m = new TreeMap<>();
        for (Field f : o.getClass().getDeclaredFields()) {
            if (java.lang.reflect.Modifier.isStatic(f.getModifiers()) || f.getType() == CommandSpec.class) continue;
            f.setAccessible(true);
            Object v = f.get(o);
            if (v != null && v.getClass().getPackageName().startsWith("dev.vmm.cli") && !v.getClass().isRecord() && !v.getClass().isEnum()) {
                state(v).forEach((k, x) -> m.put(f.getName() + "." + k, x));
            } else {
                // AhciArgument's order is a process-wide counter: only the relative order can be compared
                m.put(f.getName(), String.valueOf(v).replaceAll("order=\\d+", "order=N"));
            }
        }
        return m;
    }
}
