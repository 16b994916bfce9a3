//! The TLS parameters of a connection string, taken out of it: tokio-postgres
//! knows neither `verify-ca`/`verify-full` nor `sslrootcert`, so they are
//! resolved here and the rest of the string goes to tokio-postgres as is.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::{ConnectError, TlsOptions};

/// libpq's `sslmode` values that Switchyard supports (`allow` is not: it
/// would try plain text first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl FromStr for SslMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => {
                return Err(format!("unknown sslmode {other:?} (disable, prefer, require, verify-ca or verify-full)"))
            }
        })
    }
}

impl SslMode {
    /// The name libpq gives it.
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }

    /// What tokio-postgres does on the wire; verification is the TLS config's.
    pub(crate) fn transport(self) -> tokio_postgres::config::SslMode {
        match self {
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => tokio_postgres::config::SslMode::Require,
        }
    }
}

/// A connection string with its TLS settings resolved and removed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Settings {
    pub rest: String,
    pub sslmode: SslMode,
    pub root_cert: Option<PathBuf>,
}

/// Splits the TLS parameters off `url` (URL or `key=value` form); what it
/// does not say comes from `PGSSLMODE`/`PGSSLROOTCERT`, else `prefer`.
pub(crate) fn split(url: &str) -> Result<Settings, ConnectError> {
    let (rest, mode, root) = if is_url(url) { split_url(url) } else { split_key_values(url) };
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let sslmode = match mode.or_else(|| env("PGSSLMODE")) {
        Some(m) => m.parse().map_err(ConnectError::Params)?,
        None => SslMode::Prefer,
    };
    let root_cert = root.or_else(|| env("PGSSLROOTCERT")).map(PathBuf::from);
    Ok(Settings { rest, sslmode, root_cert })
}

/// `url` with the settings of `defaults` it does not name itself.
pub(crate) fn with_defaults(url: &str, defaults: &TlsOptions) -> String {
    let (_, mode, root) = if is_url(url) { split_url(url) } else { split_key_values(url) };
    let mut added = Vec::new();
    if let (None, Some(m)) = (mode, defaults.sslmode) {
        added.push(("sslmode", m.as_str().to_string()));
    }
    if let (None, Some(r)) = (root, &defaults.root_cert) {
        added.push(("sslrootcert", r.display().to_string()));
    }
    let mut out = url.to_string();
    for (key, value) in added {
        if is_url(url) {
            out.push(if out.contains('?') { '&' } else { '?' });
            out.push_str(&format!("{key}={}", percent_encode(&value)));
        } else {
            out.push_str(&format!(" {key}='{value}'"));
        }
    }
    out
}

fn is_url(s: &str) -> bool {
    s.starts_with("postgres://") || s.starts_with("postgresql://")
}

fn split_url(url: &str) -> (String, Option<String>, Option<String>) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_string(), None, None);
    };
    let (mut mode, mut root, mut kept) = (None, None, Vec::new());
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("sslmode", v)) => mode = Some(percent_decode(v)),
            Some(("sslrootcert", v)) => root = Some(percent_decode(v)),
            _ => kept.push(pair),
        }
    }
    let rest = if kept.is_empty() { base.to_string() } else { format!("{base}?{}", kept.join("&")) };
    (rest, mode, root)
}

fn split_key_values(s: &str) -> (String, Option<String>, Option<String>) {
    let (mut mode, mut root, mut kept) = (None, None, Vec::new());
    for word in words(s) {
        match word.split_once('=') {
            Some(("sslmode", v)) => mode = Some(unquote(v)),
            Some(("sslrootcert", v)) => root = Some(unquote(v)),
            _ => kept.push(word),
        }
    }
    (kept.join(" "), mode, root)
}

/// The `key=value` words of a libpq connection string, quoted values kept whole.
fn words(s: &str) -> Vec<&str> {
    let (mut out, mut start, mut quoted) = (Vec::new(), None, false);
    for (i, c) in s.char_indices() {
        if c == '\'' {
            quoted = !quoted;
        }
        if c.is_whitespace() && !quoted {
            if let Some(st) = start.take() {
                out.push(&s[st..i]);
            }
        } else if start.is_none() {
            start = Some(i);
        }
    }
    if let Some(st) = start {
        out.push(&s[st..]);
    }
    out
}

fn unquote(v: &str) -> String {
    v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')).unwrap_or(v).to_string()
}

fn percent_decode(v: &str) -> String {
    let bytes = v.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn percent_encode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The roots file the verifying modes use when none is named.
pub(crate) fn system_roots() -> &'static Path {
    Path::new("/etc/ssl/certs/ca-certificates.crt")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_parameters_are_taken_out_of_a_url() {
        let s = split("postgres://u@h:5/db?application_name=x&sslmode=verify-ca&sslrootcert=%2Ftmp%2Fca.pem")
            .expect("split");
        assert_eq!(s.rest, "postgres://u@h:5/db?application_name=x");
        assert_eq!(s.sslmode, SslMode::VerifyCa);
        assert_eq!(s.root_cert.as_deref(), Some(Path::new("/tmp/ca.pem")));
        assert_eq!(split("postgres://u@h/db?sslmode=require").expect("split").rest, "postgres://u@h/db");
    }

    #[test]
    fn tls_parameters_are_taken_out_of_key_values() {
        let s = split("host=h user=u sslmode=verify-full sslrootcert='/ca.pem' dbname=d").expect("split");
        assert_eq!(s.rest, "host=h user=u dbname=d");
        assert_eq!(s.sslmode, SslMode::VerifyFull);
        assert_eq!(s.root_cert.as_deref(), Some(Path::new("/ca.pem")));
    }

    #[test]
    fn defaults_fill_in_only_what_the_string_does_not_say() {
        let flags = TlsOptions { sslmode: Some(SslMode::Require), root_cert: Some("/my ca.pem".into()) };
        assert_eq!(
            with_defaults("postgres://u@h/db?sslmode=disable", &flags),
            "postgres://u@h/db?sslmode=disable&sslrootcert=/my%20ca.pem"
        );
        let url = with_defaults("postgres://u@h/db", &flags);
        let s = split(&url).expect("split");
        assert_eq!((s.rest.as_str(), s.sslmode), ("postgres://u@h/db", SslMode::Require));
        assert_eq!(s.root_cert.as_deref(), Some(Path::new("/my ca.pem")));
        let kv = with_defaults("host=h", &flags);
        assert_eq!(kv, "host=h sslmode='require' sslrootcert='/my ca.pem'");
        let s = split(&kv).expect("split");
        assert_eq!((s.rest.as_str(), s.sslmode), ("host=h", SslMode::Require));
        assert_eq!(s.root_cert.as_deref(), Some(Path::new("/my ca.pem")));
    }

    #[test]
    fn an_unknown_sslmode_is_an_error() {
        let e = split("postgres://u@h/db?sslmode=allow").expect_err("allow");
        assert!(e.to_string().contains("unknown sslmode \"allow\""), "{e}");
    }
}
