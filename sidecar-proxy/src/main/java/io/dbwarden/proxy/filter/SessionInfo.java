package io.dbwarden.proxy.filter;

/**
 * Who is connected, as the proxy knows it.
 *
 * @param identity        the workload identity: {@code namespace/serviceaccount} in a pod, the configured identity standalone
 * @param clientUser      user name the client sent in its startup message (not trusted for authorization)
 * @param database        database the session is connected to upstream
 * @param upstreamUser    database role the proxy logged in as
 * @param applicationName application_name the client sent, empty when none
 * @param clientAddress   remote address of the client connection, as ip:port
 * @param connectionId    proxy-local connection number, for correlating audit events
 * @param pinnedSettings  server settings the proxy started the upstream session with (search_path, read-only);
 *                        null when not known (sessions made outside the proxy's front end, in tests)
 */
public record SessionInfo(String identity, String clientUser, String database, String upstreamUser,
                          String applicationName, String clientAddress, long connectionId,
                          java.util.Map<String, String> pinnedSettings) {

    public SessionInfo(String identity, String clientUser, String database, String upstreamUser,
                       String applicationName, String clientAddress, long connectionId) {
        this(identity, clientUser, database, upstreamUser, applicationName, clientAddress, connectionId, null);
    }
}
