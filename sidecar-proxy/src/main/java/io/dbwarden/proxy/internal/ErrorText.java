package io.dbwarden.proxy.internal;

/** Server error messages for audit: quoted fragments can hold row values, so they are replaced. */
final class ErrorText {
    private ErrorText() {
    }

    /** Replaces every "..." fragment with "?" (e.g. invalid input syntax for type integer: "x" becomes ... "?"). */
    static String withoutValues(String message) {
        if (message == null || message.indexOf('"') < 0) {
            return message;
        }
        StringBuilder sb = new StringBuilder(message.length());
        boolean inQuote = false;
        for (int i = 0; i < message.length(); i++) {
            char c = message.charAt(i);
            if (c == '"') {
                if (!inQuote) {
                    sb.append("\"?\"");
                }
                inQuote = !inQuote;
            } else if (!inQuote) {
                sb.append(c);
            }
        }
        return sb.toString();
    }
}
