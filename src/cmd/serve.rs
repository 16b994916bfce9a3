//! `switchyard serve`: run the proxy. Flags, `SWITCHYARD_*` variables and
//! `--config FILE` resolve into a [`switchyard_proxy::Config`]; SIGTERM and
//! SIGINT drain and stop, SIGHUP reloads the file's reloadable settings and
//! the log filter.

use anyhow::Context;
use switchyard_proxy::{Config, ConfigArgs, LogFormat, Proxy};
use tokio::signal::unix::{signal, SignalKind};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, EnvFilter};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub config: ConfigArgs,
}

pub async fn run(args: Args) -> anyhow::Result<u8> {
    let config = Config::load(&args.config)?;
    let reload_filter = init_logging(&config)?;
    let proxy = Proxy::bind(config.clone()).await.context("starting the proxy")?;
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

type FilterHandle = reload::Handle<EnvFilter, tracing_subscriber::Registry>;

/// Logging to stderr, text or JSON, with a reloadable filter: `RUST_LOG`
/// when set, else the configured log level.
fn init_logging(config: &Config) -> anyhow::Result<FilterHandle> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(f) => EnvFilter::try_new(f),
        Err(_) => EnvFilter::try_new(&config.log_level),
    }
    .context("invalid log filter")?;
    let (filter, handle) = reload::Layer::new(filter);
    let registry = tracing_subscriber::registry().with(filter);
    let result = match config.log_format {
        LogFormat::Json => registry.with(tracing_subscriber::fmt::layer().json().with_writer(std::io::stderr)).try_init(),
        LogFormat::Text => registry.with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr)).try_init(),
    };
    result.context("installing the logger")?;
    Ok(handle)
}
