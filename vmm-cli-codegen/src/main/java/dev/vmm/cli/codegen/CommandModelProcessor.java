package dev.vmm.cli.codegen;

import javax.annotation.processing.AbstractProcessor;
import javax.annotation.processing.RoundEnvironment;
import javax.lang.model.SourceVersion;
import javax.lang.model.element.Element;
import javax.lang.model.element.ElementKind;
import javax.lang.model.element.TypeElement;
import javax.tools.Diagnostic;
import java.io.IOException;
import java.io.Writer;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * Generates, for every class carrying picocli annotations ({@code @Command}, {@code @Option},
 * {@code @Parameters}, {@code @Mixin}, {@code @Spec}), a class {@code <Name>Model} in the same package
 * that builds the same picocli {@code CommandSpec} through picocli's programmatic API, with direct
 * field access instead of reflection (issue 19: reading the annotations at run time made the JVM spin
 * annotation proxy classes, which the AOT cache does not keep, on every start).
 *
 * <p>The annotated classes stay the single source of truth: the models are regenerated on each
 * compilation. A class that uses an annotation or attribute this generator does not translate gets
 * no model (a compiler note says why) and is built by picocli's reflection as before. With the
 * option {@code -Avmm.cli.models=pkg.Name}, a registry class {@code pkg.Name} maps a command
 * object to its model ({@code spec(Object)}, null when there is none).
 */
public final class CommandModelProcessor extends AbstractProcessor {
    static final String PICOCLI = "picocli.CommandLine.";
    static final String REGISTRY_OPTION = "vmm.cli.models";

    private boolean registryWritten;

    @Override
    public Set<String> getSupportedAnnotationTypes() {
        return Set.of(PICOCLI + "*");
    }

    @Override
    public Set<String> getSupportedOptions() {
        return Set.of(REGISTRY_OPTION);
    }

    @Override
    public SourceVersion getSupportedSourceVersion() {
        return SourceVersion.latestSupported();
    }

    @Override
    public boolean process(Set<? extends TypeElement> annotations, RoundEnvironment round) {
        Map<String, TypeElement> owners = new LinkedHashMap<>();
        for (TypeElement a : annotations) {
            if (!a.getQualifiedName().toString().startsWith(PICOCLI)) continue;
            for (Element e : round.getElementsAnnotatedWith(a)) {
                TypeElement owner = e.getKind().isClass() || e.getKind() == ElementKind.INTERFACE ? (TypeElement) e
                        : (TypeElement) e.getEnclosingElement();
                owners.putIfAbsent(owner.getQualifiedName().toString(), owner);
            }
        }
        if (owners.isEmpty()) return false;
        Map<String, ModelSource> models = new LinkedHashMap<>();
        for (TypeElement owner : owners.values()) {
            try {
                models.put(owner.getQualifiedName().toString(), ModelSource.of(owner, processingEnv));
            } catch (ModelSource.Unsupported u) {
                processingEnv.getMessager().printMessage(Diagnostic.Kind.NOTE,
                        "no compile-time picocli model (built by reflection at run time instead): " + u.getMessage(), owner);
            }
        }
        // A command whose mixin has no model cannot have one either (its options would be missing).
        boolean dropped;
        do {
            dropped = models.values().removeIf(m -> {
                for (String mixin : m.mixinTypes()) {
                    if (!models.containsKey(mixin)) {
                        processingEnv.getMessager().printMessage(Diagnostic.Kind.NOTE,
                                "no compile-time picocli model: mixin " + mixin + " has none", m.owner());
                        return true;
                    }
                }
                return false;
            });
        } while (dropped);
        for (ModelSource m : models.values()) write(m.modelName(), m.source(), m.owner());
        String registry = processingEnv.getOptions().get(REGISTRY_OPTION);
        if (registry != null && !registryWritten) {
            registryWritten = true;
            write(registry, RegistrySource.of(registry, models.values()), null);
        }
        return false;
    }

    private void write(String name, String source, Element origin) {
        try (Writer w = (origin == null ? processingEnv.getFiler().createSourceFile(name)
                : processingEnv.getFiler().createSourceFile(name, origin)).openWriter()) {
            w.write(source);
        } catch (IOException e) {
            processingEnv.getMessager().printMessage(Diagnostic.Kind.ERROR, "cannot write " + name + ": " + e.getMessage(), origin);
        }
    }
}
