package io.dbwarden.proxy.internal;

/**
 * Lifecycle of a client connection after its StartupMessage.
 *
 * <pre>
 *   AwaitingPassword --(password ok)--+
 *        (trust) ---------------------+--> ConnectingUpstream --(upstream ReadyForQuery)--> Relaying
 *   any state --(error, close, Terminate)--> Closed
 * </pre>
 */
sealed interface ConnectionState {
    record AwaitingPassword() implements ConnectionState {
    }

    record ConnectingUpstream() implements ConnectionState {
    }

    record Relaying() implements ConnectionState {
    }

    record Closed() implements ConnectionState {
    }
}
