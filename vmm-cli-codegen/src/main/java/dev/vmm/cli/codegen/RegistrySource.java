package dev.vmm.cli.codegen;

import java.util.Collection;

/**
 * The source of the registry class: {@code spec(Object command)} returns the generated model of a
 * command object (null for a class without one), {@code commands()} names every class with one.
 */
final class RegistrySource {
    private RegistrySource() {}

    static String of(String qualifiedName, Collection<ModelSource> models) {
        int dot = qualifiedName.lastIndexOf('.');
        String pkg = dot < 0 ? "" : qualifiedName.substring(0, dot);
        String simple = qualifiedName.substring(dot + 1);
        StringBuilder cases = new StringBuilder();
        StringBuilder names = new StringBuilder();
        for (ModelSource m : models) {
            if (!m.isCommand()) continue;
            cases.append("            case ").append(JavaText.literal(m.binaryName())).append(" -> ").append(m.modelName()).append(".spec(command);\n");
            names.append(names.isEmpty() ? "" : ", ").append(JavaText.literal(m.binaryName()));
        }
        return (pkg.isEmpty() ? "" : "package " + pkg + ";\n\n")
                + "/** The picocli models generated at compile time, by command class (dev.vmm.cli.codegen.CommandModelProcessor). */\n"
                + "@javax.annotation.processing.Generated(\"dev.vmm.cli.codegen.CommandModelProcessor\")\n"
                + "public final class " + simple + " {\n"
                + "    private " + simple + "() {}\n\n"
                + "    /** The generated model of {@code command}, or null when its class has none (picocli's reflection then). */\n"
                + "    public static picocli.CommandLine.Model.CommandSpec spec(Object command) {\n"
                + "        return switch (command.getClass().getName()) {\n" + cases
                + "            default -> null;\n        };\n    }\n\n"
                + "    /** The names of the command classes that have a generated model. */\n"
                + "    public static java.util.List<String> commands() {\n"
                + "        return java.util.List.of(" + names + ");\n    }\n"
                + "}\n";
    }
}
