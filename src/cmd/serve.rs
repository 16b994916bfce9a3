//! `switchyard serve`: run the proxy. Flags, `SWITCHYARD_*` variables and
//! `--config FILE` resolve into a [`switchyard_proxy::Config`]; SIGTERM and
//! SIGINT drain and stop, SIGHUP reloads the file's reloadable settings and
//! the log filter.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::logging::FilterHandle;
use anyhow::Context;
use switchyard_control::store::proxy_instances::Registration;
use switchyard_control::watcher::{self, PhaseSnapshot, WatcherConfig};
use switchyard_proxy::route::ask_postgres::AskPostgres;
use switchyard_proxy::route::legacy_names::LegacyNames;
use switchyard_proxy::route::{EpochTracker, PhaseView, RouteContext};
use switchyard_proxy::shadow::{ShadowConfig, ShadowSampler};
use switchyard_proxy::{Config, ConfigArgs, LogFormat, Proxy, ShadowSettings};
use switchyard_rewriter::{check_catalog, MigrationSpec, Rewriter, DEFAULT_CACHE_CAPACITY};
use tokio::signal::unix::{signal, SignalKind};
use tracing_subscriber::EnvFilter;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Database of the migration's control schema (phase, instances)
    /// [default: the upstream URL].
    #[arg(long, env = "SWITCHYARD_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Migration spec (TOML) [default: the shipped todos spec].
    #[arg(long, env = "SWITCHYARD_SPEC")]
    pub spec: Option<PathBuf>,
    /// How often to re-read the phase when no notification arrives, in seconds.
    #[arg(long, default_value_t = 1.0)]
    pub phase_poll_interval: f64,
    /// How long a phase read stays trusted without a fresh one, in seconds;
    /// then statements touching the table wait for the phase. Keep it well
    /// below `phase set --instance-liveness` (30 s by default).
    #[arg(long, default_value_t = 10.0, env = "SWITCHYARD_PHASE_TRUST")]
    pub phase_trust: f64,
    /// How long a statement touching the table waits for a phase not known
    /// (not read yet, or no longer trusted) before it is refused with
    /// SQLSTATE 57P03, in seconds.
    #[arg(long, default_value_t = 5.0, env = "SWITCHYARD_PHASE_WAIT")]
    pub phase_wait: f64,
    /// Shadow-read sample rate for a phase, PHASE=RATE with RATE in 0..1
    /// (repeatable; defaults: 0.01 in dual_write, read_new and write_new, 0
    /// in legacy and new_only; the file's [shadow] sample_rate sits between).
    /// Rows of switchyard.shadow_settings override these at run time.
    #[arg(
        long = "shadow-sample-rate",
        env = "SWITCHYARD_SHADOW_SAMPLE_RATE",
        value_delimiter = ',',
        value_name = "PHASE=RATE"
    )]
    pub shadow_sample_rate: Vec<String>,
    /// Shadow reads waiting at most; more are dropped (and counted), never waited for.
    /// [default: 1024]
    #[arg(long = "shadow-queue", env = "SWITCHYARD_SHADOW_QUEUE")]
    pub shadow_queue: Option<usize>,
    /// Side connections running shadow reads [default: 2].
    #[arg(long = "shadow-workers", env = "SWITCHYARD_SHADOW_WORKERS")]
    pub shadow_workers: Option<usize>,
    /// How often switchyard.shadow_settings is re-read, in seconds [default: 5].
    #[arg(long = "shadow-settings-poll", env = "SWITCHYARD_SHADOW_SETTINGS_POLL")]
    pub shadow_settings_poll: Option<f64>,
    /// Also run the backfill in this process once the phase mirrors writes;
    /// with several instances, one leads (the backfill's advisory lock) and
    /// the others stand by.
    #[arg(long, env = "SWITCHYARD_BACKFILL")]
    pub backfill: bool,
}

pub async fn run(args: Args) -> anyhow::Result<u8> {
    let config = Config::load(&args.config)?;
    let reload_filter = init_logging(&config)?;
    let proxy = Proxy::bind(config.clone()).await.context("starting the proxy")?;
    let control_url = args.database_url.clone().or_else(|| args.config.upstream.clone());
    let proxy = match control_url {
        Some(url) => {
            let url = side_url(&url, &config.upstream);
            let context = routing(&args, &config.shadow, &url, proxy.handle().metrics()).await?;
            if args.backfill {
                tokio::spawn(backfill_when_mirroring(url.clone()));
            }
            let pages = super::status_page::StatusPages::new(url, proxy.handle().metrics(), args.backfill);
            proxy.with_interceptor(context.factory()).with_http_handler(Arc::new(pages))
        }
        None => {
            tracing::warn!("no --database-url and no upstream URL with a database: plain passthrough, no rewriting");
            proxy
        }
    };
    let handle = proxy.handle();
    tracing::info!(
        listen = %proxy.local_addr()?,
        upstream = %config.upstream.addr(),
        sslmode = ?config.upstream.sslmode,
        metrics = ?proxy.metrics_addr(),
        "switchyard proxy listening"
    );
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let mut hup = signal(SignalKind::hangup()).context("installing the SIGHUP handler")?;
    let signals = {
        let handle = handle.clone();
        async move {
            loop {
                tokio::select! {
                    _ = term.recv() => break,
                    _ = int.recv() => break,
                    _ = hup.recv() => match Config::load(&args.config) {
                        Ok(next) => {
                            if next.listen != config.listen || next.upstream != config.upstream {
                                tracing::warn!("listen and upstream changes need a restart; keeping the old ones");
                            }
                            let filter = EnvFilter::try_new(&next.log_level);
                            let logged = filter.map_err(|e| e.to_string()).and_then(|f| reload_filter.reload(f).map_err(|e| e.to_string()));
                            if let Err(e) = logged {
                                tracing::warn!(error = %e, "log level not reloaded");
                            }
                            match handle.reload(&next) {
                                Ok(()) => tracing::info!("configuration reloaded"),
                                Err(e) => tracing::warn!(error = %e, "configuration not reloaded"),
                            }
                        }
                        Err(e) => tracing::warn!(error = %e, "configuration not reloaded"),
                    },
                }
            }
            tracing::info!("shutdown requested");
            handle.shutdown();
        }
    };
    let signals = tokio::spawn(signals);
    proxy.run().await;
    signals.abort();
    Ok(0)
}

/// The rewriter, the phase watcher and the router's shared state. Checks the
/// spec against the live catalog first: a column missing on either side is
/// an error before any traffic flows.
async fn routing(
    args: &Args,
    file_shadow: &ShadowSettings,
    url: &str,
    metrics: Arc<switchyard_proxy::Metrics>,
) -> anyhow::Result<RouteContext> {
    let spec = match &args.spec {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading the spec {}", path.display()))?;
            MigrationSpec::from_toml(&text).with_context(|| format!("the spec {}", path.display()))?
        }
        None => MigrationSpec::default_todos(),
    };
    let names = check_live_catalog(url, &spec).await?;
    let tracker = Arc::new(EpochTracker::default());
    let acknowledge = {
        let tracker = Arc::clone(&tracker);
        Arc::new(move |published: PhaseSnapshot| {
            let v = tracker.oldest(PhaseView { phase: published.phase, epoch: published.epoch });
            PhaseSnapshot { phase: v.phase, epoch: v.epoch, from_database: published.from_database }
        })
    };
    let registration = Registration::for_this_process();
    // Defaults, then the file's [shadow] section, then flags and environment.
    let mut shadow = ShadowConfig::new(url);
    for r in file_shadow.rates()? {
        shadow.set_rate(&r).map_err(|e| anyhow::anyhow!("shadow.sample_rate: {e}"))?;
    }
    for r in &args.shadow_sample_rate {
        shadow.set_rate(r).map_err(|e| anyhow::anyhow!("--shadow-sample-rate: {e}"))?;
    }
    if let Some(q) = args.shadow_queue.or(file_shadow.queue) {
        shadow.queue = q;
    }
    if let Some(w) = args.shadow_workers.or(file_shadow.workers) {
        shadow.workers = w;
    }
    if let Some(poll) = args.shadow_settings_poll.or(file_shadow.settings_poll) {
        shadow.settings_poll = Duration::from_secs_f64(poll.max(0.05));
    }
    shadow.instance_id = Some(registration.instance_id.to_string());
    let shadow = ShadowSampler::start(shadow, Arc::clone(&metrics), spec.clone());
    tracing::info!(instance = %registration.instance_id, table = %spec.legacy.table, "following the migration phase");
    let (snapshots, _task) = watcher::spawn(WatcherConfig {
        database_url: url.to_string(),
        table: spec.legacy.table.clone(),
        registration,
        poll_interval: Duration::from_secs_f64(args.phase_poll_interval.max(0.05)),
        heartbeat_interval: Duration::from_secs(2),
        acknowledge: Some(acknowledge),
        acknowledgment_changed: Some(tracker.released()),
        trust: Duration::from_secs_f64(args.phase_trust.max(0.1)),
    });
    // Not known until the watcher has read it: sessions do not guess.
    let (tx, phase) = tokio::sync::watch::channel(None);
    let mut snapshots = snapshots;
    tokio::spawn(async move {
        loop {
            let s = *snapshots.borrow_and_update();
            tx.send_replace(s.map(|s| PhaseView { phase: s.phase, epoch: s.epoch }));
            if snapshots.changed().await.is_err() {
                return;
            }
        }
    });
    Ok(RouteContext {
        rewriter: Arc::new(Rewriter::new(spec, DEFAULT_CACHE_CAPACITY)),
        metrics,
        phase,
        phase_wait: Duration::from_secs_f64(args.phase_wait.max(0.0)),
        tracker,
        names: Arc::new(names),
        shadow: Some(shadow),
        ask: Some(Arc::new(AskPostgres::new(url))),
    })
}

/// Checks the spec against the database and returns legacy's names for the
/// new schema's (empty when the new tables do not exist yet).
async fn check_live_catalog(url: &str, spec: &MigrationSpec) -> anyhow::Result<LegacyNames> {
    let client = super::connect(url).await.context("connecting for the control plane")?;
    let catalog = switchyard_proxy::route::catalog::spec_columns(&client, spec).await?;
    if catalog.active.is_empty() && catalog.archived.is_empty() {
        tracing::info!("the new tables do not exist yet (run `switchyard migrate`); checking the spec against them later is up to migrate");
        return Ok(LegacyNames::default());
    }
    let mismatches = check_catalog(spec, &catalog);
    if !mismatches.is_empty() {
        let list: Vec<String> = mismatches.iter().map(|m| m.to_string()).collect();
        anyhow::bail!("the migration spec does not match the database: {}", list.join("; "));
    }
    let qualified = |schema: &str, table: &str| format!("{schema}.{table}");
    let facts = switchyard_proxy::route::catalog::load_facts(
        &client,
        &qualified(&spec.legacy.schema, &spec.legacy.table),
        &[&qualified(&spec.new.schema, &spec.new.active.table), &qualified(&spec.new.schema, &spec.new.archived.table)],
    )
    .await
    .context("reading the new schema's names from the catalog")?;
    Ok(LegacyNames::new(&facts))
}

/// `serve --backfill`: waits for a mirroring phase and every instance on it,
/// then runs the backfill to completion. Another instance holding the runner
/// lock leads; this one stands by. It keeps watching, so a migration that
/// steps back to legacy and forward again is backfilled again.
async fn backfill_when_mirroring(url: String) {
    use switchyard_control::backfill::{self, BackfillConfig, BackfillError};
    loop {
        let attempt = async {
            let mut client = super::connect(&url).await?;
            client
                .batch_execute(&format!(
                    "SET application_name = 'switchyard serve --backfill pid {}'",
                    std::process::id()
                ))
                .await?;
            match backfill::run(&mut client, &BackfillConfig::default(), |_| {}).await {
                Ok(p) => Ok::<bool, anyhow::Error>(p.completed),
                Err(BackfillError::AlreadyRunning(who)) => {
                    tracing::debug!(%who, "another instance leads the backfill");
                    Ok(false)
                }
                Err(e @ (BackfillError::WrongPhase(_) | BackfillError::InstancesLagging(_))) => {
                    tracing::debug!(error = %e, "backfill waits");
                    Ok(false)
                }
                Err(e) => Err(e.into()),
            }
        };
        let pause = match attempt.await {
            Ok(true) => Duration::from_secs(10),
            Ok(false) => Duration::from_secs(2),
            Err(e) => {
                tracing::warn!(error = %e, "backfill attempt failed; retrying");
                Duration::from_secs(2)
            }
        };
        tokio::time::sleep(pause).await;
    }
}

/// The URL of the side connections (control plane, watcher, shadow reads,
/// backfill): TLS as for the upstream unless the URL says otherwise.
fn side_url(url: &str, upstream: &switchyard_proxy::Upstream) -> String {
    let tls =
        switchyard_pgconn::TlsOptions { sslmode: Some(upstream.sslmode.into()), root_cert: upstream.ca_file.clone() };
    switchyard_pgconn::with_defaults(&with_user(url), &tls)
}

/// tokio-postgres needs a user name where libpq would default to the OS
/// user: supply PGUSER or USER when the URL names none.
fn with_user(url: &str) -> String {
    let user = std::env::var("PGUSER").or_else(|_| std::env::var("USER")).unwrap_or_else(|_| "postgres".into());
    if let Some(rest) = url.strip_prefix("postgres://").or_else(|| url.strip_prefix("postgresql://")) {
        let authority = rest.split(['/', '?']).next().unwrap_or("");
        if authority.contains('@') {
            return url.to_string();
        }
        return format!("postgres://{user}@{rest}");
    }
    if url.split_whitespace().any(|kv| kv.starts_with("user=")) {
        url.to_string()
    } else {
        format!("{url} user={user}")
    }
}

/// Logging to stderr, text or JSON, with a reloadable filter: `RUST_LOG`
/// when set, else the configured log level.
fn init_logging(config: &Config) -> anyhow::Result<FilterHandle> {
    super::logging::init_reloadable(&config.log_level, matches!(config.log_format, LogFormat::Json))
}
