//! A client's first steps: SSL and GSSAPI-encryption negotiation, the
//! startup packet, then authentication relayed between client and upstream
//! until the upstream's first ReadyForQuery
//! (<https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-FLOW-START-UP>,
//! <https://www.postgresql.org/docs/current/sasl-authentication.html>).
//!
//! The proxy never sees a password it could use: it forwards the server's
//! challenges and the client's answers untouched, with two exceptions. It
//! removes `-PLUS` SASL mechanisms from the server's offer, because channel
//! binding binds to the TLS connection the server sees, which is the
//! proxy's, not the client's. And it replaces the server's BackendKeyData
//! secret with one of its own, keeping its process id (see [`crate::net::cancel`]).

use std::sync::Arc;

use bytes::{BufMut, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_rustls::rustls::ServerConfig;

use crate::error::{ErrorSource, SessionError};
use crate::net::cancel::{CancelKey, CancelMap, CancelRegistration};
use crate::net::tls::MaybeTls;
use crate::protocol::backend::{self, BackendMessage};
use crate::protocol::startup::{split_startup, StartupPacket};
use crate::protocol::{split_frame, tags, write_message, Frame, ProtocolError};
use crate::session::{IoBlame, ProtocolBlame};

/// Reads startup packets, answering SSLRequest (`S` and a TLS handshake
/// when `tls` is configured, else `N`) and GSSENCRequest (`N`), until a
/// StartupMessage or CancelRequest arrives. Errors the client can be told
/// about are written to it before returning.
pub async fn negotiate<S>(
    stream: S,
    tls: Option<Arc<ServerConfig>>,
    buf: &mut BytesMut,
) -> Result<(MaybeTls<S>, StartupPacket), SessionError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut stream = MaybeTls::Plain(stream);
    let mut ssl_asked = false;
    let mut gss_asked = false;
    loop {
        let packet = match read_startup(&mut stream, buf).await {
            Ok(p) => p,
            Err(e) => {
                report(&mut stream, &e).await;
                return Err(e);
            }
        };
        match packet {
            StartupPacket::SslRequest | StartupPacket::GssEncRequest => {
                let is_ssl = packet == StartupPacket::SslRequest;
                let asked = if is_ssl { &mut ssl_asked } else { &mut gss_asked };
                if *asked || matches!(stream, MaybeTls::Tls(_)) {
                    return Err(SessionError::UnexpectedTls);
                }
                *asked = true;
                if !buf.is_empty() {
                    // Bytes sent before the TLS handshake must not be
                    // taken as sent inside it (CVE-2021-23214).
                    let e = SessionError::ClientProtocol(ProtocolError::Invalid {
                        what: "data after an encryption request",
                    });
                    report(&mut stream, &e).await;
                    return Err(e);
                }
                let config = if is_ssl { tls.clone() } else { None };
                let Some(config) = config else {
                    stream.write_all(b"N").await.map_err(|e| SessionError::Io(ErrorSource::Client(e)))?;
                    continue;
                };
                stream.write_all(b"S").await.map_err(|e| SessionError::Io(ErrorSource::Client(e)))?;
                let MaybeTls::Plain(plain) = stream else {
                    return Err(SessionError::UnexpectedTls);
                };
                let accepted =
                    tokio_rustls::TlsAcceptor::from(config).accept(plain).await.map_err(SessionError::ClientTls)?;
                stream = MaybeTls::Tls(Box::new(tokio_rustls::TlsStream::Server(accepted)));
            }
            other => return Ok((stream, other)),
        }
    }
}

async fn read_startup<S: AsyncRead + Unpin>(stream: &mut S, buf: &mut BytesMut) -> Result<StartupPacket, SessionError> {
    loop {
        if let Some(p) = split_startup(buf).map_err(SessionError::ClientProtocol)? {
            return Ok(p);
        }
        if stream.read_buf(buf).await.map_err(|e| SessionError::Io(ErrorSource::Client(e)))? == 0 {
            return Err(SessionError::Io(ErrorSource::Client(std::io::ErrorKind::UnexpectedEof.into())));
        }
    }
}

/// Tells the client why it is being disconnected, if it may be told.
pub async fn report<S: AsyncWrite + Unpin>(stream: &mut S, e: &SessionError) {
    if let Some((severity, code, message)) = e.client_facing() {
        let mut buf = BytesMut::new();
        backend::error_response(&mut buf, severity, code, &message);
        let write = async {
            stream.write_all(&buf).await?;
            stream.flush().await
        };
        let _ = tokio::time::timeout(std::time::Duration::from_secs(1), write).await;
    }
}

/// How authentication ended.
#[derive(Debug)]
pub enum Authenticated {
    /// The upstream sent ReadyForQuery: the session may start. Holds the
    /// cancel mapping when the upstream sent a BackendKeyData.
    Ready(Option<CancelRegistration>),
    /// The upstream refused (its ErrorResponse was forwarded) or the client
    /// left; the session is over.
    Closed,
}

/// Relays authentication between `client` and `upstream` (to which the
/// StartupMessage has been sent) until the upstream is ready for queries.
pub async fn relay_auth<C, U>(
    client: &mut C,
    client_buf: &mut BytesMut,
    upstream: &mut U,
    upstream_buf: &mut BytesMut,
    cancel_map: &Arc<CancelMap>,
    max_message_size: usize,
) -> Result<Authenticated, SessionError>
where
    C: AsyncRead + AsyncWrite + Unpin,
    U: AsyncRead + AsyncWrite + Unpin,
{
    let mut out = BytesMut::with_capacity(1024);
    let mut registration = None;
    loop {
        let Some(frame) = read_frame(upstream, upstream_buf, max_message_size, Side::Upstream).await? else {
            return Err(SessionError::UpstreamClosed);
        };
        let message = backend::decode(frame.tag, &frame.body).map_err(SessionError::UpstreamProtocol)?;
        match message {
            BackendMessage::Authentication { code, data } => {
                if code == tags::AUTH_SASL {
                    let mechanisms = backend::sasl_mechanisms(data).map_err(SessionError::UpstreamProtocol)?;
                    let offered: Vec<&str> = mechanisms.into_iter().filter(|m| !m.ends_with("-PLUS")).collect();
                    backend::authentication_sasl(&mut out, &offered);
                } else {
                    copy_frame(&mut out, &frame);
                }
                if expects_answer(code) {
                    flush(client, &mut out).await?;
                    if !relay_answer(client, client_buf, upstream, &mut out, max_message_size).await? {
                        return Ok(Authenticated::Closed);
                    }
                }
            }
            BackendMessage::BackendKeyData { pid, secret } => {
                let key = CancelKey { pid, secret: bytes::Bytes::copy_from_slice(secret) };
                let reg = cancel_map.register(key);
                backend::backend_key_data(&mut out, reg.proxy_key().pid, &reg.proxy_key().secret);
                registration = Some(reg);
            }
            BackendMessage::ErrorResponse { .. } => {
                copy_frame(&mut out, &frame);
                flush(client, &mut out).await?;
                return Ok(Authenticated::Closed);
            }
            BackendMessage::ReadyForQuery { .. } => {
                copy_frame(&mut out, &frame);
                flush(client, &mut out).await?;
                return Ok(Authenticated::Ready(registration));
            }
            _ => copy_frame(&mut out, &frame),
        }
    }
}

/// Whether the client must answer this authentication request.
fn expects_answer(code: i32) -> bool {
    matches!(
        code,
        tags::AUTH_CLEARTEXT_PASSWORD
            | tags::AUTH_MD5_PASSWORD
            | tags::AUTH_GSS
            | tags::AUTH_GSS_CONTINUE
            | tags::AUTH_SSPI
            | tags::AUTH_SASL
            | tags::AUTH_SASL_CONTINUE
    )
}

/// Forwards the client's answer to an authentication request upstream;
/// false when the client left (closed or sent Terminate) instead.
async fn relay_answer<C, U>(
    client: &mut C,
    client_buf: &mut BytesMut,
    upstream: &mut U,
    out: &mut BytesMut,
    max_message_size: usize,
) -> Result<bool, SessionError>
where
    C: AsyncRead + AsyncWrite + Unpin,
    U: AsyncRead + AsyncWrite + Unpin,
{
    let Some(answer) = read_frame(client, client_buf, max_message_size, Side::Client).await? else {
        return Ok(false);
    };
    if answer.tag != tags::PASSWORD_MESSAGE {
        if answer.tag == tags::TERMINATE {
            return Ok(false);
        }
        return Err(SessionError::ClientProtocol(ProtocolError::Invalid { what: "message during authentication" }));
    }
    copy_frame(out, &answer);
    let sent = async {
        upstream.write_all(out).await?;
        upstream.flush().await
    };
    sent.await.map_err(|e| SessionError::Io(ErrorSource::Upstream(e)))?;
    out.clear();
    Ok(true)
}

#[derive(Clone, Copy)]
enum Side {
    Client,
    Upstream,
}

/// Reads one whole message; `None` at a clean end of stream.
async fn read_frame<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut BytesMut,
    max: usize,
    side: Side,
) -> Result<Option<Frame>, SessionError> {
    let (io_err, proto_err): (IoBlame, ProtocolBlame) = match side {
        Side::Client => (ErrorSource::Client, SessionError::ClientProtocol),
        Side::Upstream => (ErrorSource::Upstream, SessionError::UpstreamProtocol),
    };
    loop {
        if let Some(f) = split_frame(buf, max).map_err(proto_err)? {
            return Ok(Some(f));
        }
        if stream.read_buf(buf).await.map_err(io_err)? == 0 {
            return if buf.is_empty() {
                Ok(None)
            } else {
                Err(SessionError::Io(io_err(std::io::ErrorKind::UnexpectedEof.into())))
            };
        }
    }
}

fn copy_frame(out: &mut BytesMut, frame: &Frame) {
    write_message(out, frame.tag, |b| b.put_slice(&frame.body));
}

async fn flush<C: AsyncWrite + Unpin>(client: &mut C, out: &mut BytesMut) -> Result<(), SessionError> {
    client.write_all(out).await.map_err(|e| SessionError::Io(ErrorSource::Client(e)))?;
    client.flush().await.map_err(|e| SessionError::Io(ErrorSource::Client(e)))?;
    out.clear();
    Ok(())
}
