package io.dbwarden.proxy.sql;

/**
 * Follows the SQL-standard body of a routine through the tokens of one statement, so that its semicolons do not end
 * the statement: {@code CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT 2; END} is one
 * statement to the server, whose grammar reads the body up to its END.
 *
 * <p>The rule can only err towards cutting a statement in two, never towards joining two that the server runs on
 * their own (which would let the second pass unjudged as part of the first):
 * <ul>
 *   <li>a body opens only at the adjacent words BEGIN ATOMIC outside parentheses in a statement that starts with
 *       CREATE [OR REPLACE] FUNCTION or PROCEDURE, the one place where the grammar accepts them together (elsewhere
 *       in such a statement they are a syntax error, and the server then rejects the whole query text);</li>
 *   <li>it closes at the first END that directly follows a semicolon (or ATOMIC): every statement of a body ends
 *       with a semicolon and the body's END comes right after the last one, whereas the END of a CASE expression,
 *       or a column named end ({@code SELECT 1 end}), never directly follows a semicolon.</li>
 * </ul>
 * Not thread-safe; one per split, {@link #reset()} at the start of every statement.
 */
final class RoutineBody {
    private static final int OUTSIDE = 0;
    /** Right after BEGIN: ATOMIC next opens a body. */
    private static final int BEGIN = 1;
    /** In a body, right after ATOMIC or a semicolon: END next closes it. */
    private static final int AT_STATEMENT_END = 2;
    private static final int INSIDE = 3;
    /** After the body's END: nothing opens again (a second body is a syntax error). */
    private static final int CLOSED = 4;

    /** Words of the statement seen so far, while it may still be CREATE [OR REPLACE] FUNCTION|PROCEDURE. */
    private int words;
    /** Decided: whether the statement creates a routine. */
    private boolean settled;
    private boolean routine;
    private int state;

    void reset() {
        words = 0;
        settled = false;
        routine = false;
        state = OUTSIDE;
    }

    /** Whether a semicolon now separates statements of a routine body rather than ending the statement. */
    boolean inBody() {
        return state == AT_STATEMENT_END || state == INSIDE;
    }

    /**
     * Takes the next token of the statement (semicolons inside the body included): its kind, for a WORD its
     * lower-cased text, and the parenthesis depth after it.
     */
    void token(SqlToken.Kind kind, String word, int depth) {
        if (!settled) {
            settle(kind == SqlToken.Kind.WORD ? word : null);
        }
        if (!routine) {
            return;
        }
        if (kind == SqlToken.Kind.WORD) {
            state = switch (state) {
                case OUTSIDE -> depth == 0 && word.equals("begin") ? BEGIN : OUTSIDE;
                case BEGIN -> word.equals("atomic") ? AT_STATEMENT_END
                        : depth == 0 && word.equals("begin") ? BEGIN : OUTSIDE;
                case AT_STATEMENT_END -> word.equals("end") ? CLOSED : INSIDE;
                default -> state;
            };
        } else if (kind == SqlToken.Kind.SEMICOLON) {
            if (inBody()) {
                state = AT_STATEMENT_END;
            }
        } else if (state == BEGIN) {
            state = OUTSIDE;
        } else if (state == AT_STATEMENT_END) {
            state = INSIDE;
        }
    }

    /** CREATE, then FUNCTION or PROCEDURE, or OR REPLACE and then one of them; any other token decides "no". */
    private void settle(String word) {
        int at = words++;
        boolean fits = word != null && switch (at) {
            case 0 -> word.equals("create");
            case 1 -> word.equals("or") || isRoutineWord(word);
            case 2 -> word.equals("replace");
            default -> isRoutineWord(word);
        };
        if (!fits) {
            settled = true;
        } else if ((at == 1 || at == 3) && isRoutineWord(word)) {
            settled = true;
            routine = true;
        }
    }

    private static boolean isRoutineWord(String word) {
        return word.equals("function") || word.equals("procedure");
    }
}
