//! Errors of a client session, kept apart from what the client is told:
//! [`SessionError::client_facing`] gives the SQLSTATE and message a client
//! may see (<https://www.postgresql.org/docs/current/errcodes-appendix.html>),
//! [`SessionError::kind`] doubles as the `errors_total{kind}` metric label.

use std::io;

use crate::metrics::ErrorKind;
use crate::protocol::backend::Severity;
use crate::protocol::ProtocolError;

/// Which side of a session an I/O failure came from.
#[derive(Debug, thiserror::Error)]
pub enum ErrorSource {
    #[error("client: {0}")]
    Client(io::Error),
    #[error("upstream: {0}")]
    Upstream(io::Error),
}

/// Why connecting to the upstream failed.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("connecting to {addr} timed out after {millis} ms")]
    Timeout { addr: String, millis: u128 },
    #[error("connecting to {addr}: {source}")]
    Connect { addr: String, source: io::Error },
    #[error("TLS with the upstream: {0}")]
    Tls(io::Error),
    #[error("the upstream refused TLS and sslmode requires it")]
    TlsRefused,
    #[error("the upstream answered the SSL request with {0:#04x}")]
    BadSslResponse(u8),
    #[error("invalid upstream server name {0:?}")]
    ServerName(String),
}

/// Everything that can end a client session early.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("client protocol violation: {0}")]
    ClientProtocol(ProtocolError),
    #[error("upstream protocol violation: {0}")]
    UpstreamProtocol(ProtocolError),
    #[error("i/o with {0}")]
    Io(#[from] ErrorSource),
    #[error("upstream closed the connection")]
    UpstreamClosed,
    #[error("{0}")]
    Upstream(#[from] UpstreamError),
    #[error("TLS handshake with the client: {0}")]
    ClientTls(io::Error),
    #[error("the client asked for TLS at an unexpected point")]
    UnexpectedTls,
    #[error("too many client connections (limit {0})")]
    TooManyClients(usize),
    #[error("the client did not finish its startup in time")]
    StartupTimeout,
    #[error("the proxy is shutting down")]
    Shutdown,
}

impl SessionError {
    /// The `kind` label of `switchyard_errors_total`.
    pub fn kind(&self) -> ErrorKind {
        match self {
            SessionError::ClientProtocol(ProtocolError::TooLarge { .. }) => ErrorKind::ClientMessageTooLarge,
            SessionError::ClientProtocol(_) => ErrorKind::ClientProtocol,
            SessionError::UpstreamProtocol(_) => ErrorKind::UpstreamProtocol,
            SessionError::Io(ErrorSource::Client(_)) => ErrorKind::ClientIo,
            SessionError::Io(ErrorSource::Upstream(_)) | SessionError::UpstreamClosed => ErrorKind::UpstreamIo,
            SessionError::Upstream(_) => ErrorKind::UpstreamConnect,
            SessionError::ClientTls(_) | SessionError::UnexpectedTls => ErrorKind::ClientTls,
            SessionError::TooManyClients(_) => ErrorKind::TooManyClients,
            SessionError::StartupTimeout => ErrorKind::StartupTimeout,
            SessionError::Shutdown => ErrorKind::Shutdown,
        }
    }

    /// What the client is told, if it can still be told anything: severity,
    /// SQLSTATE and a message without internal detail.
    pub fn client_facing(&self) -> Option<(Severity, &'static str, String)> {
        let fatal = |code: &'static str, msg: String| Some((Severity::Fatal, code, msg));
        match self {
            SessionError::ClientProtocol(e @ ProtocolError::TooLarge { .. }) => fatal("54000", e.to_string()),
            SessionError::ClientProtocol(e @ ProtocolError::UnsupportedVersion { .. }) => fatal("0A000", e.to_string()),
            SessionError::ClientProtocol(e) => fatal("08P01", format!("invalid frontend message: {e}")),
            SessionError::UpstreamProtocol(_) => fatal("08P01", "the upstream server sent an invalid message".into()),
            SessionError::Io(ErrorSource::Upstream(_)) | SessionError::UpstreamClosed => {
                fatal("08006", "connection to the upstream server was lost".into())
            }
            // The address, OS error and TLS detail stay in the log: a client
            // that has not authenticated yet must not learn the topology.
            SessionError::Upstream(_) => fatal("08001", "could not connect to the database server".into()),
            SessionError::TooManyClients(_) => fatal("53300", "sorry, too many clients already".into()),
            SessionError::Shutdown => fatal("57P01", "terminating connection due to administrator command".into()),
            SessionError::Io(ErrorSource::Client(_))
            | SessionError::ClientTls(_)
            | SessionError::UnexpectedTls
            | SessionError::StartupTimeout => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_connect_failures_tell_the_client_nothing_of_the_upstream() {
        let failures = [
            UpstreamError::Connect { addr: "10.1.2.3:5432".into(), source: io::ErrorKind::ConnectionRefused.into() },
            UpstreamError::Timeout { addr: "10.1.2.3:5432".into(), millis: 5000 },
            UpstreamError::Tls(io::Error::other("invalid peer certificate: UnknownIssuer")),
            UpstreamError::ServerName("db.internal".into()),
        ];
        for failure in failures {
            let internal = failure.to_string();
            let (severity, code, message) =
                SessionError::Upstream(failure).client_facing().expect("the client is told something");
            assert_eq!((severity, code), (Severity::Fatal, "08001"));
            assert_eq!(message, "could not connect to the database server", "for {internal}");
        }
    }
}
