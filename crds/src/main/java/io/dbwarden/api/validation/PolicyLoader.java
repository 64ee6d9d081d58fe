package io.dbwarden.api.validation;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.MappingIterator;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import io.dbwarden.api.v1alpha1.DatabaseAccessPolicy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Reads DatabaseAccessPolicy documents from YAML (one file may hold several, separated by ---), exactly as they
 * would be applied with kubectl, and validates them. Any problem fails the whole load with every error listed.
 */
public final class PolicyLoader {
    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory())
            .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
            .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION);

    private PolicyLoader() {
    }

    public static List<DatabaseAccessPolicy> load(Path file) throws PolicyException {
        String text;
        try {
            text = Files.readString(file);
        } catch (IOException e) {
            throw new PolicyException(file.toString(), List.of("cannot read file: " + e.getMessage()));
        }
        return parse(text, file.toString());
    }

    public static List<DatabaseAccessPolicy> parse(String yaml, String source) throws PolicyException {
        List<DatabaseAccessPolicy> policies = new ArrayList<>();
        List<String> errors = new ArrayList<>();
        try (MappingIterator<JsonNode> docs = YAML.readerFor(JsonNode.class).readValues(yaml)) {
            int index = 0;
            while (docs.hasNextValue()) {
                JsonNode doc = docs.nextValue();
                index++;
                if (doc == null || doc.isNull() || doc.isMissingNode() || (doc.isObject() && doc.isEmpty())) {
                    continue;
                }
                String where = "document " + index;
                String apiVersion = doc.path("apiVersion").asText(null);
                String kind = doc.path("kind").asText(null);
                if (!(DatabaseAccessPolicy.GROUP + "/" + DatabaseAccessPolicy.VERSION).equals(apiVersion)
                        || !DatabaseAccessPolicy.KIND.equals(kind)) {
                    errors.add(where + ": expected apiVersion " + DatabaseAccessPolicy.GROUP + "/"
                            + DatabaseAccessPolicy.VERSION + " and kind " + DatabaseAccessPolicy.KIND + ", got "
                            + apiVersion + " / " + kind);
                    continue;
                }
                DatabaseAccessPolicy policy;
                try {
                    policy = YAML.treeToValue(doc, DatabaseAccessPolicy.class);
                } catch (JsonMappingException e) {
                    errors.add(where + ": " + describe(e));
                    continue;
                }
                String name = policy.getMetadata() == null ? null : policy.getMetadata().getName();
                for (String err : PolicyValidator.validate(policy)) {
                    errors.add(where + " (" + name + "): " + err);
                }
                policies.add(policy);
            }
        } catch (IOException e) {
            throw new PolicyException(source, List.of("not valid YAML: " + e.getMessage()));
        }
        if (policies.isEmpty() && errors.isEmpty()) {
            errors.add("no DatabaseAccessPolicy documents found");
        }
        if (!errors.isEmpty()) {
            throw new PolicyException(source, errors);
        }
        return policies;
    }

    private static String describe(JsonMappingException e) {
        StringBuilder path = new StringBuilder();
        for (JsonMappingException.Reference r : e.getPath()) {
            if (r.getFieldName() != null) {
                if (!path.isEmpty()) {
                    path.append('.');
                }
                path.append(r.getFieldName());
            } else if (r.getIndex() >= 0) {
                path.append('[').append(r.getIndex()).append(']');
            }
        }
        Throwable cause = e.getCause() instanceof IllegalArgumentException iae ? iae : null;
        String msg = cause != null ? cause.getMessage() : e.getOriginalMessage();
        if (e instanceof com.fasterxml.jackson.databind.exc.UnrecognizedPropertyException u) {
            msg = "unknown field '" + u.getPropertyName() + "'; known fields: " + u.getKnownPropertyIds();
        }
        return (path.isEmpty() ? "" : path + ": ") + msg;
    }

    /** Every error of a failed load, with the source it came from. */
    public static final class PolicyException extends Exception {
        private final List<String> errors;

        public PolicyException(String source, List<String> errors) {
            super("invalid policy " + source + ":\n  - " + String.join("\n  - ", errors));
            this.errors = List.copyOf(errors);
        }

        public List<String> errors() {
            return errors;
        }
    }
}
