package io.dbwarden.proxy.sql;

import io.dbwarden.api.v1alpha1.StatementKind;
import io.dbwarden.proxy.sql.StatementAnalysis.QualifiedName;

import java.util.ArrayList;
import java.util.EnumSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.function.Predicate;

/**
 * Token-level classification of one statement: never fails, never depends on literal values, and understands the
 * statements a SQL parser chokes on (BEGIN, SET x TO y, COPY FROM STDIN, LISTEN, DO, VACUUM, ...). Everything is
 * decided on the lexer's tokens, so comments, quoting, case and whitespace cannot disguise a keyword.
 */
public final class StatementClassifier {
    private static final Set<String> STATEMENT_STARTS = Set.of("select", "insert", "update", "delete", "merge",
            "values", "with", "table");
    private static final Set<String> NESTED_WRITES = Set.of("insert", "update", "delete", "merge");
    /** Functions that run SQL given as text (read access to anything, or remote execution): kind OTHER. */
    private static final Set<String> DYNAMIC_SQL_FUNCTIONS = Set.of("query_to_xml", "query_to_xmlschema",
            "query_to_xml_and_xmlschema", "table_to_xml", "table_to_xmlschema", "table_to_xml_and_xmlschema",
            "cursor_to_xml", "cursor_to_xmlschema", "schema_to_xml", "schema_to_xmlschema",
            "schema_to_xml_and_xmlschema", "database_to_xml", "database_to_xmlschema",
            "database_to_xml_and_xmlschema", "ts_stat", "ts_rewrite", "dblink", "dblink_exec", "dblink_open",
            "dblink_send_query", "dblink_fetch");
    /** Words that are followed by '(' without being a function call. */
    private static final Set<String> NOT_FUNCTIONS = Set.of("in", "exists", "values", "any", "some", "all", "as",
            "over", "filter", "within", "using", "array", "row", "key", "unique", "check", "with", "on", "into",
            "where", "and", "or", "not", "select", "from", "join", "returning", "set", "by", "when", "then", "else",
            "default", "lateral", "only", "group", "order", "having", "limit", "offset", "do", "conflict",
            "constraint", "exclude", "include", "partition", "materialized", "recursive", "tablesample", "rows",
            "range", "groups", "between", "like", "ilike", "similar", "is", "case", "table", "primary", "foreign",
            "references", "cube", "rollup", "sets", "grouping", "for", "union", "intersect", "except", "distinct");
    /** Words that follow FROM/INTO/UPDATE without being a table name. */
    private static final Set<String> NOT_TABLES = Set.of("of", "stdin", "stdout", "program", "nowait", "skip",
            "current", "unnest", "generate_series");
    /** A name followed by '(' after these words is an object being defined or targeted, not a call. */
    private static final Set<String> DEFINING_WORDS = Set.of("into", "table", "references", "index", "on", "function",
            "procedure", "aggregate", "type", "view", "routine", "trigger", "update", "only", "exists");

    private final List<SqlToken> t;
    private final Set<StatementKind> kinds = EnumSet.noneOf(StatementKind.class);
    private final Set<QualifiedName> tables = new LinkedHashSet<>();
    /** {@link #tables} without the names that only ever read a WITH query (see {@link Result#relations()}). */
    private final Set<QualifiedName> relations = new LinkedHashSet<>();
    private final Set<QualifiedName> functions = new LinkedHashSet<>();
    private boolean withoutWhere;
    private boolean copyProgram;
    private boolean copyServerFile;
    private boolean changesSearchPath;
    private boolean changesReadOnly;
    private String problem;
    /** Token range of the query a wrapping statement runs (DECLARE ... FOR q, PREPARE n AS q, COPY (q) TO). */
    private int innerStart = -1;
    private int innerEnd = -1;
    /** FETCH/MOVE: the name after FROM/IN is a cursor, not a table. */
    private boolean cursorRead;
    /** See {@link StatementAnalysis#roleChange()}. */
    private String roleChange;
    /** See {@link StatementAnalysis#protectedSetting()}. */
    private String protectedSetting;
    /** See {@link StatementAnalysis#changedSetting()}. */
    private String changedSetting;
    /** See {@link StatementAnalysis#rowsUncounted()}. */
    private boolean rowsUncounted;
    /** See {@link Result#tablesUnlisted()}. */
    private boolean tablesUnlisted;
    /** See {@link Result#bodyParts()}. */
    private final List<Result.Part> bodyParts = new ArrayList<>();

    private StatementClassifier(List<SqlToken> tokens) {
        this.t = tokens;
    }

    /**
     * Result of token classification; tables found here are a lower bound (see {@link SqlParserTables}).
     * {@code innerFrom}/{@code innerTo} are the character offsets of the query a wrapping statement runs (DECLARE
     * ... FOR q, PREPARE n AS q, COPY (q) TO), -1 when the statement is not such a wrapper.
     * {@code relations} are the names in {@code tables} that are tables, not WITH queries: each place a name is read
     * is resolved as the server resolves it - an unqualified name in FROM, JOIN, USING or TABLE is a WITH query of
     * an enclosing WITH when one of that name is visible there (a non-recursive WITH query sees only those before it,
     * the main statement all of them); anywhere else, and as the target of a write, it is a table.
     * {@code tablesUnlisted}: the statement acts on every table of a schema, role or tablespace (DROP SCHEMA, GRANT
     * ... ON ALL TABLES IN SCHEMA, DROP OWNED, ...), so no list of names is complete.
     */
    public record Result(Set<StatementKind> kinds, List<QualifiedName> tables, List<QualifiedName> functions,
                         boolean withoutWhere, boolean copyProgram, boolean copyServerFile,
                         boolean changesSearchPath, boolean changesReadOnly, String problem, int innerFrom,
                         int innerTo, String roleChange, boolean rowsUncounted, String protectedSetting,
                         String changedSetting, List<Part> bodyParts, List<QualifiedName> relations,
                         boolean tablesUnlisted) {
        public boolean classified() {
            return problem == null;
        }

        /**
         * A statement of a routine's SQL-standard body, or the expression of its RETURN, as character offsets in the
         * statement text: its tables are the routine's (a SQL parser reads an expression as {@code SELECT expr}).
         */
        public record Part(int from, int to, boolean expression) {
        }

        /** The text a SQL parser should read: the wrapped query of a wrapper, else the whole statement. */
        public String parsedText(String statementText) {
            return innerFrom < 0 ? statementText : statementText.substring(innerFrom, innerTo);
        }
    }

    public static Result classify(List<SqlToken> tokens) {
        StatementClassifier c = new StatementClassifier(tokens);
        c.run();
        boolean inner = c.innerStart >= 0 && c.innerStart < c.innerEnd;
        return new Result(Set.copyOf(c.kinds), List.copyOf(c.tables), List.copyOf(c.functions), c.withoutWhere,
                c.copyProgram, c.copyServerFile, c.changesSearchPath, c.changesReadOnly, c.problem,
                inner ? tokens.get(c.innerStart).start() : -1, inner ? tokens.get(c.innerEnd - 1).end() : -1,
                c.roleChange, c.rowsUncounted, c.protectedSetting, c.changedSetting, List.copyOf(c.bodyParts),
                List.copyOf(c.relations), c.tablesUnlisted);
    }

    private void run() {
        if (t.isEmpty()) {
            problem = "empty statement";
            return;
        }
        classifyAt(0, t.size());
        scanWholeStatement();
    }

    // ------------------------------------------------------------------ kinds

    /** Classifies the statement that starts at {@code i} (leading parentheses skipped) and ends before {@code end}. */
    private void classifyAt(int i, int end) {
        while (i < end && t.get(i).isSymbol("(")) {
            i++;
        }
        if (i >= end) {
            problem = "no statement keyword";
            return;
        }
        SqlToken first = t.get(i);
        if (first.kind() != SqlToken.Kind.WORD) {
            problem = "statement does not start with a keyword";
            return;
        }
        switch (first.text()) {
            case "select", "values", "table" -> {
                kinds.add(StatementKind.SELECT);
                if (first.text().equals("select") && hasWordAtDepth(i, end, "into")) {
                    kinds.add(StatementKind.CREATE); // SELECT ... INTO new_table
                }
            }
            case "with" -> classifyWith(i, end);
            case "insert" -> {
                kinds.add(StatementKind.INSERT);
                if (hasSequence(i, end, "do", "update")) {
                    kinds.add(StatementKind.UPDATE);
                }
            }
            case "update" -> kinds.add(StatementKind.UPDATE);
            case "delete" -> kinds.add(StatementKind.DELETE);
            case "merge" -> {
                kinds.add(StatementKind.MERGE);
                checkMergeScope(i, end);
            }
            case "create" -> classifyCreate(i, end);
            case "alter" -> kinds.add(StatementKind.ALTER);
            case "drop" -> kinds.add(StatementKind.DROP);
            case "truncate" -> kinds.add(StatementKind.TRUNCATE);
            case "grant" -> kinds.add(StatementKind.GRANT);
            case "revoke" -> kinds.add(StatementKind.REVOKE);
            case "copy" -> classifyCopy(i, end);
            case "call" -> kinds.add(StatementKind.CALL);
            case "do" -> kinds.add(StatementKind.DO);
            case "set", "reset" -> classifySet(i, end);
            case "discard", "deallocate", "close" -> kinds.add(StatementKind.SET);
            case "show" -> kinds.add(StatementKind.SHOW);
            case "begin", "start", "commit", "end", "rollback", "abort", "savepoint", "release" -> {
                kinds.add(StatementKind.TRANSACTION);
                if (hasSequence(i, end, "read", "write")) {
                    changesReadOnly = true;
                }
            }
            case "prepare" -> {
                if (i + 1 < end && t.get(i + 1).isWord("transaction")) {
                    kinds.add(StatementKind.TRANSACTION);
                } else {
                    classifyAfterWord(i, end, "as", "PREPARE without AS");
                }
            }
            case "execute" -> kinds.add(StatementKind.EXECUTE);
            case "explain" -> classifyExplain(i, end);
            case "declare" -> classifyAfterWord(i, end, "for", "DECLARE without FOR");
            case "fetch", "move" -> {
                kinds.add(StatementKind.SELECT);
                cursorRead = i == 0;
            }
            case "listen", "unlisten", "notify", "vacuum", "analyze", "analyse", "cluster", "reindex", "checkpoint",
                 "refresh", "lock", "load", "import", "comment", "security", "reassign" -> kinds.add(StatementKind.OTHER);
            default -> problem = "unknown statement keyword '" + first.text().toUpperCase() + "'";
        }
        checkUnlistedTables(i, end);
    }

    /**
     * Statements that act on every table of a schema, of a role or of a tablespace, which they do not name: DROP
     * SCHEMA (CASCADE drops its tables), ALTER SCHEMA (a rename moves them all), GRANT/REVOKE ... ON ALL TABLES IN
     * SCHEMA or ON SCHEMA, ALTER DEFAULT PRIVILEGES, CREATE PUBLICATION ... FOR ALL TABLES / TABLES IN SCHEMA, DROP
     * OWNED, REASSIGN OWNED, ALTER TABLE ALL IN TABLESPACE, IMPORT FOREIGN SCHEMA; and DROP, ALTER, TRUNCATE or
     * REVOKE with CASCADE, which also changes whatever depends on what they name (the views over a dropped table or
     * column, the tables whose foreign keys reference a truncated one, the columns of a dropped type). Their tables
     * cannot be listed.
     */
    private void checkUnlistedTables(int i, int end) {
        String first = t.get(i).text();
        if (!UNLISTING_STATEMENTS.contains(first)) {
            return;
        }
        String second = i + 1 < end && t.get(i + 1).kind() == SqlToken.Kind.WORD ? t.get(i + 1).text() : "";
        boolean grants = first.equals("grant") || first.equals("revoke");
        boolean cascades = first.equals("drop") || first.equals("alter") || first.equals("truncate")
                || first.equals("revoke");
        if ((first.equals("drop") && (second.equals("schema") || second.equals("owned")))
                || (first.equals("alter") && (second.equals("schema") || second.equals("default")))
                || first.equals("reassign") || (first.equals("import") && second.equals("foreign"))
                || hasSequence(i, end, "in", "schema") || hasSequence(i, end, "all", "tables")
                || (hasSequence(i, end, "all", "in") && hasSequence(i, end, "in", "tablespace"))
                || (grants && hasSequence(i, end, "on", "schema")) || (cascades && hasWord(i, end, "cascade"))) {
            tablesUnlisted = true;
        }
    }

    /** The statements {@link #checkUnlistedTables} looks at. */
    private static final Set<String> UNLISTING_STATEMENTS = Set.of("create", "alter", "drop", "truncate", "grant",
            "revoke", "reassign", "import");

    private void classifyWith(int i, int end) {
        List<int[]> parts = withParts(t, i, end);
        for (int[] part : parts) {
            if (part[0] >= 0) {
                classifyAt(part[0], part[1]);
            }
        }
        if (parts.isEmpty() || parts.getLast()[0] < 0) {
            problem = parts.isEmpty() ? "WITH without a parenthesized query" : "WITH without a main statement";
        }
    }

    /**
     * The parts of the statement in tokens [i, end) that begins with WITH: the token range of each WITH query's body
     * (inside its parentheses), then that of the main statement. Ends early when the parts cannot be told apart: with
     * no part when no body was found first, with {@code {-1, end}} for a main statement that was not found.
     */
    public static List<int[]> withParts(List<SqlToken> t, int i, int end) {
        List<int[]> parts = new java.util.ArrayList<>();
        int j = i + 1;
        if (j < end && t.get(j).isWord("recursive")) {
            j++;
        }
        // CTE definitions: name [(cols)] AS [NOT] [MATERIALIZED] ( body ) [SEARCH/CYCLE ...] , ... main
        while (j < end) {
            int bodyOpen = -1;
            for (int k = j; k < end; k++) {
                if (t.get(k).isSymbol("(") && k > 0 && (t.get(k - 1).isWord("as") || t.get(k - 1).isWord("materialized"))) {
                    bodyOpen = k;
                    break;
                }
                if (t.get(k).isSymbol("(")) {
                    k = matching(t, k, end);
                }
            }
            if (bodyOpen < 0) {
                return parts.isEmpty() ? parts : withMain(parts, -1, end);
            }
            int bodyClose = matching(t, bodyOpen, end);
            parts.add(new int[] {bodyOpen + 1, bodyClose});
            // after the body: ',' starts the next CTE; a statement keyword starts the main statement
            int k = afterWithQuery(t, bodyClose, end);
            if (k >= end) {
                return withMain(parts, -1, end);
            }
            if (t.get(k).isSymbol(",")) {
                j = k + 1;
                continue;
            }
            return withMain(parts, k, end);
        }
        return parts.isEmpty() ? parts : withMain(parts, -1, end);
    }

    /**
     * The token after the body of a WITH query that closes at {@code close}: past its SEARCH and CYCLE clauses (their
     * column lists have commas of their own: {@code SEARCH DEPTH FIRST BY a, b SET ord}), at the ',' before the next
     * WITH query or at the main statement; {@code end} when neither follows.
     */
    private static int afterWithQuery(List<SqlToken> t, int close, int end) {
        int k = close + 1;
        while (k < end && !t.get(k).isSymbol(",") && !isStatementStart(t.get(k))) {
            if (t.get(k).isWord("search") || t.get(k).isWord("cycle")) {
                while (k + 1 < end && !t.get(k + 1).isWord("set")) {
                    k++; // the column list, up to SET
                }
            } else if (t.get(k).isSymbol("(")) {
                k = matching(t, k, end);
            }
            k++;
        }
        return k;
    }

    private static List<int[]> withMain(List<int[]> parts, int main, int end) {
        parts.add(new int[] {main, end});
        return parts;
    }

    private static boolean isStatementStart(SqlToken tok) {
        return tok.kind() == SqlToken.Kind.WORD && STATEMENT_STARTS.contains(tok.text());
    }

    private void classifyCopy(int i, int end) {
        kinds.add(StatementKind.COPY);
        if (hasWordAtDepth(i, end, "program")) {
            copyProgram = true;
        }
        // the first FROM/TO after the table or (query) says where the data goes (a later one belongs to a WHERE
        // clause: COPY t FROM STDIN WHERE a IS DISTINCT FROM 'x'); FROM/TO 'file' is a file on the database server
        int direction = indexAtDepth(t, i + 1, end - 1, tok -> tok.isWord("from") || tok.isWord("to"));
        copyServerFile = direction >= 0 && t.get(direction + 1).kind() == SqlToken.Kind.STRING;
        if (i + 1 < end && t.get(i + 1).isSymbol("(")) {
            int close = matching(i + 1, end);
            if (i == 0) {
                innerStart = i + 2;
                innerEnd = close;
            }
            classifyAt(i + 2, close);
        } else if (i + 1 < end) {
            QualifiedName name = nameAt(i + 1, end);
            if (name != null) {
                addTable(name, -1);
            }
        }
    }

    private void classifySet(int i, int end) {
        kinds.add(StatementKind.SET);
        classifyRole(i, end);
        // RESET, RESET ALL, DISCARD ALL and SET name TO DEFAULT go back to the session's start values, which for the
        // pinned search_path and default_transaction_read_only are the proxy's (it sets them in the startup packet's
        // options, and PostgreSQL makes those the reset values; checked against a real server in
        // StandaloneProxyTest); SET CONSTRAINTS ALL and values spelled "all" (log_statement = all) change neither
        boolean back = t.get(i).isWord("reset") || (end - i >= 3 && t.get(end - 1).isWord("default")
                && (t.get(end - 2).isWord("to") || t.get(end - 2).isSymbol("=")));
        if (hasWord(i, end, "search_path") && !back) {
            changesSearchPath = true;
        }
        // transaction_read_only is not pinned at start-up: its reset value is read-write even in a read-only session
        // (RESET transaction_read_only at the start of a transaction makes it read-write), so it counts either way
        if (hasSequence(i, end, "read", "write") || hasWord(i, end, "transaction_read_only")
                || (hasWord(i, end, "default_transaction_read_only") && !back)) {
            changesReadOnly = true;
        }
        String name = settingName(i, end);
        if (name != null && !back && isProtectedSetting(name)) {
            protectedSetting = name;
        }
        if (name != null && !back && !t.get(i).isWord("reset")) {
            changedSetting = name;
        }
    }

    /** The parameter a SET [SESSION | LOCAL] name ... or RESET name statement changes, folded; null if none. */
    private String settingName(int i, int end) {
        int j = i + 1;
        if (j + 1 < end && (t.get(j).isWord("session") || t.get(j).isWord("local"))) {
            j++;
        }
        if (j >= end || !t.get(j).isName()) {
            return null;
        }
        StringBuilder name = new StringBuilder(SqlLexer.asciiLowerCase(t.get(j).text()));
        for (int k = j + 1; k + 1 < end && t.get(k).isSymbol("."); k += 2) {
            name.append('.').append(SqlLexer.asciiLowerCase(t.get(k + 1).text()));
        }
        return name.toString();
    }

    /**
     * Settings that switch off what the server enforces or records rather than tune the session: triggers and
     * foreign keys (session_replication_role), the server's own logs and audit extensions, checks of system catalogs
     * and pages, large-object permissions, activity tracking, and code loading. Most need a superuser; the proxy's
     * login role may be one.
     */
    static boolean isProtectedSetting(String name) {
        return PROTECTED_SETTINGS.contains(name) || name.startsWith("log_") || name.startsWith("debug_")
                || name.startsWith("trace_") || name.startsWith("pgaudit.");
    }

    private static final Set<String> PROTECTED_SETTINGS = Set.of("session_replication_role", "allow_system_table_mods",
            "ignore_system_indexes", "zero_damaged_pages", "ignore_checksum_failure", "lo_compat_privileges",
            "session_preload_libraries", "local_preload_libraries", "dynamic_library_path", "track_activities",
            "track_counts", "track_functions");

    /**
     * SET [SESSION | LOCAL] ROLE name, SET role TO name (the generic form), SET SESSION AUTHORIZATION user,
     * RESET ROLE, and their NONE / DEFAULT forms.
     */
    private void classifyRole(int i, int end) {
        boolean reset = t.get(i).isWord("reset");
        int j = i + 1;
        if (!reset && j + 1 < end && (t.get(j).isWord("session") || t.get(j).isWord("local"))
                && !t.get(j + 1).isWord("authorization")) {
            j++;
        }
        if (j >= end) {
            return;
        }
        boolean role = t.get(j).isWord("role");
        boolean sessionAuthorization = t.get(j).isWord("session_authorization")
                || (t.get(j).isWord("session") && j + 1 < end && t.get(j + 1).isWord("authorization"));
        if (!role && !sessionAuthorization) {
            return;
        }
        if (reset) {
            roleChange = "";
            return;
        }
        int v = j + (t.get(j).isWord("session") ? 2 : 1);
        if (v < end && (t.get(v).isWord("to") || t.get(v).isSymbol("="))) {
            v++;
        }
        boolean single = v + 1 == end;
        SqlToken value = v < end ? t.get(v) : null;
        if (single && (value.isWord("default") || (role && value.isWord("none")))) {
            roleChange = "";
        } else if (role && single && value.isName()) {
            roleChange = value.text();
        } else {
            roleChange = StatementAnalysis.ANY_ROLE; // a literal, an expression, or the session user itself
        }
    }

    /** The token where the statement an EXPLAIN explains starts; -1 when none. */
    private int explained = -1;

    private void classifyExplain(int i, int end) {
        int j = i + 1;
        if (j < end && t.get(j).isSymbol("(")) {
            j = matching(j, end) + 1;
        }
        while (j < end && t.get(j).kind() == SqlToken.Kind.WORD && !isStatementStart(t.get(j))
                && !List.of("create", "execute", "declare").contains(t.get(j).text())) {
            j++; // ANALYZE, VERBOSE, ... : the inner statement's kinds are what it may do
        }
        if (j >= end) {
            problem = "EXPLAIN without a statement";
            return;
        }
        explained = j;
        if (hasWord(i + 1, j, "analyze") || hasWord(i + 1, j, "analyse")) {
            rowsUncounted = true; // EXPLAIN ANALYZE runs the statement; its tag says EXPLAIN, not the rows changed
        }
        classifyAt(j, end);
    }

    /**
     * CREATE, plus the work of a query or rule actions it holds: {@code CREATE TABLE ... AS} and {@code CREATE
     * MATERIALIZED VIEW ... AS} read their query's tables at once, {@code CREATE VIEW ... AS} shows them to every
     * later reader, and {@code CREATE RULE ... DO ...} runs its actions on later statements; each has the kinds of
     * what it holds (as {@code SELECT ... INTO} and PREPARE bodies do), so a rule denying SELECT on a table also
     * covers copying or exposing it under another name.
     */
    private void classifyCreate(int i, int end) {
        kinds.add(StatementKind.CREATE);
        int j = i + 1;
        if (j + 1 < end && t.get(j).isWord("or") && t.get(j + 1).isWord("replace")) {
            j += 2;
        }
        while (j < end && t.get(j).kind() == SqlToken.Kind.WORD && CREATE_MODIFIERS.contains(t.get(j).text())) {
            j++;
        }
        if (j >= end) {
            return;
        }
        if (t.get(j).isWord("function") || t.get(j).isWord("procedure")) {
            classifyRoutineBody(j + 1, end);
            return;
        }
        if (t.get(j).isWord("rule")) {
            int doAt = indexAtDepth(t, j + 1, end - 1, tok -> tok.isWord("do"));
            if (doAt < 0) {
                return;
            }
            int k = doAt + 1;
            if (k < end && (t.get(k).isWord("also") || t.get(k).isWord("instead"))) {
                k++;
            }
            if (k < end && t.get(k).isSymbol("(")) {
                int close = matching(k, end);
                int from = k + 1;
                for (int m = k + 1; m <= close; m++) {
                    if (m == close || t.get(m).kind() == SqlToken.Kind.SEMICOLON) {
                        if (m > from) {
                            classifyAt(from, m);
                        }
                        from = m + 1;
                    }
                }
            } else if (k < end && !t.get(k).isWord("nothing")) {
                classifyAt(k, end);
            }
            return;
        }
        if (!t.get(j).isWord("table") && !t.get(j).isWord("view")) {
            return;
        }
        int as = indexAtDepth(t, j + 1, end - 1, tok -> tok.isWord("as"));
        if (as >= 0 && as + 1 < end && t.get(as + 1).kind() == SqlToken.Kind.WORD
                && QUERY_STARTS.contains(t.get(as + 1).text())) {
            classifyAt(as + 1, end);
        }
    }

    /**
     * The SQL-standard body of a function or procedure runs on every call, as a rule's actions run on later
     * statements: each statement of {@code BEGIN ATOMIC ... END} is classified, and {@code RETURN expr} reads what
     * its expression reads, as {@code SELECT expr} would. A body given as a string ({@code AS '...'}) is another
     * language's text and stays opaque.
     */
    private void classifyRoutineBody(int from, int end) {
        Predicate<SqlToken> bodyStart = tok -> tok.isWord("return") || tok.isWord("begin");
        for (int k = indexAtDepth(t, from, end, bodyStart); k >= 0; k = indexAtDepth(t, k + 1, end, bodyStart)) {
            if (t.get(k).isWord("return")) {
                returnExpression(k, end);
                return;
            }
            if (k + 1 < end && t.get(k + 1).isWord("atomic")) {
                classifyBodyStatements(k + 2, end);
                return;
            }
        }
    }

    /** The statements of a BEGIN ATOMIC body, up to the END that follows its last semicolon (see RoutineBody). */
    private void classifyBodyStatements(int from, int end) {
        int start = from;
        int depth = 0;
        for (int m = from; m <= end; m++) {
            if (m < end && m == start && t.get(m).isWord("end")) {
                return;
            }
            SqlToken tok = m < end ? t.get(m) : null;
            if (tok != null && tok.isSymbol("(")) {
                depth++;
            } else if (tok != null && tok.isSymbol(")")) {
                depth--;
            } else if (tok == null || (tok.kind() == SqlToken.Kind.SEMICOLON && depth <= 0)) {
                if (m > start && t.get(start).isWord("return")) {
                    returnExpression(start, m);
                } else if (m > start) {
                    classifyAt(start, m);
                    bodyParts.add(new Result.Part(t.get(start).start(), t.get(m - 1).end(), false));
                }
                start = m + 1;
                depth = 0;
            }
        }
    }

    /** {@code RETURN expr} (the token RETURN at {@code at}): reads what {@code SELECT expr} reads. */
    private void returnExpression(int at, int end) {
        kinds.add(StatementKind.SELECT);
        if (at + 1 < end) {
            bodyParts.add(new Result.Part(t.get(at + 1).start(), t.get(end - 1).end(), true));
        } else {
            problem = "RETURN without an expression";
        }
    }

    /** Words between CREATE [OR REPLACE] and TABLE / VIEW / RULE. */
    private static final Set<String> CREATE_MODIFIERS = Set.of("temp", "temporary", "unlogged", "global", "local",
            "recursive", "materialized");

    /** What may follow AS in CREATE TABLE / VIEW ... AS: a query, or EXECUTE of a prepared one. */
    private static final Set<String> QUERY_STARTS = Set.of("select", "with", "values", "table", "execute");

    private void classifyAfterWord(int i, int end, String word, String missing) {
        for (int k = i + 1; k < end; k++) {
            if (t.get(k).isSymbol("(")) {
                k = matching(k, end);
            } else if (t.get(k).isWord(word)) {
                if (i == 0) {
                    innerStart = k + 1;
                    innerEnd = end;
                }
                classifyAt(k + 1, end);
                return;
            }
        }
        problem = missing;
    }

    // ------------------------------------------------------------------ whole-statement scans

    private void scanWholeStatement() {
        for (int i = 0; i < t.size(); i++) {
            SqlToken tok = t.get(i);
            if (tok.isSymbol("(") && i + 1 < t.size() && t.get(i + 1).kind() == SqlToken.Kind.WORD
                    && NESTED_WRITES.contains(t.get(i + 1).text())) {
                rowsUncounted = true; // a write in WITH: the statement's command tag does not count its rows
                // data-modifying statements can only stand in WITH bodies; anywhere after '(' counts
                kinds.add(switch (t.get(i + 1).text()) {
                    case "insert" -> StatementKind.INSERT;
                    case "update" -> StatementKind.UPDATE;
                    case "delete" -> StatementKind.DELETE;
                    default -> StatementKind.MERGE;
                });
            }
            if (tok.isName()
                    && i + 1 < t.size() && t.get(i + 1).isSymbol("(") && !namesNotCalls(i)) {
                recordFunctionCall(i);
            }
            if (tok.kind() == SqlToken.Kind.WORD && (tok.text().equals("delete") || tok.text().equals("update"))
                    && isStatementStartPosition(i)) {
                checkWhere(i);
            }
            if (tok.isWord("table") && i + 1 < t.size() && tableCommand(i)) {
                int n = t.get(i + 1).isWord("only") ? i + 2 : i + 1;
                QualifiedName read = nameAt(n, t.size());
                if (read != null) {
                    addTable(read, n); // TABLE [ONLY] name: SELECT * FROM [ONLY] name
                }
            }
            if (tok.isWord("using") && i + 1 < t.size() && mergeSource(i)) {
                QualifiedName source = nameAt(i + 1, t.size());
                int after = nameEnd(i + 1, t.size());
                if (source != null && !(after < t.size() && t.get(after).isSymbol("("))) {
                    addTable(source, i + 1);
                }
            }
            if (tok.kind() == SqlToken.Kind.WORD && List.of("from", "join", "into", "update", "truncate", "lock")
                    .contains(tok.text()) && i + 1 < t.size() && !cursorRead && !operandFrom(i)
                    && !(tok.text().equals("from") && t.get(0).isWord("revoke"))) { // REVOKE ... FROM role
                int n = i + 1;
                if (tok.text().equals("from") || tok.text().equals("join")) {
                    n = joinTreeStart(n); // FROM (a JOIN b ON ...): the first table of a parenthesized join
                }
                if (n < t.size() && (t.get(n).isWord("only") || t.get(n).isWord("table"))) {
                    n++;
                }
                QualifiedName name = nameAt(n, t.size());
                int after = nameEnd(n, t.size());
                // a name followed by '(' is a function (FROM f(x)), but after INTO its column list
                if (name != null && (tok.text().equals("into") || !(after < t.size() && t.get(after).isSymbol("(")))) {
                    // what INTO, UPDATE, TRUNCATE, LOCK and DELETE FROM name is always a table, never a WITH query
                    boolean read = tok.text().equals("join")
                            || (tok.text().equals("from") && !(i > 0 && t.get(i - 1).isWord("delete")));
                    addTable(name, read ? n : -1);
                }
                if (tok.text().equals("from") && !(t.get(0).isWord("copy") && i > 0 && !t.get(i - 1).isSymbol(")")
                        && enclosingParenthesis(i) < 0)) {
                    fromListTables(i + 1);
                }
            }
        }
    }

    /** Calls whose arguments are written with FROM: {@code extract(year FROM d)}, {@code substring(s FROM 2)}. */
    private static final Set<String> FROM_ARGUMENT_CALLS = Set.of("extract", "substring", "trim", "overlay",
            "normalize");

    /**
     * FROM that is no FROM clause: {@code a IS DISTINCT FROM b}, and the FROM inside the arguments of
     * {@link #FROM_ARGUMENT_CALLS} (not in a subquery among them, which opens its own parenthesis).
     */
    private boolean operandFrom(int i) {
        if (!t.get(i).isWord("from")) {
            return false;
        }
        if (i > 0 && t.get(i - 1).isWord("distinct")) {
            return true;
        }
        int open = enclosingParenthesis(i);
        if (open <= 0) {
            return false;
        }
        SqlToken call = t.get(open - 1);
        return call.kind() == SqlToken.Kind.WORD && FROM_ARGUMENT_CALLS.contains(call.text());
    }

    /** Per token, the index of the innermost parenthesis open around it (-1: none); filled on first use. */
    private int[] enclosing;

    private int enclosingParenthesis(int i) {
        if (enclosing == null) {
            enclosing = new int[t.size()];
            int[] stack = new int[t.size() + 1];
            int top = 0;
            for (int k = 0; k < t.size(); k++) {
                enclosing[k] = top == 0 ? -1 : stack[top - 1];
                if (t.get(k).isSymbol("(")) {
                    stack[top++] = k;
                } else if (t.get(k).isSymbol(")") && top > 0) {
                    top--;
                }
            }
        }
        return enclosing[i];
    }

    /**
     * TABLE that is the query {@code TABLE name} (all rows of a table): a statement of its own, a subquery, a part of
     * UNION / INTERSECT / EXCEPT, the query of {@code CREATE TABLE ... AS} and views, and of {@code INSERT INTO target
     * TABLE source}; not CREATE/ALTER/DROP/TRUNCATE/LOCK TABLE, nor ON TABLE of GRANT and COMMENT.
     */
    private boolean tableCommand(int i) {
        if (i == 0 || i == explained) {
            return true;
        }
        SqlToken p = t.get(i - 1);
        if (p.isSymbol("(") || p.isWord("union") || p.isWord("intersect") || p.isWord("except") || p.isWord("all")
                || p.isWord("distinct") || p.isWord("as")) {
            return true;
        }
        return (p.isSymbol(")") || p.isWord("value") || (p.kind() == SqlToken.Kind.WORD && !TABLE_PREFIXES.contains(
                p.text())) || p.kind() == SqlToken.Kind.QUOTED_IDENT) && hasWordAtDepth(t, 0, i, "insert");
    }

    /** Words before TABLE in statements that define, change or name a table rather than read it. */
    private static final Set<String> TABLE_PREFIXES = Set.of("create", "alter", "drop", "truncate", "lock", "on",
            "temp", "temporary", "unlogged", "foreign", "global", "local", "only", "from", "into");

    /**
     * Past the parentheses that open a join tree ({@code FROM ((a JOIN b ON ...) JOIN c ON ...)}) to its first item;
     * {@code i} itself when none opens there. A subquery's parenthesis is followed by SELECT, VALUES, WITH or TABLE,
     * which are no names.
     */
    private int joinTreeStart(int i) {
        int n = i;
        while (n < t.size() && t.get(n).isSymbol("(")) {
            n++;
        }
        return n;
    }

    /** USING of {@code MERGE INTO target [AS alias] USING source}: the table the merge reads. */
    private boolean mergeSource(int i) {
        for (int j = i - 2; j >= 1 && j >= i - 7; j--) {
            if (t.get(j).isWord("into") && t.get(j - 1).isWord("merge")) {
                return true;
            }
        }
        return false;
    }

    /** Words that end a FROM list (at its own depth). */
    private static final Set<String> FROM_LIST_END = Set.of("where", "group", "having", "order", "limit", "offset",
            "fetch", "for", "window", "union", "intersect", "except", "returning", "from", "into", "on", "do");

    /**
     * The tables after the commas of the FROM list that starts at {@code i} ({@code FROM orders o, customers c}), and
     * of DELETE's USING:
     * the names that follow FROM and JOIN are taken as the statement's words come, those after a comma here. A name
     * followed by '(' is a function; a parenthesis opens a subquery, whose own FROM is read where it stands.
     */
    private void fromListTables(int i) {
        int depth = 0;
        for (int k = i; k < t.size(); k++) {
            SqlToken tok = t.get(k);
            if (tok.isSymbol("(")) {
                depth++;
            } else if (tok.isSymbol(")")) {
                if (--depth < 0) {
                    return; // the end of the subquery or call this FROM stands in
                }
            } else if (depth == 0 && (tok.kind() == SqlToken.Kind.SEMICOLON
                    || (tok.kind() == SqlToken.Kind.WORD && FROM_LIST_END.contains(tok.text()) && !onOfJoin(k)))) {
                return;
            } else if (depth == 0 && (tok.isSymbol(",") || tok.isWord("using"))) {
                // DELETE FROM t USING other: a table; JOIN ... USING (columns) is not followed by a name
                int n = tok.isSymbol(",") || !usingColumns(k) ? joinTreeStart(k + 1) : k + 1;
                if (n < t.size() && t.get(n).isWord("only")) {
                    n++;
                }
                QualifiedName name = nameAt(n, t.size());
                int after = nameEnd(n, t.size());
                if (name != null && !(after < t.size() && t.get(after).isSymbol("("))) {
                    addTable(name, n);
                }
            }
        }
    }

    /**
     * Records a name the statement uses as a relation; {@code read} is its token when it is read in a place where
     * a WITH query of that name would be read instead (FROM, JOIN, USING, TABLE), -1 for the target of a write.
     */
    private void addTable(QualifiedName name, int read) {
        tables.add(name);
        if (read < 0 || name.schema() != null || !readsWithQuery(name.name(), read)) {
            relations.add(name);
        }
    }

    /** A WITH clause that defines queries: its token range, the queries' names and bodies, its main statement. */
    private record WithScope(int from, int to, boolean recursive, List<String> names, List<int[]> bodies, int main) {
        /** How many of the names (in order) the token at {@code at} in the scope can read. */
        int visibleAt(int at) {
            if (main >= 0 && at >= main) {
                return names.size();
            }
            for (int k = 0; k < bodies.size(); k++) {
                if (at >= bodies.get(k)[0] && at < bodies.get(k)[1]) {
                    return recursive ? names.size() : k;
                }
            }
            return 0;
        }
    }

    /** The statement's WITH clauses that define queries; found on first use. */
    private List<WithScope> withScopes;

    /** Whether the unqualified {@code name} read at token {@code at} is a WITH query visible there. */
    private boolean readsWithQuery(String name, int at) {
        if (withScopes == null) {
            withScopes = new ArrayList<>();
            for (int w = 0; w < t.size(); w++) {
                if (t.get(w).isWord("with")) {
                    WithScope scope = withScope(w);
                    if (scope != null) {
                        withScopes.add(scope);
                    }
                }
            }
        }
        for (WithScope scope : withScopes) {
            if (at > scope.from() && at < scope.to()) {
                int visible = scope.visibleAt(at);
                for (int k = 0; k < visible; k++) {
                    if (scope.names().get(k).equals(name)) {
                        return true;
                    }
                }
            }
        }
        return false;
    }

    /**
     * The WITH clause at {@code w}: {@code WITH [RECURSIVE] name [(columns)] AS [NOT] [MATERIALIZED] (body)
     * [SEARCH ... | CYCLE ...], ... main}, reaching to the end of the parenthesis it stands in (or the statement).
     * Null when {@code w} is another WITH (WITH ORDINALITY, WITH (options), WITH CHECK OPTION, ...).
     */
    private WithScope withScope(int w) {
        int open = enclosingParenthesis(w);
        int to = open < 0 ? t.size() : matching(open, t.size());
        int j = w + 1;
        boolean recursive = j + 1 < to && t.get(j).isWord("recursive") && !t.get(j + 1).isWord("as");
        if (recursive) {
            j++;
        }
        List<String> names = new ArrayList<>();
        List<int[]> bodies = new ArrayList<>();
        int main = -1;
        while (j < to) {
            SqlToken name = t.get(j);
            if (!name.isName()) {
                break;
            }
            int k = j + 1;
            if (k < to && t.get(k).isSymbol("(")) {
                k = matching(k, to) + 1; // the column names
            }
            if (!(k < to && t.get(k).isWord("as"))) {
                break;
            }
            k++;
            if (k < to && t.get(k).isWord("not")) {
                k++;
            }
            if (k < to && t.get(k).isWord("materialized")) {
                k++;
            }
            if (!(k < to && t.get(k).isSymbol("("))) {
                break;
            }
            int close = matching(k, to);
            names.add(name.text());
            bodies.add(new int[] {k + 1, close});
            // after the body: SEARCH/CYCLE clauses, then ',' and the next query or the main statement
            k = afterWithQuery(t, close, to);
            if (k < to && t.get(k).isSymbol(",")) {
                j = k + 1;
                continue;
            }
            main = k < to ? k : -1;
            break;
        }
        return names.isEmpty() ? null : new WithScope(w, to, recursive, List.copyOf(names), List.copyOf(bodies),
                main);
    }

    /**
     * USING at {@code k} followed by a column list ({@code JOIN b USING (id, region)}: names each followed by ',' or
     * ')'), not DELETE's {@code USING (a JOIN b ON ...)}.
     */
    private boolean usingColumns(int k) {
        int n = k + 1;
        if (n >= t.size() || !t.get(n).isSymbol("(")) {
            return false;
        }
        return n + 2 < t.size() && t.get(n + 1).isName()
                && (t.get(n + 2).isSymbol(",") || t.get(n + 2).isSymbol(")"));
    }

    /** ON of a JOIN's condition, after which the FROM list may go on ({@code JOIN b ON a.id = b.id, c}). */
    private boolean onOfJoin(int k) {
        if (!t.get(k).isWord("on")) {
            return false;
        }
        int depth = 0;
        for (int j = k - 1; j >= 0; j--) {
            SqlToken tok = t.get(j);
            if (tok.isSymbol(")")) {
                depth++;
            } else if (tok.isSymbol("(")) {
                if (--depth < 0) {
                    return false;
                }
            } else if (depth > 0) {
                continue; // a subquery joined (JOIN (SELECT ...) b ON ...)
            } else if (tok.isWord("join")) {
                return true;
            } else if (tok.kind() == SqlToken.Kind.WORD && (FROM_LIST_END.contains(tok.text())
                    || tok.isWord("select"))) {
                return false; // ON CONFLICT, and ON of other statements
            }
        }
        return false;
    }

    /**
     * A word before '(' that is not a function call: COPY (query), and the statement name of PREPARE name(types)
     * and EXECUTE name(arguments).
     */
    private boolean namesNotCalls(int i) {
        return (i == 0 && t.get(0).isWord("copy"))
                || (i == 1 && (t.get(0).isWord("prepare") || t.get(0).isWord("execute")))
                || operatorSyntaxEnd(t, i) > 0;
    }

    /**
     * {@code OPERATOR(op)} or {@code OPERATOR(schema.op)} at {@code i} (as psql's \d queries write operators): the
     * index of its closing parenthesis, else -1. Only that exact shape counts, so nothing that could name a table
     * hides in it.
     */
    public static int operatorSyntaxEnd(List<SqlToken> t, int i) {
        if (!t.get(i).isWord("operator") || i + 2 >= t.size() || !t.get(i + 1).isSymbol("(")) {
            return -1;
        }
        int k = i + 2;
        if (k + 2 < t.size() && t.get(k).isName()
                && t.get(k + 1).isSymbol(".")) {
            k += 2;
        }
        if (k + 1 < t.size() && t.get(k).kind() == SqlToken.Kind.SYMBOL && !t.get(k).isSymbol("(")
                && !t.get(k).isSymbol(")") && t.get(k + 1).isSymbol(")")) {
            return k + 1;
        }
        return -1;
    }

    private boolean isStatementStartPosition(int i) {
        if (i == 0) {
            return true;
        }
        SqlToken prev = t.get(i - 1);
        return prev.isSymbol("(") || prev.isWord("as") || prev.isWord("analyze") || prev.isWord("verbose")
                || prev.isWord("explain") || prev.isSymbol(")") || prev.isWord("materialized");
    }

    private void recordFunctionCall(int i) {
        SqlToken tok = t.get(i);
        // after "schema." any word names a function, keywords included (PostgreSQL accepts pg_catalog.left(...), and
        // a function may be named "select": public.select(...) calls it)
        boolean qualified = i >= 2 && t.get(i - 1).isSymbol(".");
        if (tok.kind() == SqlToken.Kind.WORD && !qualified && NOT_FUNCTIONS.contains(tok.text())) {
            return;
        }
        int start = i;
        while (start >= 2 && t.get(start - 1).isSymbol(".") && t.get(start - 2).isName()) {
            start -= 2;
        }
        if (start > 0 && t.get(start - 1).kind() == SqlToken.Kind.WORD
                && DEFINING_WORDS.contains(t.get(start - 1).text())) {
            return;
        }
        String schema = start < i ? t.get(i - 2).text() : null;
        QualifiedName fn = new QualifiedName(schema, tok.text());
        functions.add(fn);
        if (DYNAMIC_SQL_FUNCTIONS.contains(fn.name())) {
            kinds.add(StatementKind.OTHER);
        }
        if (fn.name().equals("set_config")) {
            kinds.add(StatementKind.SET);
            // the name counts only when the literal is the whole first argument ('search' || '_path' is not "search")
            SqlToken first = i + 3 < t.size() && t.get(i + 1).isSymbol("(") && t.get(i + 3).isSymbol(",")
                    ? t.get(i + 2) : null;
            String setting = first != null && first.kind() == SqlToken.Kind.STRING && !first.text().equals("?")
                    ? first.text() : null;
            changedSetting = setting != null ? setting : StatementAnalysis.ANY_SETTING;
            if (setting == null) { // a name the proxy cannot read: it may be any setting
                changesSearchPath = true;
                changesReadOnly = true;
                roleChange = StatementAnalysis.ANY_ROLE;
            } else {
                changesSearchPath |= setting.equals("search_path");
                changesReadOnly |= setting.equals("transaction_read_only")
                        || setting.equals("default_transaction_read_only");
                if (setting.equals("role") || setting.equals("session_authorization")) {
                    roleChange = StatementAnalysis.ANY_ROLE; // the value is a literal the proxy does not keep
                }
                if (isProtectedSetting(setting)) {
                    protectedSetting = setting;
                }
            }
        }
    }

    /**
     * A MERGE starting at {@code i}, ending before {@code end}: it changes every row of its target, as an UPDATE or
     * DELETE without WHERE does, when a clause without a condition of its own updates or deletes the rows its join
     * condition leaves to it whatever the data: WHEN MATCHED under a tautology ({@code ON true}, {@code ON 1 = 1},
     * as for WHERE: every target row matches), WHEN NOT MATCHED BY SOURCE under {@code ON false} or {@code ON null}
     * (no target row matches).
     */
    private void checkMergeScope(int i, int end) {
        int on = -1;
        int firstWhen = -1;
        int depth = 0;
        for (int k = i + 1; k < end; k++) {
            SqlToken tok = t.get(k);
            if (tok.isSymbol("(")) {
                depth++;
            } else if (tok.isSymbol(")")) {
                depth--;
            } else if (depth == 0 && on < 0 && tok.isWord("on")) {
                on = k;
            } else if (depth == 0 && on >= 0 && tok.isWord("when")) {
                firstWhen = k;
                break;
            }
        }
        if (on < 0 || firstWhen < 0) {
            return;
        }
        boolean allMatch = alwaysTrue(on + 1, firstWhen);
        boolean noneMatch = firstWhen == on + 2 && (t.get(on + 1).isWord("false") || t.get(on + 1).isWord("null"));
        if (!allMatch && !noneMatch) {
            return;
        }
        depth = 0;
        for (int k = firstWhen; k + 3 < end; k++) {
            SqlToken tok = t.get(k);
            if (tok.isSymbol("(")) {
                depth++;
            } else if (tok.isSymbol(")")) {
                depth--;
            } else if (depth == 0 && tok.isWord("when")) {
                int then;
                if (allMatch && t.get(k + 1).isWord("matched")) {
                    then = k + 2;
                } else if (noneMatch && k + 5 < end && t.get(k + 1).isWord("not") && t.get(k + 2).isWord("matched")
                        && t.get(k + 3).isWord("by") && t.get(k + 4).isWord("source")) {
                    then = k + 5;
                } else {
                    continue; // WHEN NOT MATCHED [BY TARGET] inserts; a CASE's WHEN is an expression
                }
                if (then + 1 < end && t.get(then).isWord("then")
                        && (t.get(then + 1).isWord("update") || t.get(then + 1).isWord("delete"))) {
                    withoutWhere = true;
                    return;
                }
            }
        }
    }

    /** An UPDATE/DELETE starting at {@code i}: is there a WHERE at its own depth, and is it more than a tautology? */
    private void checkWhere(int i) {
        int depth = 0;
        for (int k = i + 1; k < t.size(); k++) {
            SqlToken tok = t.get(k);
            if (tok.isSymbol("(")) {
                depth++;
            } else if (tok.isSymbol(")")) {
                if (--depth < 0) {
                    break;
                }
            } else if (depth == 0 && tok.isWord("where")) {
                if (isTautology(k + 1)) {
                    withoutWhere = true;
                }
                return;
            }
        }
        withoutWhere = true;
    }

    /**
     * Whether the WHERE condition starting at {@code k} selects every row whatever the data: {@code true}, a constant
     * ({@code 't'}, {@code $1}), {@code NOT false}, a comparison of constants ({@code 1 = 1}, {@code '1'::int <> 2};
     * any constants and any comparison: the decision is cached by literal-free text, so it must not depend on the
     * values), a column compared with itself ({@code id = id}), an OR with such a branch, an AND of only such
     * conditions, each possibly in parentheses. Not data-dependent conditions such as {@code id IS NOT NULL}.
     */
    private boolean isTautology(int k) {
        int depth = 0;
        int end = k;
        for (; end < t.size(); end++) {
            SqlToken tok = t.get(end);
            if (tok.isSymbol("(")) {
                depth++;
            } else if (tok.isSymbol(")")) {
                if (--depth < 0) {
                    break; // closes the CTE or subquery the UPDATE/DELETE is in
                }
            } else if (depth == 0 && (tok.isWord("returning") || tok.kind() == SqlToken.Kind.SEMICOLON)) {
                break;
            }
        }
        return alwaysTrue(k, end);
    }

    private boolean alwaysTrue(int from, int end) {
        if (from >= end) {
            return false;
        }
        List<int[]> disjuncts = splitAtDepth(t, from, end, tok -> tok.isWord("or"));
        if (disjuncts.size() > 1) {
            for (int[] d : disjuncts) {
                if (alwaysTrue(d[0], d[1])) {
                    return true;
                }
            }
            return false;
        }
        List<int[]> conjuncts = splitAtDepth(t, from, end, tok -> tok.isWord("and"));
        if (conjuncts.size() > 1) {
            for (int[] c : conjuncts) {
                if (!alwaysTrue(c[0], c[1])) {
                    return false;
                }
            }
            return true;
        }
        if (t.get(from).isSymbol("(") && matching(from, end) == end - 1) {
            return alwaysTrue(from + 1, end - 1);
        }
        if (end - from == 1 && (t.get(from).isWord("false") || t.get(from).isWord("null"))) {
            return false;
        }
        if (end - from == 2 && t.get(from).isWord("not") && t.get(from + 1).isWord("false")) {
            return true;
        }
        if (isConstant(from, end)) {
            return true;
        }
        int op = indexAtDepth(t, from, end, StatementClassifier::isComparison);
        if (op <= from || op >= end - 1 || indexAtDepth(t, op + 1, end, StatementClassifier::isComparison) >= 0) {
            return false; // no comparison, nothing on one side, or several comparisons
        }
        if (isConstant(from, op) && isConstant(op + 1, end)) {
            return true;
        }
        return SELF_COMPARISONS.contains(t.get(op).text()) && isColumnReference(from, op)
                && sameTokens(from, op, op + 1, end);
    }

    private static final Set<String> COMPARISONS = Set.of("=", "<>", "!=", "<", ">", "<=", ">=");

    private static boolean isComparison(SqlToken tok) {
        return tok.kind() == SqlToken.Kind.SYMBOL && COMPARISONS.contains(tok.text());
    }
    private static final Set<String> SELF_COMPARISONS = Set.of("=", "<=", ">=");

    /** Literals, parameters, {@code true}/{@code false}/{@code null}, signs, parentheses and casts to type names. */
    private boolean isConstant(int from, int end) {
        boolean value = false;
        boolean typeName = false;
        for (int i = from; i < end; i++) {
            SqlToken tok = t.get(i);
            switch (tok.kind()) {
                case STRING, NUMBER, PARAM -> {
                    value = true;
                    typeName = false;
                }
                case WORD, QUOTED_IDENT -> {
                    boolean keyword = tok.kind() == SqlToken.Kind.WORD && (tok.text().equals("true")
                            || tok.text().equals("false") || tok.text().equals("null"));
                    boolean afterCast = i > from && (t.get(i - 1).isSymbol("::") || typeName);
                    if (!keyword && !afterCast) {
                        return false;
                    }
                    value |= keyword;
                    typeName = afterCast;
                }
                case SYMBOL -> {
                    if (!(tok.isSymbol("(") || tok.isSymbol(")") || tok.isSymbol("-") || tok.isSymbol("+")
                            || tok.isSymbol("::"))) {
                        return false;
                    }
                    typeName = false;
                }
                default -> {
                    return false;
                }
            }
        }
        return value;
    }

    /** A column name, possibly qualified: {@code id}, {@code o.id}, {@code "O"."Id"}. */
    private boolean isColumnReference(int from, int end) {
        for (int i = from; i < end; i++) {
            SqlToken tok = t.get(i);
            boolean name = tok.isName();
            if ((i - from) % 2 == 0 ? !name : !tok.isSymbol(".")) {
                return false;
            }
        }
        return (end - from) % 2 == 1;
    }

    private boolean sameTokens(int a, int aEnd, int b, int bEnd) {
        if (aEnd - a != bEnd - b) {
            return false;
        }
        for (int i = 0; i < aEnd - a; i++) {
            SqlToken x = t.get(a + i);
            SqlToken y = t.get(b + i);
            if (x.kind() != y.kind() || !x.text().equals(y.text())) {
                return false;
            }
        }
        return true;
    }

    // ------------------------------------------------------------------ helpers

    private QualifiedName nameAt(int i, int end) {
        if (i >= end || !t.get(i).isName()) {
            return null;
        }
        if (t.get(i).kind() == SqlToken.Kind.WORD && (NOT_FUNCTIONS.contains(t.get(i).text())
                || NOT_TABLES.contains(t.get(i).text()))) {
            return null;
        }
        List<String> parts = new ArrayList<>();
        parts.add(t.get(i).text());
        int k = i + 1;
        while (k + 1 < end && t.get(k).isSymbol(".") && t.get(k + 1).isName()) {
            parts.add(t.get(k + 1).text());
            k += 2;
        }
        int n = parts.size();
        return new QualifiedName(n >= 2 ? parts.get(n - 2) : null, parts.get(n - 1));
    }

    private int nameEnd(int i, int end) {
        int k = i + 1;
        while (k + 1 < end && t.get(k).isSymbol(".")) {
            k += 2;
        }
        return k;
    }

    private int matching(int open, int end) {
        return matching(t, open, end);
    }

    private static int matching(List<SqlToken> t, int open, int end) {
        int depth = 0;
        for (int k = open; k < end; k++) {
            if (t.get(k).isSymbol("(")) {
                depth++;
            } else if (t.get(k).isSymbol(")") && --depth == 0) {
                return k;
            }
        }
        return end;
    }

    private boolean hasWord(int from, int end, String word) {
        for (int k = from; k < end; k++) {
            if (t.get(k).isWord(word)) {
                return true;
            }
        }
        return false;
    }

    private boolean hasWordAtDepth(int from, int end, String word) {
        return hasWordAtDepth(t, from, end, word);
    }

    /** Whether {@code word} occurs in {@code t[from, end)} outside every parenthesis opened in that range. */
    public static boolean hasWordAtDepth(List<SqlToken> t, int from, int end, String word) {
        return indexAtDepth(t, from, end, tok -> tok.isWord(word)) >= 0;
    }

    /**
     * The first token of {@code t[from, end)} outside every parenthesis opened in that range that passes
     * {@code test} (parentheses themselves never do), or -1.
     */
    public static int indexAtDepth(List<SqlToken> t, int from, int end, Predicate<SqlToken> test) {
        int depth = 0;
        for (int k = from; k < end; k++) {
            SqlToken tok = t.get(k);
            if (tok.isSymbol("(")) {
                depth++;
            } else if (tok.isSymbol(")")) {
                depth--;
            } else if (depth == 0 && test.test(tok)) {
                return k;
            }
        }
        return -1;
    }

    /**
     * {@code t[from, end)} cut at the tokens outside every parenthesis that pass {@code separator}: the parts between
     * them as {start, end} pairs (one part when there is no separator).
     */
    public static List<int[]> splitAtDepth(List<SqlToken> t, int from, int end, Predicate<SqlToken> separator) {
        List<int[]> parts = new ArrayList<>(2);
        int start = from;
        for (int k; (k = indexAtDepth(t, start, end, separator)) >= 0; start = k + 1) {
            parts.add(new int[] {start, k});
        }
        parts.add(new int[] {start, end});
        return parts;
    }

    private boolean hasSequence(int from, int end, String a, String b) {
        for (int k = from; k + 1 < end; k++) {
            if (t.get(k).isWord(a) && t.get(k + 1).isWord(b)) {
                return true;
            }
        }
        return false;
    }
}
