package io.dbwarden.proxy.filter;

import io.dbwarden.proxy.sql.SqlText;
import io.dbwarden.proxy.sql.SqlToken;

import java.util.List;

/**
 * One SQL statement with what every filter needs of its text. Instances are cached by text and shared across
 * connections, so they are immutable.
 *
 * @param text        the statement as the client sent it (may contain sensitive literals: never log it)
 * @param tokens      lexical tokens of {@code text}
 * @param normalized  literal-free text, safe to log
 * @param fingerprint stable hash of {@code normalized}
 * @param source      {@code text} with the comments around it (sqlcommenter tags); sensitive like {@code text}
 */
public record StatementInfo(String text, List<SqlToken> tokens, String normalized, String fingerprint,
                            String source) {

    public static StatementInfo of(SqlText.Statement statement) {
        String normalized = SqlText.normalize(statement.text(), statement.tokens());
        return new StatementInfo(statement.text(), statement.tokens(), normalized, SqlText.fingerprint(normalized),
                statement.source());
    }
}
