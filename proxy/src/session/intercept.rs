//! The seam where the router (`route/router/`) plugs in: a client message the
//! interceptor asked for is delivered whole, before it is forwarded, and the
//! interceptor decides what goes upstream instead. Messages it did not ask
//! for are streamed through without being buffered or decoded.
//!
//! Message formats: <https://www.postgresql.org/docs/current/protocol-message-formats.html>.

use bytes::BytesMut;

use crate::protocol::frontend::FrontendMessage;

/// What to do with one backend message.
#[derive(Debug, PartialEq, Eq)]
pub enum Fix {
    Forward,
    Drop,
    /// Send these bytes (whole messages) instead.
    Replace(BytesMut),
    /// Not yet: deliver the message again once the interceptor's
    /// [`Interceptor::poll_backend_ready`] is ready.
    Wait,
}

/// The transaction status of the last ReadyForQuery the upstream sent:
/// `I` idle, `T` in a transaction block, `E` in a failed transaction block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxStatus {
    Idle,
    InTransaction,
    Failed,
}

impl TxStatus {
    pub fn from_byte(b: u8) -> Option<TxStatus> {
        match b {
            b'I' => Some(TxStatus::Idle),
            b'T' => Some(TxStatus::InTransaction),
            b'E' => Some(TxStatus::Failed),
            _ => None,
        }
    }
}

/// What a session knows that an interceptor may need.
#[derive(Debug, Clone, Copy)]
pub struct SessionInfo {
    /// As of the last ReadyForQuery; requests may be in flight since.
    pub tx_status: TxStatus,
    /// Requests (Query, Sync, FunctionCall) sent upstream and not yet
    /// answered by a ReadyForQuery.
    pub requests_in_flight: usize,
}

/// What to do with an intercepted client message.
#[derive(Debug)]
pub enum Verdict {
    /// Forward the message unchanged.
    Forward,
    /// Send these bytes (zero or more complete frontend messages) upstream
    /// in place of the message.
    Replace(BytesMut),
    /// Not yet: the session holds the message (and what follows it) until
    /// [`Interceptor::poll_ready`] is ready, then delivers it again.
    Wait,
}

/// Sees the client messages whose tags it names, before they go upstream.
/// One instance per session; called on the session's task, so it must be
/// quick (it delays that session's traffic).
pub trait Interceptor: Send {
    /// The tags to deliver whole (for example `tags::QUERY`, `tags::PARSE`).
    /// Read once when the session starts.
    fn tags(&self) -> &[u8];

    /// Called with each complete message whose tag is in [`Interceptor::tags`],
    /// already decoded.
    fn on_message(&mut self, message: &FrontendMessage<'_>, raw_body: &[u8], session: &SessionInfo) -> Verdict;

    /// Whether it looks at the upstream's messages at all. Read once when
    /// the session starts; when false the upstream side costs nothing.
    fn observes_backend(&self) -> bool {
        false
    }

    /// Whether the upstream message with this tag must be delivered whole to
    /// [`Interceptor::on_backend`] (it may be changed or dropped). Other
    /// messages are reported by tag alone, with an empty body, and forwarded.
    fn backend_wants(&self, _tag: u8) -> bool {
        false
    }

    /// Sees an upstream message (whole when [`Interceptor::backend_wants`]
    /// said so) and says what the client gets.
    fn on_backend(&mut self, _tag: u8, _body: &[u8]) -> Fix {
        Fix::Forward
    }

    /// After [`Verdict::Wait`]: ready when the held message may be delivered
    /// again. The upstream's answers keep flowing meanwhile.
    fn poll_ready(&mut self, _cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        std::task::Poll::Ready(())
    }

    /// After [`Fix::Wait`]: ready when the held upstream message may be
    /// delivered again. The client's messages keep flowing meanwhile.
    fn poll_backend_ready(&mut self, _cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        std::task::Poll::Ready(())
    }
}

/// Forwards everything untouched and asks for nothing, so the session
/// streams every message.
#[derive(Debug, Default, Clone, Copy)]
pub struct PassThrough;

impl Interceptor for PassThrough {
    fn tags(&self) -> &[u8] {
        &[]
    }

    fn on_message(&mut self, _: &FrontendMessage<'_>, _: &[u8], _: &SessionInfo) -> Verdict {
        Verdict::Forward
    }
}

/// Builds one interceptor per session.
pub type InterceptorFactory = std::sync::Arc<dyn Fn() -> Box<dyn Interceptor> + Send + Sync>;
