package io.dbwarden.api.validation;

import io.dbwarden.api.v1alpha1.Subject;

import java.util.ArrayList;
import java.util.List;

/** Subjects as identity globs: service-account subjects become namespace/name (namespace defaulting to the policy's). */
public final class Subjects {
    private Subjects() {
    }

    public static List<IdentityGlob> globs(List<Subject> subjects, String policyNamespace) {
        List<IdentityGlob> globs = new ArrayList<>(subjects.size());
        for (Subject s : subjects) {
            globs.add(IdentityGlob.parse(s.getIdentity() != null ? s.getIdentity()
                    : (s.getNamespace() != null ? s.getNamespace()
                    : policyNamespace != null ? policyNamespace : "default") + "/" + s.getServiceAccount()));
        }
        return List.copyOf(globs);
    }

    public static boolean matches(List<Subject> subjects, String policyNamespace, String identity) {
        return globs(subjects, policyNamespace).stream().anyMatch(g -> g.matches(identity));
    }
}
