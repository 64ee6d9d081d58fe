package io.dbwarden.proxy.testing;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.function.Consumer;
import java.util.function.Function;

/** The catalog connection's queries, answered on a JDBC connection to the real database (one query at a time). */
public final class CatalogQueries {
    private CatalogQueries() {
    }

    /** @param seen told each query's text before it runs (to count loads of one kind) */
    public static Function<String, CompletionStage<List<List<String>>>> over(Connection direct,
                                                                             Consumer<String> seen) {
        return sql -> {
            seen.accept(sql);
            synchronized (direct) {
                try (Statement s = direct.createStatement(); ResultSet rs = s.executeQuery(sql)) {
                    List<List<String>> rows = new ArrayList<>();
                    int n = rs.getMetaData().getColumnCount();
                    while (rs.next()) {
                        List<String> row = new ArrayList<>(n);
                        for (int i = 1; i <= n; i++) {
                            row.add(rs.getString(i));
                        }
                        rows.add(row);
                    }
                    return CompletableFuture.completedFuture(rows);
                } catch (SQLException e) {
                    return CompletableFuture.failedFuture(e);
                }
            }
        };
    }
}
