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
 */
public record SessionInfo(String identity, String clientUser, String database, String upstreamUser,
                          String applicationName, String clientAddress, long connectionId) {
}
