//! Configuration: command-line flags, `SWITCHYARD_*` environment variables
//! and an optional TOML file (`--config switchyard.toml`). Flags and
//! environment override the file; the file overrides the defaults.
//! Every setting is documented in `docs/configuration.md`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// How TLS to the upstream is negotiated, as libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum SslMode {
    /// Plain TCP.
    Disable,
    /// TLS when the server offers it, unverified; plain otherwise.
    #[default]
    Prefer,
    /// TLS or fail; the certificate is not verified.
    Require,
    /// TLS with the certificate chain verified, not the host name.
    VerifyCa,
    /// TLS with the certificate chain and host name verified.
    VerifyFull,
}

impl From<SslMode> for switchyard_pgconn::SslMode {
    fn from(m: SslMode) -> Self {
        match m {
            SslMode::Disable => switchyard_pgconn::SslMode::Disable,
            SslMode::Prefer => switchyard_pgconn::SslMode::Prefer,
            SslMode::Require => switchyard_pgconn::SslMode::Require,
            SslMode::VerifyCa => switchyard_pgconn::SslMode::VerifyCa,
            SslMode::VerifyFull => switchyard_pgconn::SslMode::VerifyFull,
        }
    }
}

impl std::str::FromStr for SslMode {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, ConfigError> {
        match s {
            "disable" => Ok(SslMode::Disable),
            "prefer" | "allow" => Ok(SslMode::Prefer),
            "require" => Ok(SslMode::Require),
            "verify-ca" => Ok(SslMode::VerifyCa),
            "verify-full" => Ok(SslMode::VerifyFull),
            other => Err(ConfigError::Invalid(format!(
                "unsupported sslmode {other:?} (disable, prefer, require, verify-ca, verify-full)"
            ))),
        }
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Where the upstream PostgreSQL is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    pub host: String,
    pub port: u16,
    pub sslmode: SslMode,
    /// PEM file of trusted roots for `verify-full` (else the system bundle).
    pub ca_file: Option<PathBuf>,
}

impl Upstream {
    /// Parses `postgres://[user@]HOST[:PORT][/DB][?sslmode=..&sslrootcert=..]`
    /// or a bare `HOST:PORT`. User and database are ignored: each client's
    /// own startup message names them.
    pub fn parse(url: &str) -> Result<Upstream, ConfigError> {
        let bad = |why: &str| ConfigError::Invalid(format!("upstream {url:?}: {why}"));
        let rest = url.strip_prefix("postgres://").or_else(|| url.strip_prefix("postgresql://")).unwrap_or(url);
        let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
        let authority = rest.split('/').next().unwrap_or("");
        let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (h, p) = v6.split_once(']').ok_or_else(|| bad("unclosed ["))?;
            (h.to_owned(), p.strip_prefix(':').unwrap_or(""))
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h.to_owned(), p),
                None => (hostport.to_owned(), ""),
            }
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let port = if port.is_empty() { 5432 } else { port.parse().map_err(|_| bad("invalid port"))? };
        let mut up = Upstream { host, port, sslmode: SslMode::Prefer, ca_file: None };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("sslmode", v)) => up.sslmode = v.parse()?,
                Some(("sslrootcert", v)) => up.ca_file = Some(PathBuf::from(v)),
                _ => {}
            }
        }
        Ok(up)
    }

    /// `host:port`, for connecting and messages.
    pub fn addr(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// The proxy's resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub upstream: Upstream,
    pub metrics_listen: Option<SocketAddr>,
    pub max_client_connections: usize,
    /// Largest client message body accepted, in bytes.
    pub max_message_size: usize,
    pub connect_timeout: Duration,
    pub startup_timeout: Duration,
    pub drain_timeout: Duration,
    /// Certificate chain and key (PEM) for TLS with clients.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub log_format: LogFormat,
    /// A tracing filter such as `info` or `switchyard_proxy=debug`.
    pub log_level: String,
    /// Worker threads, each with its own single-threaded runtime; 0 runs
    /// sessions on the caller's runtime.
    pub workers: usize,
    /// The file's `[shadow]` section (validated); `switchyard serve` lays its
    /// flags over it.
    pub shadow: ShadowSettings,
}

/// Shadow-read settings from the configuration file's `[shadow]` section.
/// Unset keys keep the defaults of [`crate::shadow::ShadowConfig::new`].
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShadowSettings {
    /// Sample rate (0..=1) per phase name, e.g. `read_new = 0.1`.
    #[serde(default)]
    pub sample_rate: std::collections::BTreeMap<String, f64>,
    /// Jobs waiting at most; beyond, they are dropped and counted.
    pub queue: Option<usize>,
    /// Side connections running shadow reads.
    pub workers: Option<usize>,
    /// Seconds between reads of `switchyard.shadow_settings`.
    pub settings_poll: Option<f64>,
}

impl ShadowSettings {
    /// The sample rates as `PHASE=RATE` strings, after checking each.
    pub fn rates(&self) -> Result<Vec<String>, ConfigError> {
        self.sample_rate
            .iter()
            .map(|(phase, rate)| {
                let spec = format!("{phase}={rate}");
                crate::shadow::parse_rate(&spec)
                    .map(|_| spec)
                    .map_err(|e| ConfigError::Invalid(format!("shadow.sample_rate.{phase}: {e}")))
            })
            .collect()
    }
}

impl Config {
    /// Defaults around the two settings that have none.
    pub fn new(listen: SocketAddr, upstream: Upstream) -> Config {
        Config {
            listen,
            upstream,
            metrics_listen: None,
            max_client_connections: 1000,
            max_message_size: 64 << 20,
            connect_timeout: Duration::from_secs(5),
            startup_timeout: Duration::from_secs(30),
            drain_timeout: Duration::from_secs(30),
            tls_cert: None,
            tls_key: None,
            log_format: LogFormat::Text,
            log_level: "info".into(),
            workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
            shadow: ShadowSettings::default(),
        }
    }

    /// Resolves flags and environment over the file named by `--config`.
    pub fn load(args: &ConfigArgs) -> Result<Config, ConfigError> {
        let file = match &args.config {
            Some(path) => FileConfig::read(path)?,
            None => FileConfig::default(),
        };
        let pick = |flag: &Option<String>, file: &Option<String>| flag.clone().or_else(|| file.clone());
        let listen = pick(&args.listen, &file.listen).unwrap_or_else(|| "127.0.0.1:6432".into());
        let listen = listen.parse().map_err(|_| ConfigError::Invalid(format!("listen address {listen:?}")))?;
        let upstream = pick(&args.upstream, &file.upstream)
            .ok_or_else(|| ConfigError::Invalid("no upstream: pass --upstream postgres://HOST:PORT/DB".into()))?;
        let mut upstream = Upstream::parse(&upstream)?;
        if let Some(mode) = args.upstream_sslmode.or(file.upstream_sslmode) {
            upstream.sslmode = mode;
        }
        if let Some(ca) = args.upstream_ca_file.clone().or(file.upstream_ca_file) {
            upstream.ca_file = Some(ca);
        }
        let mut c = Config::new(listen, upstream);
        if let Some(m) = pick(&args.metrics_listen, &file.metrics_listen) {
            c.metrics_listen = Some(m.parse().map_err(|_| ConfigError::Invalid(format!("metrics address {m:?}")))?);
        }
        let secs = |v: f64, what: &str| {
            Duration::try_from_secs_f64(v).map_err(|_| ConfigError::Invalid(format!("{what} {v}")))
        };
        if let Some(v) = args.max_client_connections.or(file.max_client_connections) {
            c.max_client_connections = v;
        }
        if let Some(v) = args.max_message_size.or(file.max_message_size) {
            c.max_message_size = v;
        }
        if let Some(v) = args.connect_timeout.or(file.connect_timeout) {
            c.connect_timeout = secs(v, "connect_timeout")?;
        }
        if let Some(v) = args.startup_timeout.or(file.startup_timeout) {
            c.startup_timeout = secs(v, "startup_timeout")?;
        }
        if let Some(v) = args.drain_timeout.or(file.drain_timeout) {
            c.drain_timeout = secs(v, "drain_timeout")?;
        }
        c.tls_cert = args.tls_cert.clone().or(file.tls_cert);
        c.tls_key = args.tls_key.clone().or(file.tls_key);
        if c.tls_cert.is_some() != c.tls_key.is_some() {
            return Err(ConfigError::Invalid("tls_cert and tls_key go together".into()));
        }
        c.log_format = args.log_format.or(file.log_format).unwrap_or_default();
        if let Some(l) = pick(&args.log_level, &file.log_level) {
            c.log_level = l;
        }
        if let Some(w) = args.workers.or(file.workers) {
            c.workers = w;
        }
        if let Some(shadow) = file.shadow {
            shadow.rates()?;
            if let Some(poll) = shadow.settings_poll {
                secs(poll, "shadow.settings_poll")?;
            }
            c.shadow = shadow;
        }
        Ok(c)
    }
}

/// Command-line flags (each also read from a `SWITCHYARD_*` variable).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ConfigArgs {
    /// TOML file with any of the settings below (flags override it).
    #[arg(long, env = "SWITCHYARD_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address clients connect to [default: 127.0.0.1:6432].
    #[arg(long, env = "SWITCHYARD_LISTEN")]
    pub listen: Option<String>,
    /// The PostgreSQL to proxy: postgres://HOST:PORT/DB[?sslmode=...].
    #[arg(long, env = "SWITCHYARD_UPSTREAM")]
    pub upstream: Option<String>,
    /// TLS to the upstream (overrides the URL's sslmode) [default: prefer].
    #[arg(long, env = "SWITCHYARD_UPSTREAM_SSLMODE", value_enum)]
    pub upstream_sslmode: Option<SslMode>,
    /// PEM roots trusted for sslmode=verify-full [default: system bundle].
    #[arg(long, env = "SWITCHYARD_UPSTREAM_CA_FILE")]
    pub upstream_ca_file: Option<PathBuf>,
    /// Address of the /metrics, /healthz and /readyz endpoint [default: off].
    #[arg(long, env = "SWITCHYARD_METRICS_LISTEN")]
    pub metrics_listen: Option<String>,
    /// Client connections beyond this get SQLSTATE 53300 [default: 1000].
    #[arg(long, env = "SWITCHYARD_MAX_CLIENT_CONNECTIONS")]
    pub max_client_connections: Option<usize>,
    /// Largest client message in bytes [default: 67108864].
    #[arg(long, env = "SWITCHYARD_MAX_MESSAGE_SIZE")]
    pub max_message_size: Option<usize>,
    /// Seconds to wait for the upstream to accept a connection [default: 5].
    #[arg(long, env = "SWITCHYARD_CONNECT_TIMEOUT")]
    pub connect_timeout: Option<f64>,
    /// Seconds a client has to finish startup and authentication [default: 30].
    #[arg(long, env = "SWITCHYARD_STARTUP_TIMEOUT")]
    pub startup_timeout: Option<f64>,
    /// Seconds sessions may finish after SIGTERM before being closed [default: 30].
    #[arg(long, env = "SWITCHYARD_DRAIN_TIMEOUT")]
    pub drain_timeout: Option<f64>,
    /// PEM certificate chain for TLS with clients.
    #[arg(long, env = "SWITCHYARD_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for TLS with clients.
    #[arg(long, env = "SWITCHYARD_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// Log format [default: text].
    #[arg(long, env = "SWITCHYARD_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    /// Log filter, e.g. info or switchyard_proxy=debug [default: info].
    #[arg(long, env = "SWITCHYARD_LOG_LEVEL")]
    pub log_level: Option<String>,
    /// Worker threads, one runtime each; 0 = the main runtime [default: CPUs].
    #[arg(long, env = "SWITCHYARD_WORKERS")]
    pub workers: Option<usize>,
}

/// The TOML file's shape: the same settings, snake_case.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    upstream: Option<String>,
    upstream_sslmode: Option<SslMode>,
    upstream_ca_file: Option<PathBuf>,
    metrics_listen: Option<String>,
    max_client_connections: Option<usize>,
    max_message_size: Option<usize>,
    connect_timeout: Option<f64>,
    startup_timeout: Option<f64>,
    drain_timeout: Option<f64>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    log_format: Option<LogFormat>,
    log_level: Option<String>,
    workers: Option<usize>,
    shadow: Option<ShadowSettings>,
}

impl FileConfig {
    fn read(path: &Path) -> Result<FileConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read(path.to_owned(), e))?;
        toml::from_str(&text).map_err(|e| ConfigError::Invalid(format!("{}: {e}", path.display())))
    }
}

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading {0}: {1}")]
    Read(PathBuf, std::io::Error),
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_upstream_urls() {
        let u = Upstream::parse("postgres://bob@db.example:6543/app?sslmode=verify-full").expect("valid");
        assert_eq!((u.host.as_str(), u.port, u.sslmode), ("db.example", 6543, SslMode::VerifyFull));
        let u = Upstream::parse("127.0.0.1").expect("valid");
        assert_eq!((u.port, u.sslmode), (5432, SslMode::Prefer));
        assert_eq!(Upstream::parse("postgres://[::1]:5/x").expect("valid").addr(), "[::1]:5");
        assert!(Upstream::parse("postgres://h:notaport/x").is_err());
        assert!(Upstream::parse("postgres://h/x?sslmode=bogus").is_err());
    }

    #[test]
    fn flags_override_the_file() {
        let dir = std::env::temp_dir().join(format!("sy-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let path = dir.join("switchyard.toml");
        std::fs::write(&path, "upstream = \"postgres://file:1/db\"\nmax_client_connections = 7\ndrain_timeout = 2.5\n")
            .expect("write");
        let args = ConfigArgs { config: Some(path.clone()), max_client_connections: Some(9), ..Default::default() };
        let c = Config::load(&args).expect("loads");
        assert_eq!(c.upstream.host, "file");
        assert_eq!(c.max_client_connections, 9);
        assert_eq!(c.drain_timeout, Duration::from_millis(2500));
        std::fs::write(&path, "bogus = 1\n").expect("write");
        assert!(Config::load(&args).is_err(), "unknown keys are refused");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn the_shipped_example_file_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../switchyard.example.toml");
        let c = Config::load(&ConfigArgs { config: Some(path), ..Default::default() }).expect("example loads");
        assert_eq!(c.shadow.workers, Some(2));
        assert_eq!(c.shadow.rates().expect("valid").len(), 3);
    }

    #[test]
    fn the_shadow_section_is_read_and_checked() {
        let dir = std::env::temp_dir().join(format!("sy-config-shadow-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let path = dir.join("switchyard.toml");
        let args = ConfigArgs { config: Some(path.clone()), ..Default::default() };
        std::fs::write(
            &path,
            "upstream = \"db:1\"\n[shadow]\nsample_rate = { read_new = 0.25, dual_write = 0 }\nworkers = 1\nqueue = 64\n",
        )
        .expect("write");
        let c = Config::load(&args).expect("loads");
        assert_eq!(c.shadow.workers, Some(1));
        assert_eq!(c.shadow.queue, Some(64));
        assert_eq!(c.shadow.rates().expect("valid"), vec!["dual_write=0".to_string(), "read_new=0.25".to_string()]);
        for bad in ["sample_rate = { read_new = 1.5 }", "sample_rate = { reed_new = 0.1 }", "sampel_rate = 1"] {
            std::fs::write(&path, format!("upstream = \"db:1\"\n[shadow]\n{bad}\n")).expect("write");
            let err = Config::load(&args).expect_err(bad).to_string();
            assert!(err.contains("shadow") || err.contains("sampel_rate"), "{bad}: {err}");
        }
        let _ = std::fs::remove_dir_all(dir);
    }
}
