package dev.vmm.cli.codegen;

import javax.lang.model.element.AnnotationMirror;
import javax.lang.model.element.AnnotationValue;
import javax.lang.model.element.ExecutableElement;
import javax.lang.model.element.VariableElement;
import javax.lang.model.type.TypeMirror;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The attributes written explicitly in one picocli annotation, by name, restricted to the ones the
 * generator translates: any other attribute makes the class {@link ModelSource.Unsupported}, so that
 * a model never silently drops what the annotation says.
 */
final class AnnotationValues {
    private final Map<String, Object> values = new LinkedHashMap<>();

    AnnotationValues(AnnotationMirror mirror, Set<String> supported) throws ModelSource.Unsupported {
        for (Map.Entry<? extends ExecutableElement, ? extends AnnotationValue> e : mirror.getElementValues().entrySet()) {
            String name = e.getKey().getSimpleName().toString();
            if (!supported.contains(name)) {
                throw new ModelSource.Unsupported("attribute " + name + " of @" + mirror.getAnnotationType().asElement().getSimpleName());
            }
            values.put(name, e.getValue().getValue());
        }
    }

    boolean has(String name) {
        return values.containsKey(name);
    }

    String string(String name) {
        return (String) values.get(name);
    }

    boolean bool(String name) {
        return Boolean.TRUE.equals(values.get(name));
    }

    Integer integer(String name) {
        return (Integer) values.get(name);
    }

    /** A String[] attribute (a single value written without braces is a one-element array too). */
    List<String> strings(String name) {
        List<String> out = new ArrayList<>();
        for (Object v : list(name)) out.add((String) v);
        return out;
    }

    /** A Class or Class[] attribute, as the types named. */
    List<TypeMirror> types(String name) {
        List<TypeMirror> out = new ArrayList<>();
        for (Object v : list(name)) out.add((TypeMirror) v);
        return out;
    }

    /** An enum attribute's constant name. */
    String enumConstant(String name) {
        Object v = values.get(name);
        return v == null ? null : ((VariableElement) v).getSimpleName().toString();
    }

    private List<Object> list(String name) {
        Object v = values.get(name);
        List<Object> out = new ArrayList<>();
        if (v instanceof List<?> l) {
            for (Object o : l) out.add(((AnnotationValue) o).getValue());
        } else if (v != null) {
            out.add(v);
        }
        return out;
    }
}
