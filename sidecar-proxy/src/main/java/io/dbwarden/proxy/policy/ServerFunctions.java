package io.dbwarden.proxy.policy;

import java.util.List;
import java.util.Set;

/**
 * PostgreSQL functions that act outside the rows of the tables a statement names: they signal or watch other
 * sessions, read or list files on the database server, reload or rotate its configuration and logs, drive
 * replication, WAL and backups, or connect to other servers. Matched by name in any schema (an extension such as
 * dblink may live anywhere; a user function of the same name is denied as well, which fails closed).
 */
final class ServerFunctions {
    private ServerFunctions() {
    }

    private static final Set<String> NAMES = Set.of(
            // other sessions
            "pg_terminate_backend", "pg_cancel_backend", "pg_stat_get_activity", "pg_log_backend_memory_contexts",
            // the server's files, configuration and logs
            "pg_read_file", "pg_read_binary_file", "pg_stat_file", "pg_ls_dir", "pg_current_logfile",
            "lo_import", "lo_export", "pg_reload_conf", "pg_rotate_logfile", "pg_file_write", "pg_file_rename",
            "pg_file_unlink", "pg_file_sync",
            // failover, WAL and backups
            "pg_promote", "pg_switch_wal", "pg_create_restore_point", "pg_backup_start", "pg_backup_stop",
            "pg_start_backup", "pg_stop_backup", "pg_wal_replay_pause", "pg_wal_replay_resume",
            "pg_logical_emit_message");

    /** pg_ls_logdir, pg_ls_waldir, ...; pg_stat_get_backend_activity, ...; dblink_*; replication slots and origins. */
    private static final List<String> PREFIXES = List.of("pg_ls_", "pg_stat_get_backend_", "dblink",
            "pg_logical_slot_", "pg_replication_origin_", "pg_create_physical_replication_slot",
            "pg_create_logical_replication_slot", "pg_drop_replication_slot", "pg_copy_physical_replication_slot",
            "pg_copy_logical_replication_slot", "pg_replication_slot_advance");

    static boolean isServerFunction(String name) {
        if (NAMES.contains(name)) {
            return true;
        }
        for (String prefix : PREFIXES) {
            if (name.startsWith(prefix)) {
                return true;
            }
        }
        return false;
    }
}
