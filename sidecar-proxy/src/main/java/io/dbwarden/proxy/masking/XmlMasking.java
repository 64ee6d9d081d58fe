package io.dbwarden.proxy.masking;

import java.util.function.UnaryOperator;

/**
 * Masking inside xml values that keeps them well-formed: text, attribute values, CDATA sections, comments and the
 * content of processing instructions are masked one by one (entities decoded first, the result escaped again);
 * element and attribute names, which come from the statement ({@code xmlelement(name e, ...)}, {@code xmlforest}'s
 * column names), stay. Masking the whole text at once would cut through the markup ({@code <***@example.com</e>}).
 */
final class XmlMasking {
    private XmlMasking() {
    }

    /** {@code xml} with every value masked by {@code masker}; null when it is not well-formed enough to tell. */
    static String masked(String xml, Masker masker) {
        return masked(xml, text -> masker.nulls() ? null : masker.mask(text));
    }

    /**
     * {@code xml} with every value replaced by what {@code mask} makes of it (entities decoded first, the result
     * escaped again; null: {@code [redacted]}): the same instance when it changes no value, null when the document is
     * not well-formed enough to tell.
     */
    static String masked(String xml, UnaryOperator<String> mask) {
        boolean[] changed = {false};
        UnaryOperator<String> masker = text -> {
            if (text.isBlank()) {
                return text; // indentation between elements is no value
            }
            String m = mask.apply(text);
            changed[0] |= m != text;
            return m == null ? Masker.REDACTED : m;
        };
        StringBuilder out = new StringBuilder(xml.length());
        int i = 0;
        int n = xml.length();
        while (i < n) {
            if (xml.charAt(i) != '<') {
                int end = xml.indexOf('<', i);
                end = end < 0 ? n : end;
                String text = decode(xml, i, end);
                if (text == null) {
                    return null;
                }
                out.append(escape(masker.apply(text), false));
                i = end;
            } else if (xml.startsWith("<!--", i)) {
                int end = xml.indexOf("-->", i + 4);
                if (end < 0) {
                    return null;
                }
                String masked = masker.apply(xml.substring(i + 4, end)).replace("--", "- -");
                out.append("<!--").append(masked.endsWith("-") ? masked + " " : masked).append("-->");
                i = end + 3;
            } else if (xml.startsWith("<![CDATA[", i)) {
                int end = xml.indexOf("]]>", i + 9);
                if (end < 0) {
                    return null;
                }
                String masked = masker.apply(xml.substring(i + 9, end));
                out.append("<![CDATA[").append(masked.replace("]]>", "]]]]><![CDATA[>")).append("]]>");
                i = end + 3;
            } else if (xml.startsWith("<?", i)) {
                int end = xml.indexOf("?>", i + 2);
                if (end < 0) {
                    return null;
                }
                int target = i + 2;
                while (target < end && !Character.isWhitespace(xml.charAt(target))) {
                    target++;
                }
                String name = xml.substring(i + 2, target);
                out.append("<?").append(name);
                if (name.equalsIgnoreCase("xml")) {
                    out.append(xml, target, end); // the declaration: version and encoding, no data
                } else if (target < end) {
                    out.append(' ').append(masker.apply(xml.substring(target + 1, end)).replace("?>", "? >"));
                }
                out.append("?>");
                i = end + 2;
            } else if (xml.startsWith("<!", i)) {
                return null; // a document type declaration: its internal subset can hold anything
            } else {
                i = tag(xml, i, out, masker);
                if (i < 0) {
                    return null;
                }
            }
        }
        return changed[0] ? out.toString() : xml;
    }

    /** Copies the tag starting at {@code i} with its attribute values masked; the index after it, or -1. */
    private static int tag(String xml, int i, StringBuilder out, UnaryOperator<String> masker) {
        int n = xml.length();
        int k = i;
        while (k < n) {
            char c = xml.charAt(k);
            if (c == '>') {
                out.append(xml, i, k + 1);
                return k + 1;
            }
            if (c == '"' || c == '\'') {
                int close = xml.indexOf(c, k + 1);
                if (close < 0) {
                    return -1;
                }
                String value = decode(xml, k + 1, close);
                if (value == null) {
                    return -1;
                }
                out.append(xml, i, k).append('"').append(escape(masker.apply(value), true)).append('"');
                i = close + 1;
                k = close + 1;
                continue;
            }
            k++;
        }
        return -1;
    }

    /** The text of [from, to) with its entity and character references resolved; null for an unknown one. */
    private static String decode(String xml, int from, int to) {
        int amp = xml.indexOf('&', from);
        if (amp < 0 || amp >= to) {
            return xml.substring(from, to);
        }
        StringBuilder sb = new StringBuilder(to - from);
        int i = from;
        while (i < to) {
            char c = xml.charAt(i);
            if (c != '&') {
                sb.append(c);
                i++;
                continue;
            }
            int semi = xml.indexOf(';', i);
            if (semi < 0 || semi >= to) {
                return null;
            }
            String ref = xml.substring(i + 1, semi);
            switch (ref) {
                case "lt" -> sb.append('<');
                case "gt" -> sb.append('>');
                case "amp" -> sb.append('&');
                case "quot" -> sb.append('"');
                case "apos" -> sb.append('\'');
                default -> {
                    if (!ref.startsWith("#") || ref.length() < 2) {
                        return null;
                    }
                    try {
                        int cp = ref.charAt(1) == 'x' || ref.charAt(1) == 'X'
                                ? Integer.parseInt(ref.substring(2), 16) : Integer.parseInt(ref.substring(1));
                        sb.appendCodePoint(cp);
                    } catch (IllegalArgumentException e) {
                        return null;
                    }
                }
            }
            i = semi + 1;
        }
        return sb.toString();
    }

    private static String escape(String text, boolean attribute) {
        StringBuilder sb = null;
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            String r = switch (c) {
                case '&' -> "&amp;";
                case '<' -> "&lt;";
                case '>' -> "&gt;";
                case '"' -> attribute ? "&quot;" : null;
                default -> null;
            };
            if (r != null && sb == null) {
                sb = new StringBuilder(text.length() + 16).append(text, 0, i);
            }
            if (sb != null) {
                if (r != null) {
                    sb.append(r);
                } else {
                    sb.append(c);
                }
            }
        }
        return sb == null ? text : sb.toString();
    }
}
