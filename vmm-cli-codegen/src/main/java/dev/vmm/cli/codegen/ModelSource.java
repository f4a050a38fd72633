package dev.vmm.cli.codegen;

import javax.annotation.processing.ProcessingEnvironment;
import javax.lang.model.element.AnnotationMirror;
import javax.lang.model.element.Element;
import javax.lang.model.element.ElementKind;
import javax.lang.model.element.ExecutableElement;
import javax.lang.model.element.Modifier;
import javax.lang.model.element.PackageElement;
import javax.lang.model.element.TypeElement;
import javax.lang.model.element.VariableElement;
import javax.lang.model.type.DeclaredType;
import javax.lang.model.type.TypeKind;
import javax.lang.model.type.TypeMirror;
import javax.lang.model.util.Types;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * The source of one {@code <Name>Model} class: the picocli model of one annotated class, built
 * through picocli's programmatic API ({@code CommandSpec}, {@code OptionSpec},
 * {@code PositionalParamSpec} builders) in the order picocli's reflection builds it (fields in
 * declaration order, then methods), with getters and setters that access the fields directly.
 */
final class ModelSource {
    /** The class uses a picocli feature this generator does not translate (the message says which). */
    static final class Unsupported extends Exception {
        Unsupported(String message) {
            super(message);
        }
    }

    private static final String SPEC = "picocli.CommandLine.Model.CommandSpec";
    private static final Set<String> COMMAND_ATTRIBUTES = Set.of("name", "description", "mixinStandardHelpOptions",
            "versionProvider", "sortOptions");
    private static final Set<String> ARG_ATTRIBUTES = Set.of("paramLabel", "arity", "defaultValue", "description",
            "converter", "required", "hidden", "split", "showDefaultValue", "descriptionKey", "hideParamSyntax");

    private final TypeElement owner;
    private final ProcessingEnvironment env;
    private final String type;        // the owner's name in source
    private final String modelName;   // fully qualified
    private final List<String> mixinTypes = new ArrayList<>();
    private final StringBuilder members = new StringBuilder();
    private final StringBuilder getters = new StringBuilder();
    private final StringBuilder setters = new StringBuilder();
    private int bindings;
    private String source;

    private ModelSource(TypeElement owner, ProcessingEnvironment env) {
        this.owner = owner;
        this.env = env;
        this.type = owner.getQualifiedName().toString();
        this.modelName = packageName() + (packageName().isEmpty() ? "" : ".") + simpleModelName();
    }

    static ModelSource of(TypeElement owner, ProcessingEnvironment env) throws Unsupported {
        ModelSource m = new ModelSource(owner, env);
        m.check();
        List<Element> fields = new ArrayList<>();
        List<Element> methods = new ArrayList<>();
        for (Element e : owner.getEnclosedElements()) {
            if (e.getKind() == ElementKind.FIELD) fields.add(e);
            else if (e.getKind() == ElementKind.METHOD) methods.add(e);
        }
        for (Element e : fields) m.member(e);
        for (Element e : methods) m.member(e);
        m.source = m.render();
        return m;
    }

    TypeElement owner() {
        return owner;
    }

    String modelName() {
        return modelName;
    }

    List<String> mixinTypes() {
        return mixinTypes;
    }

    boolean isCommand() {
        return annotation(owner, "Command") != null;
    }

    private void check() throws Unsupported {
        for (Element e = owner; e instanceof TypeElement t; e = t.getEnclosingElement()) {
            if (t.getModifiers().contains(Modifier.PRIVATE)) throw new Unsupported("the class is private");
        }
        if (owner.getNestingKind().isNested() && !owner.getModifiers().contains(Modifier.STATIC)) {
            throw new Unsupported("an inner (non-static) class");
        }
        TypeMirror sup = owner.getSuperclass();
        if (sup.getKind() == TypeKind.DECLARED && !((TypeElement) ((DeclaredType) sup).asElement()).getQualifiedName()
                .contentEquals("java.lang.Object")) {
            throw new Unsupported("a superclass (" + sup + "): members inherited from it are not read");
        }
        for (AnnotationMirror a : owner.getAnnotationMirrors()) {
            String n = annotationName(a);
            if (n.startsWith(CommandModelProcessor.PICOCLI) && !n.equals(CommandModelProcessor.PICOCLI + "Command")) {
                throw new Unsupported("@" + n + " on the class");
            }
        }
    }

    /** One field or method: an option, a positional parameter, a mixin, the injected spec, or nothing picocli reads. */
    private void member(Element e) throws Unsupported {
        String kind = null;
        AnnotationMirror mirror = null;
        for (AnnotationMirror a : e.getAnnotationMirrors()) {
            String n = annotationName(a);
            if (!n.startsWith(CommandModelProcessor.PICOCLI)) continue;
            if (kind != null) throw new Unsupported(e + " has two picocli annotations");
            kind = n.substring(CommandModelProcessor.PICOCLI.length());
            mirror = a;
        }
        if (kind == null) return;
        if (e.getModifiers().contains(Modifier.PRIVATE)) throw new Unsupported("private member " + e.getSimpleName());
        if (e.getModifiers().contains(Modifier.STATIC)) throw new Unsupported("static member " + e.getSimpleName());
        boolean method = e.getKind() == ElementKind.METHOD;
        if (method && (kind.equals("Mixin") || kind.equals("Spec"))) throw new Unsupported("@" + kind + " on method " + e.getSimpleName());
        TypeMirror t = method ? setterParameter((ExecutableElement) e) : e.asType();
        String name = e.getSimpleName().toString();
        switch (kind) {
            case "Option" -> option(new AnnotationValues(mirror, union(ARG_ATTRIBUTES, "names", "fallbackValue", "order", "negatable")), name, t, method);
            case "Parameters" -> positional(new AnnotationValues(mirror, union(ARG_ATTRIBUTES, "index")), name, t, method);
            case "Mixin" -> mixin(new AnnotationValues(mirror, Set.of("name")), name, t);
            case "Spec" -> {
                new AnnotationValues(mirror, Set.of()); // Spec.Target.MIXEE is not translated
                if (!env.getTypeUtils().erasure(t).toString().equals(SPEC)) throw new Unsupported("@Spec on a " + t);
                members.append("        c.").append(name).append(" = s;\n");
            }
            default -> throw new Unsupported("@" + kind + " on " + name);
        }
    }

    private TypeMirror setterParameter(ExecutableElement m) throws Unsupported {
        if (m.getParameters().size() != 1) throw new Unsupported("annotated method " + m.getSimpleName() + " is not a one-argument setter");
        return m.getParameters().get(0).asType();
    }

    private static Set<String> union(Set<String> a, String... more) {
        Set<String> s = new java.util.HashSet<>(a);
        s.addAll(List.of(more));
        return s;
    }

    private void option(AnnotationValues v, String name, TypeMirror t, boolean method) throws Unsupported {
        StringBuilder b = new StringBuilder("picocli.CommandLine.Model.OptionSpec.builder(new String[] {")
                .append(JavaText.literals(v.strings("names"))).append("})");
        if (v.has("fallbackValue")) b.append("\n                .fallbackValue(").append(JavaText.literal(v.string("fallbackValue"))).append(')');
        if (v.has("order")) b.append("\n                .order(").append(v.integer("order")).append(')');
        if (v.has("negatable")) b.append("\n                .negatable(").append(v.bool("negatable")).append(')');
        arg(b, v, name, t, method);
        members.append("        s.addOption(").append(b).append(".build());\n");
    }

    private void positional(AnnotationValues v, String name, TypeMirror t, boolean method) throws Unsupported {
        StringBuilder b = new StringBuilder("picocli.CommandLine.Model.PositionalParamSpec.builder()");
        if (v.has("index")) b.append("\n                .index(").append(JavaText.literal(v.string("index"))).append(')');
        // picocli's reflection makes a positional parameter required when its arity's minimum is above 0
        String arity = v.has("arity") ? v.string("arity") : "";
        if (arity.isEmpty() && isMultiValue(t)) throw new Unsupported("multi-value positional " + name + " without an arity");
        String min = arity.isEmpty() ? "1" : arity.split("\\.\\.")[0].trim();
        b.append("\n                .required(").append(!min.equals("*") && Integer.parseInt(min) > 0).append(')');
        arg(b, v, name, t, method);
        members.append("        s.addPositional(").append(b).append(".build());\n");
    }

    private boolean isMultiValue(TypeMirror t) {
        if (t.getKind() == TypeKind.ARRAY) return true;
        Types types = env.getTypeUtils();
        for (String c : List.of("java.util.Collection", "java.util.Map")) {
            TypeElement e = env.getElementUtils().getTypeElement(c);
            if (e != null && types.isAssignable(types.erasure(t), types.erasure(e.asType()))) return true;
        }
        return false;
    }

    /** What options and positional parameters share: labels, arity, defaults, type, converters, binding. */
    private void arg(StringBuilder b, AnnotationValues v, String name, TypeMirror t, boolean method) throws Unsupported {
        // picocli's reflection labels an unlabelled argument <fieldName>
        String label = v.has("paramLabel") && !v.string("paramLabel").isEmpty() ? v.string("paramLabel") : "<" + name + ">";
        b.append("\n                .paramLabel(").append(JavaText.literal(label)).append(')');
        if (v.has("arity") && !v.string("arity").isEmpty()) b.append("\n                .arity(").append(JavaText.literal(v.string("arity"))).append(')');
        if (v.has("defaultValue")) b.append("\n                .defaultValue(").append(JavaText.literal(v.string("defaultValue"))).append(')');
        if (v.has("description")) b.append("\n                .description(").append(JavaText.literals(v.strings("description"))).append(')');
        b.append("\n                .descriptionKey(").append(JavaText.literal(v.has("descriptionKey") ? v.string("descriptionKey") : "")).append(')');
        if (v.has("required")) b.append("\n                .required(").append(v.bool("required")).append(')');
        if (v.has("hidden")) b.append("\n                .hidden(").append(v.bool("hidden")).append(')');
        if (v.has("hideParamSyntax")) b.append("\n                .hideParamSyntax(").append(v.bool("hideParamSyntax")).append(')');
        if (v.has("split")) b.append("\n                .splitRegex(").append(JavaText.literal(v.string("split"))).append(')');
        if (v.has("showDefaultValue")) {
            b.append("\n                .showDefaultValue(picocli.CommandLine.Help.Visibility.").append(v.enumConstant("showDefaultValue")).append(')');
        }
        Types types = env.getTypeUtils();
        if (t.getKind() == TypeKind.TYPEVAR || t.getKind() == TypeKind.WILDCARD) throw new Unsupported("generic member " + name);
        b.append("\n                .type(").append(types.erasure(t)).append(".class)");
        if (t instanceof DeclaredType d && !d.getTypeArguments().isEmpty()) {
            StringBuilder aux = new StringBuilder();
            for (TypeMirror a : d.getTypeArguments()) {
                if (a.getKind() != TypeKind.DECLARED) throw new Unsupported("type argument " + a + " of " + name);
                if (!aux.isEmpty()) aux.append(", ");
                aux.append(types.erasure(a)).append(".class");
            }
            b.append("\n                .auxiliaryTypes(").append(aux).append(')');
        }
        List<TypeMirror> converters = v.types("converter");
        if (!converters.isEmpty()) {
            StringBuilder c = new StringBuilder();
            for (TypeMirror ct : converters) {
                if (!c.isEmpty()) c.append(", ");
                c.append("new ").append(types.erasure(ct)).append("()");
            }
            b.append("\n                .converters(").append(c).append(')');
        }
        // the value the field holds before parsing: picocli resets an option not given to it
        // (a setter method has none: picocli's reflection does not call a getter to read one)
        b.append(method ? "\n                .hasInitialValue(false)"
                : "\n                .initialValue(c." + name + ").hasInitialValue(true)");
        int i = bindings++;
        b.append("\n                .getter(new Binding(c, ").append(i).append(")).setter(new Binding(c, ").append(i).append("))");
        binding(i, name, t, method);
    }

    /** Case {@code i} of the Binding class: read and write the field, or call the setter method and remember the value. */
    private void binding(int i, String name, TypeMirror t, boolean method) {
        if (method) {
            getters.append("                case ").append(i).append(" -> methodValue;\n");
            setters.append("                case ").append(i).append(" -> { c.").append(name).append("((").append(boxed(t))
                    .append(") value); methodValue = value; }\n");
        } else {
            getters.append("                case ").append(i).append(" -> c.").append(name).append(";\n");
            setters.append("                case ").append(i).append(" -> c.").append(name).append(" = (").append(boxed(t)).append(") value;\n");
        }
    }

    private String boxed(TypeMirror t) {
        return t.getKind().isPrimitive() ? env.getTypeUtils().boxedClass((javax.lang.model.type.PrimitiveType) t).getQualifiedName().toString()
                : t.toString();
    }

    private void mixin(AnnotationValues v, String name, TypeMirror t) throws Unsupported {
        if (t.getKind() != TypeKind.DECLARED) throw new Unsupported("mixin " + name + " of type " + t);
        TypeElement mt = (TypeElement) ((DeclaredType) t).asElement();
        mixinTypes.add(mt.getQualifiedName().toString());
        String mixinName = v.has("name") && !v.string("name").isEmpty() ? v.string("name") : name;
        // picocli instantiates a mixin field that is still null (its factory: the no-argument constructor)
        members.append("        if (c.").append(name).append(" == null) c.").append(name).append(" = new ").append(types().erasure(t)).append("();\n");
        members.append("        s.addMixin(").append(JavaText.literal(mixinName)).append(", ").append(modelOf(mt)).append(".mixin(c.")
                .append(name).append("));\n");
    }

    private Types types() {
        return env.getTypeUtils();
    }

    private String packageName() {
        return packageOf(owner).getQualifiedName().toString();
    }

    private static PackageElement packageOf(Element e) {
        while (!(e instanceof PackageElement p)) e = e.getEnclosingElement();
        return p;
    }

    private String simpleModelName() {
        return nestedName(owner) + "Model";
    }

    /** Outer_Inner for a nested class: the model is a top-level class of the same package. */
    private static String nestedName(TypeElement t) {
        String n = t.getSimpleName().toString();
        for (Element e = t.getEnclosingElement(); e instanceof TypeElement o; e = o.getEnclosingElement()) n = o.getSimpleName() + "_" + n;
        return n;
    }

    private static String modelOf(TypeElement t) {
        String p = packageOf(t).getQualifiedName().toString();
        return (p.isEmpty() ? "" : p + ".") + nestedName(t) + "Model";
    }

    private static String annotationName(AnnotationMirror a) {
        return ((TypeElement) a.getAnnotationType().asElement()).getQualifiedName().toString();
    }

    private static AnnotationMirror annotation(Element e, String simple) {
        for (AnnotationMirror a : e.getAnnotationMirrors()) {
            if (annotationName(a).equals(CommandModelProcessor.PICOCLI + simple)) return a;
        }
        return null;
    }

    String source() {
        return source;
    }

    /** The name {@code Class.getName()} gives the owner at run time (Outer$Inner for a nested class). */
    String binaryName() {
        return env.getElementUtils().getBinaryName(owner).toString();
    }

    private String render() throws Unsupported {
        StringBuilder s = new StringBuilder();
        if (!packageName().isEmpty()) s.append("package ").append(packageName()).append(";\n\n");
        s.append("/**\n * The picocli model of {@link ").append(type).append("}, generated at compile time from its annotations by\n")
                .append(" * dev.vmm.cli.codegen.CommandModelProcessor (no reflection at run time). Do not edit.\n */\n")
                .append("@javax.annotation.processing.Generated(\"dev.vmm.cli.codegen.CommandModelProcessor\")\n")
                .append("public final class ").append(simpleModelName()).append(" {\n")
                .append("    private ").append(simpleModelName()).append("() {}\n\n");
        AnnotationValues v0 = isCommand() ? new AnnotationValues(annotation(owner, "Command"), COMMAND_ATTRIBUTES) : null;
        if (v0 != null) command(s, v0);
        s.append("    /** The members of a ").append(owner.getSimpleName()).append(" used as a mixin. */\n")
                .append("    public static ").append(SPEC).append(" mixin(Object userObject) {\n")
                .append("        ").append(SPEC).append(" s = ").append(SPEC).append(".wrapWithoutInspection(userObject);\n")
                .append("        addMembers(s, (").append(type).append(") userObject);\n")
                .append("        return s;\n    }\n\n")
                .append("    static void addMembers(").append(SPEC).append(" s, ").append(type).append(" c) {\n")
                .append(members).append("    }\n");
        if (v0 != null && v0.bool("mixinStandardHelpOptions")) s.append(STANDARD_HELP_OPTIONS);
        if (bindings > 0) s.append(bindingClass());
        return s.append("}\n").toString();
    }

    private void command(StringBuilder s, AnnotationValues v) {
        s.append("    /** The command model of a ").append(owner.getSimpleName()).append(", as picocli's reflection would build it. */\n")
                .append("    public static ").append(SPEC).append(" spec(Object userObject) {\n")
                .append("        ").append(SPEC).append(" s = ").append(SPEC).append(".wrapWithoutInspection(userObject);\n");
        if (v.has("name")) s.append("        s.name(").append(JavaText.literal(v.string("name"))).append(");\n");
        if (v.has("description")) s.append("        s.usageMessage().description(").append(JavaText.literals(v.strings("description"))).append(");\n");
        if (v.has("sortOptions")) s.append("        s.usageMessage().sortOptions(").append(v.bool("sortOptions")).append(");\n");
        for (TypeMirror p : v.types("versionProvider")) s.append("        s.versionProvider(new ").append(types().erasure(p)).append("());\n");
        s.append("        addMembers(s, (").append(type).append(") userObject);\n");
        // picocli's reflection adds the standard help options after the class's own members
        if (v.bool("mixinStandardHelpOptions")) s.append("        standardHelpOptions(s);\n");
        s.append("        return s;\n    }\n\n");
    }

    /**
     * {@code mixinStandardHelpOptions = true}: picocli's -h/--help and -V/--version, built here rather
     * than by {@code spec.mixinStandardHelpOptions(true)}, which reads picocli's own annotated mixin
     * by reflection; the same names, descriptions and description keys, under the same mixin name.
     */
    private static final String STANDARD_HELP_OPTIONS = """

                private static void standardHelpOptions(picocli.CommandLine.Model.CommandSpec s) {
                    picocli.CommandLine.Model.CommandSpec m = picocli.CommandLine.Model.CommandSpec.wrapWithoutInspection(new Object());
                    m.addOption(picocli.CommandLine.Model.OptionSpec.builder("-h", "--help").usageHelp(true).paramLabel("<helpRequested>")
                            .initialValue(false).descriptionKey("mixinStandardHelpOptions.help").description("Show this help message and exit.")
                            .type(boolean.class).build());
                    m.addOption(picocli.CommandLine.Model.OptionSpec.builder("-V", "--version").versionHelp(true).paramLabel("<versionRequested>")
                            .initialValue(false).descriptionKey("mixinStandardHelpOptions.version").description("Print version information and exit.")
                            .type(boolean.class).build());
                    s.addMixin("mixinStandardHelpOptions", m);
                }
            """;

    private String bindingClass() {
        return "\n    /** Getter and setter of member number i, for picocli. */\n"
                + "    private static final class Binding implements picocli.CommandLine.Model.IGetter, picocli.CommandLine.Model.ISetter {\n"
                + "        private final " + type + " c;\n"
                + "        private final int i;\n"
                + "        private Object methodValue;\n\n"
                + "        Binding(" + type + " c, int i) {\n            this.c = c;\n            this.i = i;\n        }\n\n"
                + "        @Override\n        @SuppressWarnings(\"unchecked\")\n        public <T> T get() {\n"
                + "            Object v = switch (i) {\n" + getters
                + "                default -> throw new IllegalStateException(\"member \" + i);\n            };\n"
                + "            return (T) v;\n        }\n\n"
                + "        @Override\n        @SuppressWarnings(\"unchecked\")\n        public <T> T set(T value) {\n"
                + "            T old = get();\n            switch (i) {\n" + setters
                + "                default -> throw new IllegalStateException(\"member \" + i);\n            }\n"
                + "            return old;\n        }\n    }\n";
    }
}
