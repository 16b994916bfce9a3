//! The metrics of jobs this process runs (the backfill, maintenance): a
//! `metrics` recorder rendered in the Prometheus text format. `serve
//! --backfill` appends them to the proxy's `/metrics` (see `status_page`);
//! the CLI runs serve them on `--metrics-listen` of their own.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::Context;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use switchyard_proxy::{HttpFuture, HttpHandler, HttpResponse, METRICS_CONTENT_TYPE};

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process's recorder (once) and returns what renders it.
pub fn install() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            // Fails only when another recorder is installed: then ours stays empty.
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed; job metrics are not exported");
            }
            describe();
            handle
        })
        .clone()
}

/// Help texts of the jobs' series.
fn describe() {
    metrics::describe_counter!("switchyard_backfill_rows_total", "Rows the backfill copied into the new schema.");
    metrics::describe_counter!(
        "switchyard_backfill_lock_retries_total",
        "Backfill batches that hit lock_timeout and were retried."
    );
    metrics::describe_counter!(
        "switchyard_maintenance_steps_total",
        "Maintenance steps run, by job, step and outcome (succeeded, failed)."
    );
    metrics::describe_counter!(
        "switchyard_maintenance_rows_total",
        "Rows a maintenance step reported (archived, moved)."
    );
    metrics::describe_gauge!(
        "switchyard_maintenance_step_duration_seconds",
        "How long the last run of a maintenance step took."
    );
    metrics::describe_gauge!(
        "switchyard_maintenance_last_success_timestamp_seconds",
        "When a maintenance job last finished with every step succeeded (Unix time)."
    );
}

/// `/metrics` (and `/healthz`) of a CLI job.
struct JobEndpoint(PrometheusHandle);

impl HttpHandler for JobEndpoint {
    fn get<'a>(&'a self, path: &'a str) -> HttpFuture<'a> {
        Box::pin(async move {
            match path {
                "/metrics" => Some(HttpResponse::ok(METRICS_CONTENT_TYPE, self.0.render())),
                "/healthz" => Some(HttpResponse::ok("text/plain", "ok\n".into())),
                _ => None,
            }
        })
    }
}

/// Serves the jobs' metrics on `addr` in the background; returns the bound
/// address.
pub async fn listen(addr: SocketAddr) -> anyhow::Result<SocketAddr> {
    let listener =
        tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding --metrics-listen {addr}"))?;
    let bound = listener.local_addr()?;
    tokio::spawn(switchyard_proxy::serve_http(listener, Arc::new(JobEndpoint(install()))));
    tracing::info!(metrics = %bound, "serving the job's metrics");
    Ok(bound)
}

/// Keeps serving for `linger` after the job, so a scrape sees its last values.
pub async fn linger(listening: Option<SocketAddr>, linger: Duration) {
    if listening.is_some() && !linger.is_zero() {
        tokio::time::sleep(linger).await;
    }
}

/// The flags of a CLI job's metrics endpoint.
#[derive(clap::Args, Debug, Clone)]
pub struct MetricsArgs {
    /// Serve this run's metrics (Prometheus text format) on ADDR/metrics
    /// while it runs, e.g. 127.0.0.1:9188.
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<SocketAddr>,
    /// Keep serving the metrics this long after the run ends, so a scrape
    /// sees the final values.
    #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
    pub metrics_linger: Duration,
}

impl MetricsArgs {
    /// Starts the endpoint when asked for; always installs the recorder.
    pub async fn start(&self) -> anyhow::Result<Option<SocketAddr>> {
        install();
        match self.metrics_listen {
            Some(addr) => Ok(Some(listen(addr).await?)),
            None => Ok(None),
        }
    }
}
