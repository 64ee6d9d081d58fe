package io.dbwarden.api.validation;

import java.util.regex.Pattern;

/** A glob over workload identities of the form {@code namespace/name}; {@code *} matches within a part. */
public final class IdentityGlob {
    private static final Pattern VALID = Pattern.compile("[a-z0-9*]([-a-z0-9.*]*[a-z0-9*])?/[a-z0-9*]([-a-z0-9.*]*[a-z0-9*])?");
    private final String source;
    private final Pattern pattern;

    private IdentityGlob(String source, Pattern pattern) {
        this.source = source;
        this.pattern = pattern;
    }

    public static IdentityGlob parse(String glob) {
        if (glob == null || !VALID.matcher(glob).matches()) {
            throw new IllegalArgumentException("'" + glob + "' is not an identity glob: use namespace/name with "
                    + "lower-case letters, digits, '-', '.' and '*' (for example team-a/* or */reporting)");
        }
        StringBuilder re = new StringBuilder();
        for (char c : glob.toCharArray()) {
            re.append(c == '*' ? "[^/]*" : Pattern.quote(String.valueOf(c)));
        }
        return new IdentityGlob(glob, Pattern.compile(re.toString()));
    }

    public boolean matches(String identity) {
        return identity != null && pattern.matcher(identity).matches();
    }

    @Override
    public String toString() {
        return source;
    }
}
