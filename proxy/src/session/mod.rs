//! The steady state of one client session: bytes flow both ways between a
//! client and its own upstream connection
//! (<https://www.postgresql.org/docs/current/protocol-flow.html>).
//!
//! One task drives both directions (a hand-written poll over both, like
//! `tokio::io::copy_bidirectional`, so no stream is split or locked). Each
//! direction reads into its buffer, scans message boundaries from the
//! headers alone (tag and length), and writes every complete or streamed
//! byte it has in one write. A message is only held whole when someone must
//! see it: the [`Interceptor`]'s tags from the client, ReadyForQuery from
//! the upstream (to track the transaction status and time requests). Large
//! messages the proxy does not inspect are streamed, never buffered whole.
//! In steady state nothing is allocated per message: the buffers are reused.
//!
//! [`intercept`] is the seam where the router (or nothing) sees the
//! client's messages.

pub mod intercept;

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use crate::error::{ErrorSource, SessionError};
use crate::metrics::{Direction, Metrics, QueryProtocol};
use crate::protocol::backend::{self, BackendMessage};
use crate::protocol::{frontend, peek_header, tags, Header, ProtocolError, HEADER_LEN};
use intercept::{Fix, Interceptor, SessionInfo, TxStatus, Verdict};

/// Read at least this much at a time.
const MIN_READ: usize = 4096;
/// Grow a buffer by this much when it runs out of room.
const READ_CHUNK: usize = 16 * 1024;
/// Requests timed at once per session; beyond this, requests go untimed.
const MAX_TIMED_REQUESTS: usize = 1 << 16;

/// How a session ended without an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The client closed its connection (after Terminate or not).
    ClientClosed,
    /// The upstream closed after the client's Terminate, or right after
    /// telling the client why with an ErrorResponse.
    UpstreamClosed,
}

/// A client connected to its upstream, past startup and authentication.
pub struct Session<C, U> {
    client: C,
    upstream: U,
    c2u: Half,
    u2c: Half,
    state: State,
    client_side: ClientInspect,
    upstream_side: UpstreamInspect,
    metrics: Arc<Metrics>,
}

/// Knowledge shared by both directions.
struct State {
    /// Sees client messages and, when it observes the backend, the
    /// upstream's answers.
    interceptor: Box<dyn Interceptor>,
    observes_backend: bool,
    tx_status: TxStatus,
    /// Start times of requests awaiting their ReadyForQuery.
    pending: VecDeque<Instant>,
    client_terminated: bool,
    last_upstream_tag: u8,
    /// Queries by protocol not yet added to the metrics.
    queries: [u64; 3],
}

/// One direction's buffer and framing position.
#[derive(Debug, Default)]
struct Half {
    buf: BytesMut,
    /// Bytes at the front of `buf` scanned and ready to write.
    ready: usize,
    /// Bytes of a streamed message that have not arrived yet.
    remaining: usize,
    /// The header at `ready`, already inspected, whose whole message is awaited.
    held: Option<Header>,
    /// Bytes to write before `buf[..ready]`: what was forwarded and what was
    /// written in place of messages, gathered so that a read's worth of
    /// messages with replacements among them leaves in one write (a write
    /// per piece cost a syscall each: five per single-row statement).
    out: BytesMut,
    needs_flush: bool,
    /// Holds bytes read before the session started, not yet scanned.
    fresh: bool,
    /// The message at `ready` was answered with [`Verdict::Wait`]: nothing
    /// more is read or scanned until the inspector is ready.
    waiting: bool,
}

impl Half {
    fn with(buf: BytesMut) -> Half {
        let fresh = !buf.is_empty();
        Half { buf, fresh, ..Half::default() }
    }

    /// Nothing of a message has been half-sent: the peer is at a message
    /// boundary, so the proxy may write a message of its own.
    fn at_boundary(&self) -> bool {
        self.remaining == 0 && self.ready == 0 && self.out.is_empty()
    }
}

/// Inspects one direction's messages.
trait Inspect {
    fn max_body(&self) -> usize;
    /// Sees each header once; returns whether the whole message is needed.
    fn header(&mut self, h: Header, st: &mut State) -> bool;
    /// Sees a whole message that `header` asked for.
    fn frame(&mut self, tag: u8, body: &[u8], st: &mut State) -> Result<Verdict, ProtocolError>;
    /// After a [`Verdict::Wait`]: ready when the held message may be seen again.
    fn poll_ready(&mut self, _cx: &mut Context<'_>, _st: &mut State) -> Poll<()> {
        Poll::Ready(())
    }
}

struct ClientInspect {
    wanted: [bool; 256],
    max_body: usize,
}

impl Inspect for ClientInspect {
    fn max_body(&self) -> usize {
        self.max_body
    }

    fn header(&mut self, h: Header, st: &mut State) -> bool {
        match h.tag {
            tags::QUERY => st.request(QueryProtocol::Simple),
            tags::FUNCTION_CALL => st.request(QueryProtocol::FunctionCall),
            tags::EXECUTE => st.queries[QueryProtocol::Extended as usize] += 1,
            tags::SYNC => st.request_started(),
            tags::TERMINATE => st.client_terminated = true,
            _ => {}
        }
        self.wanted[usize::from(h.tag)]
    }

    fn frame(&mut self, tag: u8, body: &[u8], st: &mut State) -> Result<Verdict, ProtocolError> {
        let message = frontend::decode(tag, body)?;
        let info = SessionInfo { tx_status: st.tx_status, requests_in_flight: st.pending.len() };
        Ok(st.interceptor.on_message(&message, body, &info))
    }

    fn poll_ready(&mut self, cx: &mut Context<'_>, st: &mut State) -> Poll<()> {
        st.interceptor.poll_ready(cx)
    }
}

struct UpstreamInspect {
    metrics: Arc<Metrics>,
}

impl Inspect for UpstreamInspect {
    fn max_body(&self) -> usize {
        // Upstream messages are streamed, never buffered whole, except
        // ReadyForQuery whose length `frame` checks exactly.
        i32::MAX as usize
    }

    fn header(&mut self, h: Header, st: &mut State) -> bool {
        st.last_upstream_tag = h.tag;
        if h.tag == tags::READY_FOR_QUERY {
            return true;
        }
        if st.observes_backend {
            if st.interceptor.backend_wants(h.tag) {
                return true;
            }
            st.interceptor.on_backend(h.tag, &[]);
        }
        false
    }

    fn frame(&mut self, tag: u8, body: &[u8], st: &mut State) -> Result<Verdict, ProtocolError> {
        if let BackendMessage::ReadyForQuery { status } = backend::decode(tag, body)? {
            st.tx_status = TxStatus::from_byte(status).unwrap_or(TxStatus::Idle);
            if let Some(start) = st.pending.pop_front() {
                self.metrics.observe_request(start.elapsed());
            }
        }
        if !st.observes_backend {
            return Ok(Verdict::Forward);
        }
        Ok(match st.interceptor.on_backend(tag, body) {
            Fix::Forward => Verdict::Forward,
            Fix::Drop => Verdict::Replace(BytesMut::new()),
            Fix::Replace(bytes) => Verdict::Replace(bytes),
            Fix::Wait => Verdict::Wait,
        })
    }

    fn poll_ready(&mut self, cx: &mut Context<'_>, st: &mut State) -> Poll<()> {
        st.interceptor.poll_backend_ready(cx)
    }
}

impl State {
    fn request(&mut self, protocol: QueryProtocol) {
        self.queries[protocol as usize] += 1;
        self.request_started();
    }

    fn request_started(&mut self) {
        if self.pending.len() < MAX_TIMED_REQUESTS {
            self.pending.push_back(Instant::now());
        }
    }

    fn flush_metrics(&mut self, metrics: &Metrics) {
        metrics.add_queries(QueryProtocol::Simple, std::mem::take(&mut self.queries[0]));
        metrics.add_queries(QueryProtocol::Extended, std::mem::take(&mut self.queries[1]));
        metrics.add_queries(QueryProtocol::FunctionCall, std::mem::take(&mut self.queries[2]));
    }
}

/// Scans complete headers (and whole messages where asked) in `half`,
/// marking what may be written.
fn scan(half: &mut Half, insp: &mut impl Inspect, st: &mut State) -> Result<(), ProtocolError> {
    loop {
        if half.waiting {
            return Ok(());
        }
        let avail = half.buf.len() - half.ready;
        if half.remaining > 0 {
            let n = half.remaining.min(avail);
            half.ready += n;
            half.remaining -= n;
            if half.remaining > 0 {
                return Ok(());
            }
            continue;
        }
        let Some(h) = peek_header(&half.buf[half.ready..], insp.max_body())? else {
            return Ok(());
        };
        let whole = match half.held.take() {
            Some(held) => held == h,
            None => insp.header(h, st),
        };
        if !whole {
            let n = h.frame_len().min(avail);
            half.ready += n;
            half.remaining = h.frame_len() - n;
            continue;
        }
        if avail < h.frame_len() {
            half.held = Some(h);
            half.buf.reserve(h.frame_len() - avail);
            return Ok(());
        }
        let body = &half.buf[half.ready + HEADER_LEN..half.ready + h.frame_len()];
        match insp.frame(h.tag, body, st)? {
            Verdict::Forward => half.ready += h.frame_len(),
            Verdict::Replace(bytes) => {
                half.out.extend_from_slice(&half.buf[..half.ready]);
                half.out.extend_from_slice(&bytes);
                half.buf.advance(half.ready + h.frame_len());
                half.ready = 0;
            }
            Verdict::Wait => {
                // Seen again, whole, once the inspector is ready.
                half.held = Some(h);
                half.waiting = true;
                return Ok(());
            }
        }
    }
}

/// Which side an I/O error is blamed on.
pub(crate) type IoBlame = fn(io::Error) -> ErrorSource;
/// Which side a protocol error is blamed on.
pub(crate) type ProtocolBlame = fn(ProtocolError) -> SessionError;

/// What one direction reports when it stops.
enum HalfEnd {
    Eof,
}

/// Moves bytes one way until the reader is exhausted or something fails.
#[allow(clippy::too_many_arguments)]
fn poll_half<R, W, I>(
    cx: &mut Context<'_>,
    reader: &mut R,
    writer: &mut W,
    half: &mut Half,
    insp: &mut I,
    st: &mut State,
    metrics: &Metrics,
    dir: Direction,
) -> Poll<Result<HalfEnd, SessionError>>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
    I: Inspect,
{
    let (read_err, write_err, proto_err): (IoBlame, IoBlame, ProtocolBlame) = match dir {
        Direction::ClientToUpstream => (ErrorSource::Client, ErrorSource::Upstream, SessionError::ClientProtocol),
        Direction::UpstreamToClient => (ErrorSource::Upstream, ErrorSource::Client, SessionError::UpstreamProtocol),
    };
    if half.fresh {
        // Bytes that arrived with the startup (a client pipelining its
        // first query, a notice right after ReadyForQuery).
        half.fresh = false;
        scan(half, insp, st).map_err(proto_err)?;
    }
    loop {
        if !half.out.is_empty() && half.ready > 0 {
            half.out.extend_from_slice(&half.buf[..half.ready]);
            half.buf.advance(half.ready);
            half.ready = 0;
        }
        while !half.out.is_empty() {
            let n = ready!(Pin::new(&mut *writer).poll_write(cx, &half.out)).map_err(write_err)?;
            if n == 0 {
                return Poll::Ready(Err(write_err(io::ErrorKind::WriteZero.into()).into()));
            }
            half.out.advance(n);
            half.needs_flush = true;
            metrics.add_bytes(dir, n);
        }
        while half.ready > 0 {
            let n = ready!(Pin::new(&mut *writer).poll_write(cx, &half.buf[..half.ready])).map_err(write_err)?;
            if n == 0 {
                return Poll::Ready(Err(write_err(io::ErrorKind::WriteZero.into()).into()));
            }
            half.buf.advance(n);
            half.ready -= n;
            half.needs_flush = true;
            metrics.add_bytes(dir, n);
        }
        if half.needs_flush {
            ready!(Pin::new(&mut *writer).poll_flush(cx)).map_err(write_err)?;
            half.needs_flush = false;
            st.flush_metrics(metrics);
        }
        if half.waiting {
            ready!(insp.poll_ready(cx, st));
            half.waiting = false;
            scan(half, insp, st).map_err(proto_err)?;
            continue;
        }
        if half.buf.capacity() - half.buf.len() < MIN_READ {
            half.buf.reserve(READ_CHUNK);
        }
        let n = ready!(tokio_util::io::poll_read_buf(Pin::new(&mut *reader), cx, &mut half.buf)).map_err(read_err)?;
        if n == 0 {
            return Poll::Ready(Ok(HalfEnd::Eof));
        }
        scan(half, insp, st).map_err(proto_err)?;
    }
}

impl<C, U> Session<C, U>
where
    C: AsyncRead + AsyncWrite + Unpin,
    U: AsyncRead + AsyncWrite + Unpin,
{
    /// A session over connected streams. `client_buf` and `upstream_buf`
    /// hold bytes already read past startup (normally none).
    pub fn new(
        client: C,
        upstream: U,
        client_buf: BytesMut,
        upstream_buf: BytesMut,
        interceptor: Box<dyn Interceptor>,
        max_message_size: usize,
        metrics: Arc<Metrics>,
    ) -> Self {
        let mut wanted = [false; 256];
        for &t in interceptor.tags() {
            wanted[usize::from(t)] = true;
        }
        let observes_backend = interceptor.observes_backend();
        Session {
            client,
            upstream,
            c2u: Half::with(client_buf),
            u2c: Half::with(upstream_buf),
            state: State {
                interceptor,
                observes_backend,
                tx_status: TxStatus::Idle,
                pending: VecDeque::with_capacity(16),
                client_terminated: false,
                last_upstream_tag: 0,
                queries: [0; 3],
            },
            client_side: ClientInspect { wanted, max_body: max_message_size },
            upstream_side: UpstreamInspect { metrics: Arc::clone(&metrics) },
            metrics,
        }
    }

    /// Forwards until either side closes, something fails, or `shutdown`
    /// completes. On a failure the client is told why, with an
    /// ErrorResponse, when it is at a message boundary.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) -> Result<Ended, SessionError> {
        let outcome = {
            let pump = std::future::poll_fn(|cx| self.poll_pump(cx));
            tokio::select! {
                r = pump => r,
                () = shutdown => Err(SessionError::Shutdown),
            }
        };
        let result = match outcome {
            Ok(HalfEndpoint::Client) => Ok(Ended::ClientClosed),
            Ok(HalfEndpoint::Upstream)
                if self.state.client_terminated || self.state.last_upstream_tag == tags::ERROR_RESPONSE =>
            {
                Ok(Ended::UpstreamClosed)
            }
            Ok(HalfEndpoint::Upstream) => Err(SessionError::UpstreamClosed),
            Err(e) => Err(e),
        };
        self.state.flush_metrics(&self.metrics);
        if let Err(e) = &result {
            if let (Some((severity, code, message)), true) = (e.client_facing(), self.u2c.at_boundary()) {
                let mut buf = BytesMut::new();
                backend::error_response(&mut buf, severity, code, &message);
                let _ = tokio::time::timeout(Duration::from_secs(1), self.client.write_all(&buf)).await;
            }
        }
        let _ = tokio::time::timeout(Duration::from_secs(1), self.client.shutdown()).await;
        let _ = tokio::time::timeout(Duration::from_secs(1), self.upstream.shutdown()).await;
        result
    }

    fn poll_pump(&mut self, cx: &mut Context<'_>) -> Poll<Result<HalfEndpoint, SessionError>> {
        let Session { client, upstream, c2u, u2c, state, client_side, upstream_side, metrics } = self;
        if let Poll::Ready(r) =
            poll_half(cx, client, upstream, c2u, client_side, state, metrics, Direction::ClientToUpstream)
        {
            return Poll::Ready(r.map(|HalfEnd::Eof| HalfEndpoint::Client));
        }
        if let Poll::Ready(r) =
            poll_half(cx, upstream, client, u2c, upstream_side, state, metrics, Direction::UpstreamToClient)
        {
            return Poll::Ready(r.map(|HalfEnd::Eof| HalfEndpoint::Upstream));
        }
        Poll::Pending
    }
}

/// Which reader reached its end.
enum HalfEndpoint {
    Client,
    Upstream,
}
