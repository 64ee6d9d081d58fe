package io.dbwarden.proxy.masking;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.core.StreamWriteConstraints;

import java.io.IOException;
import java.io.StringWriter;
import java.util.ArrayDeque;
import java.util.HashSet;
import java.util.Set;
import java.util.function.Function;
import java.util.function.Predicate;
import java.util.function.UnaryOperator;

/**
 * Masking inside json and jsonb values that keeps them valid JSON of the same shape, so a client that parses the
 * result (an agent reading {@code json_agg(c)}, an API layer building its response with {@code row_to_json}) still
 * can. Masking the JSON text as one string would leave invalid JSON ({@code {***@example.com"}}) or leak parts of it.
 * <ul>
 *   <li>{@link #everything}: every string, number and boolean is masked (masked numbers and booleans become strings,
 *       the masker's form of their text), and every object key that the statement does not spell out itself:
 *       keys can be data ({@code json_object_agg(email, id)}).</li>
 *   <li>{@link #members}: only the values of the members a function picks by key are masked, each subtree as by
 *       {@link #everything}; for whole rows as JSON, whose keys are the table's column names. A value outside every
 *       object (the document itself, or an element of a top-level array) is redacted: it is not a column's. The
 *       other strings go through the detectors, as the same column read on its own would.</li>
 * </ul>
 * A masker that nulls makes the value it applies to JSON null. Masked keys stay distinct within their object
 * ({@link ObjectKeys}). A document that cannot be read becomes the JSON string {@code "[redacted]"}.
 */
final class JsonMasking {
    private static final String REDACTED_JSON = "\"" + Masker.REDACTED + "\"";

    /** PostgreSQL's limits, not Jackson's defaults: a jsonb string may hold 256 MB, a number 131,072 digits. */
    private static final JsonFactory FACTORY = JsonFactory.builder()
            .streamReadConstraints(StreamReadConstraints.builder().maxStringLength(Integer.MAX_VALUE)
                    .maxNameLength(Integer.MAX_VALUE).maxNumberLength(Integer.MAX_VALUE).maxNestingDepth(100_000)
                    .build())
            .streamWriteConstraints(StreamWriteConstraints.builder().maxNestingDepth(100_000).build())
            .build();

    private JsonMasking() {
    }

    /** Every value masked by {@code masker} (null: redacted); keys kept only where {@code keptKey} says. */
    static String everything(String json, Masker masker, Predicate<String> keptKey) {
        return rewrite(json, null, masker, UnaryOperator.identity(), keptKey);
    }

    /**
     * The values of the members {@code byKey} gives a masker for, masked by it; other strings through {@code kept}
     * (the detectors: null makes the value JSON null), numbers and booleans as they are.
     */
    static String members(String json, Function<String, Masker> byKey, UnaryOperator<String> kept,
                          Predicate<String> keptKey) {
        return rewrite(json, byKey, null, kept, keptKey);
    }

    /**
     * What {@code detect} finds masked in every string, object key and number of {@code json} (keys can be data, as in
     * {@code json_object_agg(email, id)}; a number it changes becomes a string, a value it nulls JSON null, a key it
     * nulls {@code "[redacted]"}), after the escapes are decoded and with its replacements escaped again: the same
     * instance when it finds nothing, the JSON string {@code "[redacted]"} when the document cannot be read.
     *
     * @param detect a text masked, the same instance when nothing was found in it, null for NULL
     */
    static String detected(String json, UnaryOperator<String> detect) {
        StringWriter out = new StringWriter(json.length() + 16);
        boolean changed = false;
        try (JsonParser p = FACTORY.createParser(json); JsonGenerator g = FACTORY.createGenerator(out)) {
            ObjectKeys keys = new ObjectKeys();
            JsonToken t;
            while ((t = p.nextToken()) != null) {
                switch (t) {
                    case START_OBJECT -> {
                        keys.start();
                        g.writeStartObject();
                    }
                    case END_OBJECT -> {
                        keys.end();
                        g.writeEndObject();
                    }
                    case FIELD_NAME -> {
                        String key = p.currentName();
                        String masked = detect.apply(key);
                        if (masked == key) {
                            g.writeFieldName(keys.kept(key));
                        } else {
                            changed = true;
                            g.writeFieldName(keys.masked(masked == null ? Masker.REDACTED : masked));
                        }
                    }
                    case VALUE_STRING, VALUE_NUMBER_INT, VALUE_NUMBER_FLOAT -> {
                        String text = p.getText();
                        String masked = detect.apply(text);
                        if (masked == text) {
                            if (t == JsonToken.VALUE_STRING) {
                                g.writeString(text);
                            } else {
                                g.writeNumber(text); // as written: no rounding through double
                            }
                        } else {
                            changed = true;
                            if (masked == null) {
                                g.writeNull();
                            } else {
                                g.writeString(masked);
                            }
                        }
                    }
                    default -> g.copyCurrentEvent(p);
                }
            }
        } catch (IOException | RuntimeException e) {
            return REDACTED_JSON;
        }
        return changed ? out.toString() : json;
    }

    private static String rewrite(String json, Function<String, Masker> byKey, Masker all, UnaryOperator<String> kept,
                                  Predicate<String> keptKey) {
        StringWriter out = new StringWriter(json.length());
        try (JsonParser p = FACTORY.createParser(json); JsonGenerator g = FACTORY.createGenerator(out)) {
            boolean maskAll = byKey == null;
            ObjectKeys keys = new ObjectKeys();
            int depth = 0;
            int objects = 0;
            int maskedFrom = maskAll ? 0 : -1; // depth at which the masked subtree being written started
            Masker current = all;
            Masker next = null; // the masker of the member whose value comes next
            boolean memberNext = false;
            JsonToken t;
            while ((t = p.nextToken()) != null) {
                switch (t) {
                    case START_OBJECT, START_ARRAY -> {
                        if (maskedFrom < 0 && next != null) {
                            if (next.nulls()) {
                                g.writeNull();
                                p.skipChildren();
                                next = null;
                                memberNext = false;
                                continue;
                            }
                            maskedFrom = depth;
                            current = next;
                        }
                        next = null;
                        memberNext = false;
                        depth++;
                        if (t == JsonToken.START_OBJECT) {
                            objects++;
                            keys.start();
                            g.writeStartObject();
                        } else {
                            g.writeStartArray();
                        }
                    }
                    case END_OBJECT, END_ARRAY -> {
                        depth--;
                        if (t == JsonToken.END_OBJECT) {
                            objects--;
                            keys.end();
                            g.writeEndObject();
                        } else {
                            g.writeEndArray();
                        }
                        if (!maskAll && maskedFrom == depth) {
                            maskedFrom = -1;
                            current = null;
                        }
                    }
                    case FIELD_NAME -> {
                        String key = p.currentName();
                        if (maskedFrom >= 0) {
                            g.writeFieldName(keptKey.test(key) ? keys.kept(key)
                                    : keys.masked(maskedText(current, key)));
                        } else {
                            g.writeFieldName(keys.kept(key));
                            next = byKey.apply(key);
                            memberNext = true;
                        }
                    }
                    case VALUE_NULL -> {
                        g.writeNull();
                        next = null;
                        memberNext = false;
                    }
                    default -> {
                        String text = p.getText();
                        if (maskedFrom >= 0) {
                            writeMasked(g, current, text);
                        } else if (next != null) {
                            writeMasked(g, next, text);
                        } else if (!memberNext && objects == 0) {
                            writeMasked(g, null, text); // not a column's value: fail closed
                        } else if (t == JsonToken.VALUE_STRING) {
                            String checked = kept.apply(text);
                            if (checked == null) {
                                g.writeNull();
                            } else {
                                g.writeString(checked);
                            }
                        } else if (t == JsonToken.VALUE_NUMBER_INT || t == JsonToken.VALUE_NUMBER_FLOAT) {
                            g.writeNumber(text); // as written: no rounding through double
                        } else {
                            g.writeBoolean(t == JsonToken.VALUE_TRUE);
                        }
                        next = null;
                        memberNext = false;
                    }
                }
            }
        } catch (IOException | RuntimeException e) {
            return REDACTED_JSON;
        }
        return out.toString();
    }

    private static void writeMasked(JsonGenerator g, Masker m, String text) throws IOException {
        if (m != null && m.nulls()) {
            g.writeNull();
            return;
        }
        String masked = maskedText(m, text);
        if (masked == null) {
            g.writeNull();
        } else {
            g.writeString(masked);
        }
    }

    private static String maskedText(Masker m, String text) {
        return m == null || m.nulls() ? Masker.REDACTED : m.mask(text);
    }

    /**
     * The names written in each open object, so that masking does not make two members of one object share a name
     * (two addresses both masked {@code a***@example.com}, every one-letter key {@code *}): a client that reads the
     * object into a map would keep only the last of them and silently lose the others' values. A masked name the
     * object already has gets {@code #2}, {@code #3}, ... appended; names kept as they are are never changed (a json
     * value may repeat a name itself).
     */
    private static final class ObjectKeys {
        /** Per open object: every name written in it, and those the masking made (masked or renumbered). */
        private record Names(Set<String> all, Set<String> made) {
        }

        private final ArrayDeque<Names> open = new ArrayDeque<>();

        void start() {
            open.push(new Names(new HashSet<>(), new HashSet<>()));
        }

        void end() {
            open.pop();
        }

        /**
         * A name kept as the document has it; numbered only when a masked name took it earlier in the object
         * (names the document itself repeats stay).
         */
        String kept(String name) {
            Names names = open.peek();
            if (!names.made().contains(name)) {
                names.all().add(name);
                return name;
            }
            return masked(name);
        }

        String masked(String name) {
            Names names = open.peek();
            String unique = name;
            for (int n = 2; !names.all().add(unique); n++) {
                unique = name + "#" + n;
            }
            names.made().add(unique);
            return unique;
        }
    }
}
