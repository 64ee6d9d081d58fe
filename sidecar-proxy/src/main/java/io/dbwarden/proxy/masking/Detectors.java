package io.dbwarden.proxy.masking;

import io.dbwarden.api.v1alpha1.DetectorType;

import java.math.BigInteger;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Finds sensitive values inside text. Each detector returns the [start, end) spans it is sure about. */
public final class Detectors {
    private static final Pattern EMAIL = Pattern.compile("[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\\.[A-Za-z0-9-]+)*\\.[A-Za-z]{2,}");
    private static final Pattern IBAN = Pattern.compile("\\b[A-Z]{2}\\d{2}(?: ?[A-Z0-9]){11,30}\\b");
    private static final Pattern PHONE = Pattern.compile("(?<![\\w+])(?:\\+\\d{1,3}[ .-]?)?(?:\\(\\d{1,4}\\)[ .-]?)?\\d{2,4}(?:[ .-]?\\d{2,4}){2,3}(?![\\w])");
    private static final Pattern JWT = Pattern.compile("eyJ[A-Za-z0-9_-]{5,}\\.eyJ[A-Za-z0-9_-]{5,}\\.[A-Za-z0-9_-]{10,}");
    private static final Pattern API_KEY = Pattern.compile(
            "(?:AKIA|ASIA)[0-9A-Z]{16}"                              // AWS access key id
                    + "|gh[pousr]_[A-Za-z0-9]{36,}"                   // GitHub tokens
                    + "|github_pat_[A-Za-z0-9_]{40,}"
                    + "|(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}"  // Stripe
                    + "|xox[baprs]-[A-Za-z0-9-]{10,}"                 // Slack
                    + "|AIza[0-9A-Za-z_-]{35}"                        // Google API key
                    + "|-----BEGIN [A-Z ]*PRIVATE KEY-----[\\s\\S]*?-----END [A-Z ]*PRIVATE KEY-----");
    private static final Pattern TOKEN = Pattern.compile("[A-Za-z0-9+/_-]{24,}={0,2}");

    private Detectors() {
    }

    /**
     * {@code text} with everything any detector recognises replaced by {@code ?}, whatever a policy configures: for
     * texts recorded in the audit log that server-side code wrote (a RAISE message can carry any value). The same
     * instance when nothing was found; null stays null.
     */
    public static String withoutDetectedValues(String text) {
        if (text == null) {
            return null;
        }
        String result = text;
        for (DetectorType type : DetectorType.values()) {
            result = replaced(result, find(type, result), found -> "?");
        }
        return result;
    }

    /** {@code text} with each span replaced by {@code with} of its content; the same instance when there is none. */
    static String replaced(String text, List<int[]> spans, java.util.function.UnaryOperator<String> with) {
        if (spans.isEmpty()) {
            return text;
        }
        StringBuilder sb = new StringBuilder(text);
        for (int i = spans.size() - 1; i >= 0; i--) {
            int[] s = spans.get(i);
            sb.replace(s[0], s[1], with.apply(text.substring(s[0], s[1])));
        }
        return sb.toString();
    }

    /** Spans of {@code text} the detector flags, in order, not overlapping. */
    static List<int[]> find(DetectorType type, String text) {
        if (type == DetectorType.CREDIT_CARD) {
            return cards(text);
        }
        List<int[]> spans = new ArrayList<>(1);
        Matcher m = switch (type) {
            case EMAIL -> text.indexOf('@') < 0 ? null : EMAIL.matcher(text);
            case CREDIT_CARD -> null; // handled by cards()
            case IBAN -> digits(text) < 10 ? null : IBAN.matcher(text);
            case PHONE -> digits(text) < 9 ? null : PHONE.matcher(text);
            case JWT -> text.contains("eyJ") ? JWT.matcher(text) : null;
            case API_KEY -> API_KEY.matcher(text);
            case HIGH_ENTROPY -> text.length() < 24 ? null : TOKEN.matcher(text);
        };
        if (m == null) {
            return spans;
        }
        while (m.find()) {
            String hit = m.group();
            boolean ok = switch (type) {
                case IBAN -> iban(hit);
                case PHONE -> digits(hit) >= 9 && digits(hit) <= 15;
                case HIGH_ENTROPY -> looksRandom(hit);
                default -> true;
            };
            if (ok) {
                spans.add(new int[]{m.start(), m.end()});
            }
        }
        return spans;
    }

    /**
     * Card numbers without a regex (this runs on every text value): runs of 13-19 digits, optionally grouped by
     * single spaces or dashes, not touching other digits or dashes, passing the Luhn check.
     */
    static List<int[]> cards(String text) {
        List<int[]> spans = new ArrayList<>(1);
        int n = text.length();
        int i = 0;
        while (i < n) {
            char c = text.charAt(i);
            if (c < '0' || c > '9' || (i > 0 && (Character.isDigit(text.charAt(i - 1)) || text.charAt(i - 1) == '-'))) {
                i++;
                continue;
            }
            int digits = 0;
            int end = i;
            int k = i;
            while (k < n) {
                char d = text.charAt(k);
                if (d >= '0' && d <= '9') {
                    digits++;
                    k++;
                    end = k;
                } else if ((d == ' ' || d == '-') && k + 1 < n && Character.isDigit(text.charAt(k + 1))
                        && end == k) {
                    k++;
                } else {
                    break;
                }
            }
            boolean clean = end >= n || (text.charAt(end) != '-' && !Character.isDigit(text.charAt(end)));
            if (digits >= 13 && digits <= 19 && clean && luhn(text.substring(i, end))) {
                spans.add(new int[]{i, end});
            }
            i = Math.max(end, i + 1);
        }
        return spans;
    }

    static int digits(String s) {
        int n = 0;
        for (int i = 0; i < s.length(); i++) {
            if (Character.isDigit(s.charAt(i))) {
                n++;
            }
        }
        return n;
    }

    static boolean luhn(String s) {
        int sum = 0;
        boolean dbl = false;
        int count = 0;
        for (int i = s.length() - 1; i >= 0; i--) {
            char c = s.charAt(i);
            if (c < '0' || c > '9') {
                continue;
            }
            int d = c - '0';
            if (dbl) {
                d *= 2;
                if (d > 9) {
                    d -= 9;
                }
            }
            sum += d;
            dbl = !dbl;
            count++;
        }
        return count >= 13 && count <= 19 && sum % 10 == 0;
    }

    static boolean iban(String s) {
        String compact = s.replace(" ", "");
        if (compact.length() < 15 || compact.length() > 34) {
            return false;
        }
        String rearranged = compact.substring(4) + compact.substring(0, 4);
        StringBuilder digits = new StringBuilder();
        for (char c : rearranged.toCharArray()) {
            if (Character.isDigit(c)) {
                digits.append(c);
            } else if (c >= 'A' && c <= 'Z') {
                digits.append(c - 'A' + 10);
            } else {
                return false;
            }
        }
        return new BigInteger(digits.toString()).mod(BigInteger.valueOf(97)).intValue() == 1;
    }

    /** At least 3.5 bits of entropy per character and a mix of character classes: not a word or an id. */
    static boolean looksRandom(String s) {
        int[] counts = new int[128];
        int classes = 0;
        boolean lower = false;
        boolean upper = false;
        boolean digit = false;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            counts[c & 127]++;
            lower |= Character.isLowerCase(c);
            upper |= Character.isUpperCase(c);
            digit |= Character.isDigit(c);
        }
        classes = (lower ? 1 : 0) + (upper ? 1 : 0) + (digit ? 1 : 0);
        double entropy = 0;
        for (int c : counts) {
            if (c > 0) {
                double p = (double) c / s.length();
                entropy -= p * (Math.log(p) / Math.log(2));
            }
        }
        return classes >= 3 && entropy >= 3.5;
    }
}
