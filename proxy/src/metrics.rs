//! Every metric the proxy exports, declared in one place with its help text,
//! and their rendering in the Prometheus text exposition format
//! (<https://prometheus.io/docs/instrumenting/exposition_formats/>).
//!
//! Plain atomics rather than a global recorder: the hot path adds to a
//! counter once per batch of bytes, and each [`crate::Proxy`] owns its own
//! set, so tests can read the metrics of the proxy they started.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

/// Which way bytes flowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    ClientToUpstream,
    UpstreamToClient,
}

/// How a client ran a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryProtocol {
    /// A Query message.
    Simple,
    /// An Execute message.
    Extended,
    /// A FunctionCall message.
    FunctionCall,
}

/// Labels of `switchyard_errors_total{kind}`; see [`crate::SessionError::kind`].
pub const ERROR_KINDS: &[&str] = &[
    "client_protocol",
    "client_message_too_large",
    "upstream_protocol",
    "client_io",
    "upstream_io",
    "upstream_connect",
    "client_tls",
    "too_many_clients",
    "startup_timeout",
    "shutdown",
    "cancel",
];

/// Upper bounds (seconds) of the request-duration histogram buckets.
const BUCKETS: [f64; 16] =
    [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// The proxy's metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Client connections currently open.
    pub client_connections: AtomicI64,
    /// Upstream connections currently open.
    pub upstream_connections: AtomicI64,
    /// Client connections accepted since start.
    pub client_connections_total: AtomicU64,
    /// Bytes forwarded from clients to the upstream.
    bytes_client_to_upstream: AtomicU64,
    /// Bytes forwarded from the upstream to clients.
    bytes_upstream_to_client: AtomicU64,
    /// Queries by protocol: simple, extended, function_call.
    queries: [AtomicU64; 3],
    /// Time from a client's request (Query, Sync, FunctionCall) to its ReadyForQuery.
    request_duration: Histogram,
    /// Errors by kind, indexed like [`ERROR_KINDS`].
    errors: [AtomicU64; ERROR_KINDS.len()],
    /// Statements the router planned because they may touch the migrated
    /// table, by what it did, indexed like [`ROUTE_ACTIONS`].
    routed: [AtomicU64; ROUTE_ACTIONS.len()],
    /// Shadow reads by outcome, indexed like [`SHADOW_OUTCOMES`].
    shadow: [AtomicU64; SHADOW_OUTCOMES.len()],
    /// Skipped shadow reads by reason, indexed like [`crate::shadow::SKIP_REASONS`].
    shadow_skipped: [AtomicU64; crate::shadow::SKIP_REASONS.len()],
    /// Shadow reads waiting in the queue.
    shadow_queue: AtomicI64,
}

/// Labels of `switchyard_shadow_reads_total{outcome}`.
pub const SHADOW_OUTCOMES: &[&str] = &["match", "mismatch", "skipped", "dropped", "error"];

/// Labels of `switchyard_statements_routed_total{action}`.
pub const ROUTE_ACTIONS: &[&str] = &["passthrough", "rewrite", "refuse"];

#[derive(Debug, Default)]
struct Histogram {
    /// Per-bucket (not cumulative) counts; the last is +Inf.
    buckets: [AtomicU64; BUCKETS.len() + 1],
    sum_nanos: AtomicU64,
}

impl Metrics {
    pub fn add_bytes(&self, dir: Direction, n: usize) {
        let c = match dir {
            Direction::ClientToUpstream => &self.bytes_client_to_upstream,
            Direction::UpstreamToClient => &self.bytes_upstream_to_client,
        };
        c.fetch_add(n as u64, Relaxed);
    }

    pub fn add_queries(&self, protocol: QueryProtocol, n: u64) {
        if n > 0 {
            self.queries[protocol as usize].fetch_add(n, Relaxed);
        }
    }

    pub fn observe_request(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let i = BUCKETS.iter().position(|&b| secs <= b).unwrap_or(BUCKETS.len());
        self.request_duration.buckets[i].fetch_add(1, Relaxed);
        self.request_duration.sum_nanos.fetch_add(d.as_nanos().min(u128::from(u64::MAX)) as u64, Relaxed);
    }

    pub fn error(&self, kind: &str) {
        if let Some(i) = ERROR_KINDS.iter().position(|k| *k == kind) {
            self.errors[i].fetch_add(1, Relaxed);
        }
    }

    /// Counts a statement the router planned; `action` is one of [`ROUTE_ACTIONS`].
    pub fn routed(&self, action: &str) {
        if let Some(i) = ROUTE_ACTIONS.iter().position(|a| *a == action) {
            self.routed[i].fetch_add(1, Relaxed);
        }
    }

    /// The count of `switchyard_statements_routed_total{action}`.
    pub fn routed_count(&self, action: &str) -> u64 {
        ROUTE_ACTIONS.iter().position(|a| *a == action).map_or(0, |i| self.routed[i].load(Relaxed))
    }

    /// Counts a shadow read; `outcome` is one of [`SHADOW_OUTCOMES`].
    pub fn shadow_outcome(&self, outcome: &str) {
        if let Some(i) = SHADOW_OUTCOMES.iter().position(|o| *o == outcome) {
            self.shadow[i].fetch_add(1, Relaxed);
        }
    }

    /// Counts a skipped shadow read (outcome `skipped`) and its reason.
    pub fn shadow_skipped(&self, reason: &str) {
        self.shadow_outcome("skipped");
        if let Some(i) = crate::shadow::SKIP_REASONS.iter().position(|r| *r == reason) {
            self.shadow_skipped[i].fetch_add(1, Relaxed);
        }
    }

    /// Moves the shadow queue gauge.
    pub fn shadow_queued(&self, n: i64) {
        self.shadow_queue.fetch_add(n, Relaxed);
    }

    /// The count of `switchyard_shadow_reads_total{outcome}`.
    pub fn shadow_count(&self, outcome: &str) -> u64 {
        SHADOW_OUTCOMES.iter().position(|o| *o == outcome).map_or(0, |i| self.shadow[i].load(Relaxed))
    }

    /// The count of `switchyard_shadow_skipped_total{reason}`.
    pub fn shadow_skipped_count(&self, reason: &str) -> u64 {
        crate::shadow::SKIP_REASONS
            .iter()
            .position(|r| *r == reason)
            .map_or(0, |i| self.shadow_skipped[i].load(Relaxed))
    }

    /// The count of `switchyard_errors_total{kind}`.
    pub fn errors(&self, kind: &str) -> u64 {
        ERROR_KINDS.iter().position(|k| *k == kind).map_or(0, |i| self.errors[i].load(Relaxed))
    }

    /// Renders everything in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        fn head(out: &mut String, name: &str, kind: &str, help: &str) {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        }
        head(&mut out, "switchyard_client_connections", "gauge", "Client connections currently open.");
        let _ = writeln!(out, "switchyard_client_connections {}", self.client_connections.load(Relaxed));
        head(&mut out, "switchyard_upstream_connections", "gauge", "Upstream connections currently open.");
        let _ = writeln!(out, "switchyard_upstream_connections {}", self.upstream_connections.load(Relaxed));
        head(&mut out, "switchyard_client_connections_total", "counter", "Client connections accepted since start.");
        let _ = writeln!(out, "switchyard_client_connections_total {}", self.client_connections_total.load(Relaxed));
        head(&mut out, "switchyard_bytes_total", "counter", "Bytes forwarded, by direction.");
        let _ = writeln!(
            out,
            "switchyard_bytes_total{{direction=\"client_to_upstream\"}} {}",
            self.bytes_client_to_upstream.load(Relaxed)
        );
        let _ = writeln!(
            out,
            "switchyard_bytes_total{{direction=\"upstream_to_client\"}} {}",
            self.bytes_upstream_to_client.load(Relaxed)
        );
        head(
            &mut out,
            "switchyard_queries_total",
            "counter",
            "Queries by protocol (Query, Execute, FunctionCall messages).",
        );
        for (i, p) in ["simple", "extended", "function_call"].iter().enumerate() {
            let _ = writeln!(out, "switchyard_queries_total{{protocol=\"{p}\"}} {}", self.queries[i].load(Relaxed));
        }
        head(
            &mut out,
            "switchyard_request_duration_seconds",
            "histogram",
            "Time from a client's request (Query, Sync, FunctionCall) to its ReadyForQuery.",
        );
        let mut cumulative = 0;
        for (i, b) in self.request_duration.buckets.iter().enumerate() {
            cumulative += b.load(Relaxed);
            let le = BUCKETS.get(i).map_or_else(|| "+Inf".to_owned(), |b| b.to_string());
            let _ = writeln!(out, "switchyard_request_duration_seconds_bucket{{le=\"{le}\"}} {cumulative}");
        }
        let sum = self.request_duration.sum_nanos.load(Relaxed) as f64 / 1e9;
        let _ = writeln!(out, "switchyard_request_duration_seconds_sum {sum}");
        let _ = writeln!(out, "switchyard_request_duration_seconds_count {cumulative}");
        head(
            &mut out,
            "switchyard_errors_total",
            "counter",
            "Sessions ended by an error, and failed cancels, by kind.",
        );
        for (i, k) in ERROR_KINDS.iter().enumerate() {
            let _ = writeln!(out, "switchyard_errors_total{{kind=\"{k}\"}} {}", self.errors[i].load(Relaxed));
        }
        head(
            &mut out,
            "switchyard_statements_routed_total",
            "counter",
            "Statements that may touch the migrated table, by what the router did with them.",
        );
        for (i, a) in ROUTE_ACTIONS.iter().enumerate() {
            let _ =
                writeln!(out, "switchyard_statements_routed_total{{action=\"{a}\"}} {}", self.routed[i].load(Relaxed));
        }
        head(
            &mut out,
            "switchyard_shadow_reads_total",
            "counter",
            "Sampled reads of the migrated table compared in their legacy and new forms in one snapshot, by outcome \
             (dropped: the shadow queue was full).",
        );
        for (i, o) in SHADOW_OUTCOMES.iter().enumerate() {
            let _ = writeln!(out, "switchyard_shadow_reads_total{{outcome=\"{o}\"}} {}", self.shadow[i].load(Relaxed));
        }
        head(
            &mut out,
            "switchyard_shadow_skipped_total",
            "counter",
            "Sampled reads that cannot be compared deterministically, by reason.",
        );
        for (i, r) in crate::shadow::SKIP_REASONS.iter().enumerate() {
            let _ = writeln!(
                out,
                "switchyard_shadow_skipped_total{{reason=\"{r}\"}} {}",
                self.shadow_skipped[i].load(Relaxed)
            );
        }
        head(&mut out, "switchyard_shadow_queue_length", "gauge", "Shadow reads waiting for a side connection.");
        let _ = writeln!(out, "switchyard_shadow_queue_length {}", self.shadow_queue.load(Relaxed));
        out
    }
}

/// The gauges kept right by [`GaugeGuard`].
#[derive(Debug, Clone, Copy)]
pub enum Gauge {
    ClientConnections,
    UpstreamConnections,
}

/// Holds a gauge up by one while alive.
#[derive(Debug)]
pub struct GaugeGuard {
    metrics: Arc<Metrics>,
    gauge: Gauge,
}

impl GaugeGuard {
    pub fn new(metrics: &Arc<Metrics>, gauge: Gauge) -> Self {
        metrics.gauge(gauge).fetch_add(1, Relaxed);
        GaugeGuard { metrics: Arc::clone(metrics), gauge }
    }
}

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        self.metrics.gauge(self.gauge).fetch_sub(1, Relaxed);
    }
}

impl Metrics {
    fn gauge(&self, g: Gauge) -> &AtomicI64 {
        match g {
            Gauge::ClientConnections => &self.client_connections,
            Gauge::UpstreamConnections => &self.upstream_connections,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_cumulative_histogram_buckets() {
        let m = Metrics::default();
        m.observe_request(Duration::from_micros(300));
        m.observe_request(Duration::from_secs(60));
        m.error("client_protocol");
        let text = m.render();
        assert!(text.contains("switchyard_request_duration_seconds_bucket{le=\"0.0005\"} 1"), "{text}");
        assert!(text.contains("switchyard_request_duration_seconds_bucket{le=\"+Inf\"} 2"), "{text}");
        assert!(text.contains("switchyard_errors_total{kind=\"client_protocol\"} 1"), "{text}");
    }
}
