package io.dbwarden.proxy.sql;

import io.dbwarden.proxy.sql.StatementAnalysis.QualifiedName;
import net.sf.jsqlparser.parser.CCJSqlParser;
import net.sf.jsqlparser.parser.CCJSqlParserUtil;
import net.sf.jsqlparser.statement.Statement;
import net.sf.jsqlparser.statement.UnsupportedStatement;
import net.sf.jsqlparser.util.TablesNamesFinder;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * JSqlParser adapter: the complete table list of statements it can parse. Runs off the event loop; callers bound
 * its time with {@link #interrupt()} (JSqlParser polls its interrupted flag).
 */
public final class SqlParserTables {
    private volatile CCJSqlParser parser;

    /** Tables of the statement, or empty when JSqlParser cannot parse it completely. */
    public Optional<List<QualifiedName>> tables(String sql) {
        try {
            CCJSqlParser p = CCJSqlParserUtil.newParser(sql);
            parser = p;
            if (interrupted) {
                return Optional.empty();
            }
            Statement statement = p.Statement();
            if (statement == null || statement instanceof UnsupportedStatement || p.interrupted) {
                return Optional.empty();
            }
            Set<String> names = new TablesNamesFinder<Void>().getTables(statement);
            List<QualifiedName> result = new ArrayList<>(names.size());
            for (String n : names) {
                if (n.equalsIgnoreCase("table")) {
                    continue; // JSqlParser's reading of (TABLE name); a table named so is quoted, and the lexer
                              // gives the name (StatementAnalyzer adds the lexer's tables)
                }
                QualifiedName q = parseName(n);
                if (q == null) {
                    return Optional.empty();
                }
                result.add(q);
            }
            return Optional.of(List.copyOf(result));
        } catch (Exception | StackOverflowError e) {
            return Optional.empty();
        }
    }

    private volatile boolean interrupted;

    /** Asks a running (or not yet started) parse to stop; it then fails and the statement counts as unparsed. */
    public void interrupt() {
        interrupted = true;
        CCJSqlParser p = parser;
        if (p != null) {
            p.interrupted = true;
        }
    }

    public boolean wasInterrupted() {
        return interrupted;
    }

    /**
     * "a.b.c" with optional double quotes per part, each part named as the server names it: unquoted parts with their
     * ASCII letters folded to lower case ({@code ÉMAILS} is {@code Émails}), every part cut to 63 bytes. The table
     * list JSqlParser gives replaces the lexer's, so its names must be the ones the lexer (and the server) would give,
     * or a rule on the real table would not see it.
     */
    static QualifiedName parseName(String name) {
        List<String> parts = new ArrayList<>();
        StringBuilder cur = new StringBuilder();
        boolean quoted = false;
        boolean wasQuoted = false;
        for (int i = 0; i < name.length(); i++) {
            char c = name.charAt(i);
            if (c == '"') {
                if (quoted && i + 1 < name.length() && name.charAt(i + 1) == '"') {
                    cur.append('"');
                    i++;
                } else {
                    quoted = !quoted;
                    wasQuoted = true;
                }
            } else if (c == '.' && !quoted) {
                parts.add(part(cur, wasQuoted));
                cur.setLength(0);
                wasQuoted = false;
            } else {
                cur.append(c);
            }
        }
        if (quoted) {
            return null;
        }
        parts.add(part(cur, wasQuoted));
        if (parts.stream().anyMatch(String::isEmpty)) {
            return null;
        }
        int n = parts.size();
        return new QualifiedName(n >= 2 ? parts.get(n - 2) : null, parts.get(n - 1));
    }

    private static String part(StringBuilder text, boolean quoted) {
        String s = text.toString();
        return SqlLexer.identifier(quoted ? s : SqlLexer.asciiLowerCase(s));
    }
}
