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

/// A closed set of label values: an enum, its `ALL` list (the order its
/// counters are kept and rendered in) and each value's label text.
macro_rules! labels {
    ($(#[$m:meta])* $name:ident { $($variant:ident => $label:literal),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name { $($variant),* }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),*];
            const COUNT: usize = Self::ALL.len();

            /// The label value as exported.
            pub fn label(self) -> &'static str {
                match self { $($name::$variant => $label),* }
            }
        }
    };
}

labels! {
    /// `switchyard_errors_total{kind}`: what ended a session, or a failed cancel.
    ErrorKind {
        ClientProtocol => "client_protocol",
        ClientMessageTooLarge => "client_message_too_large",
        UpstreamProtocol => "upstream_protocol",
        ClientIo => "client_io",
        UpstreamIo => "upstream_io",
        UpstreamConnect => "upstream_connect",
        ClientTls => "client_tls",
        TooManyClients => "too_many_clients",
        StartupTimeout => "startup_timeout",
        Shutdown => "shutdown",
        Cancel => "cancel",
    }
}

labels! {
    /// `switchyard_statements_routed_total{action}`: what the router did.
    RouteAction {
        Passthrough => "passthrough",
        Rewrite => "rewrite",
        Refuse => "refuse",
    }
}

labels! {
    /// `switchyard_shadow_reads_total{outcome}` (dropped: the queue was full).
    ShadowOutcome {
        Match => "match",
        Mismatch => "mismatch",
        Skipped => "skipped",
        Dropped => "dropped",
        Error => "error",
    }
}

labels! {
    /// `switchyard_shadow_skipped_total{reason}`: why a read was not compared.
    SkipReason {
        LimitWithoutTotalOrder => "limit_without_total_order",
        VolatileFunction => "volatile_function",
        LockingRead => "locking_read",
        TypeWithoutEquality => "type_without_equality",
        NotComparable => "not_comparable",
        BackfillIncomplete => "backfill_incomplete",
    }
}

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
    errors: [AtomicU64; ErrorKind::COUNT],
    /// Statements the router planned because they may touch the migrated
    /// table, by what it did.
    routed: [AtomicU64; RouteAction::COUNT],
    shadow: [AtomicU64; ShadowOutcome::COUNT],
    shadow_skipped: [AtomicU64; SkipReason::COUNT],
    /// Shadow reads waiting in the queue.
    shadow_queue: AtomicI64,
}

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

    pub fn error(&self, kind: ErrorKind) {
        self.errors[kind as usize].fetch_add(1, Relaxed);
    }

    /// Counts a statement the router planned.
    pub fn routed(&self, action: RouteAction) {
        self.routed[action as usize].fetch_add(1, Relaxed);
    }

    /// The count of `switchyard_statements_routed_total{action}`.
    pub fn routed_count(&self, action: RouteAction) -> u64 {
        self.routed[action as usize].load(Relaxed)
    }

    /// Counts a shadow read.
    pub fn shadow_outcome(&self, outcome: ShadowOutcome) {
        self.shadow[outcome as usize].fetch_add(1, Relaxed);
    }

    /// Counts a skipped shadow read (outcome `skipped`) and its reason.
    pub fn shadow_skipped(&self, reason: SkipReason) {
        self.shadow_outcome(ShadowOutcome::Skipped);
        self.shadow_skipped[reason as usize].fetch_add(1, Relaxed);
    }

    /// Moves the shadow queue gauge.
    pub fn shadow_queued(&self, n: i64) {
        self.shadow_queue.fetch_add(n, Relaxed);
    }

    /// The count of `switchyard_shadow_reads_total{outcome}`.
    pub fn shadow_count(&self, outcome: ShadowOutcome) -> u64 {
        self.shadow[outcome as usize].load(Relaxed)
    }

    /// The count of `switchyard_shadow_skipped_total{reason}`.
    pub fn shadow_skipped_count(&self, reason: SkipReason) -> u64 {
        self.shadow_skipped[reason as usize].load(Relaxed)
    }

    /// The count of `switchyard_errors_total{kind}`.
    pub fn errors(&self, kind: ErrorKind) -> u64 {
        self.errors[kind as usize].load(Relaxed)
    }

    /// Renders everything in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        self.render_connections(&mut out);
        self.render_traffic(&mut out);
        self.render_request_duration(&mut out);
        self.render_routing(&mut out);
        self.render_shadow(&mut out);
        out
    }

    fn render_connections(&self, out: &mut String) {
        let gauge = |out: &mut String, name: &str, help: &str, v: &AtomicI64| {
            head(out, name, "gauge", help);
            let _ = writeln!(out, "{name} {}", v.load(Relaxed));
        };
        gauge(out, "switchyard_client_connections", "Client connections currently open.", &self.client_connections);
        gauge(
            out,
            "switchyard_upstream_connections",
            "Upstream connections currently open.",
            &self.upstream_connections,
        );
        head(out, "switchyard_client_connections_total", "counter", "Client connections accepted since start.");
        let _ = writeln!(out, "switchyard_client_connections_total {}", self.client_connections_total.load(Relaxed));
    }

    fn render_traffic(&self, out: &mut String) {
        head(out, "switchyard_bytes_total", "counter", "Bytes forwarded, by direction.");
        let directions = [
            ("client_to_upstream", &self.bytes_client_to_upstream),
            ("upstream_to_client", &self.bytes_upstream_to_client),
        ];
        labelled(out, "switchyard_bytes_total", "direction", directions.into_iter());
        head(
            out,
            "switchyard_queries_total",
            "counter",
            "Queries by protocol (Query, Execute, FunctionCall messages).",
        );
        let protocols = ["simple", "extended", "function_call"].into_iter().zip(&self.queries);
        labelled(out, "switchyard_queries_total", "protocol", protocols);
    }

    fn render_request_duration(&self, out: &mut String) {
        head(
            out,
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
    }

    fn render_routing(&self, out: &mut String) {
        head(out, "switchyard_errors_total", "counter", "Sessions ended by an error, and failed cancels, by kind.");
        let kinds = ErrorKind::ALL.iter().map(|k| k.label()).zip(&self.errors);
        labelled(out, "switchyard_errors_total", "kind", kinds);
        head(
            out,
            "switchyard_statements_routed_total",
            "counter",
            "Statements that may touch the migrated table, by what the router did with them.",
        );
        let actions = RouteAction::ALL.iter().map(|a| a.label()).zip(&self.routed);
        labelled(out, "switchyard_statements_routed_total", "action", actions);
    }

    fn render_shadow(&self, out: &mut String) {
        head(
            out,
            "switchyard_shadow_reads_total",
            "counter",
            "Sampled reads of the migrated table compared in their legacy and new forms in one snapshot, by outcome \
             (dropped: the shadow queue was full).",
        );
        let outcomes = ShadowOutcome::ALL.iter().map(|o| o.label()).zip(&self.shadow);
        labelled(out, "switchyard_shadow_reads_total", "outcome", outcomes);
        head(
            out,
            "switchyard_shadow_skipped_total",
            "counter",
            "Sampled reads that cannot be compared deterministically, by reason.",
        );
        let reasons = SkipReason::ALL.iter().map(|r| r.label()).zip(&self.shadow_skipped);
        labelled(out, "switchyard_shadow_skipped_total", "reason", reasons);
        head(out, "switchyard_shadow_queue_length", "gauge", "Shadow reads waiting for a side connection.");
        let _ = writeln!(out, "switchyard_shadow_queue_length {}", self.shadow_queue.load(Relaxed));
    }
}

/// A family's `# HELP` and `# TYPE` lines.
fn head(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// One sample per label value: `name{label="value"} count`.
fn labelled<'a>(out: &mut String, name: &str, label: &str, values: impl Iterator<Item = (&'a str, &'a AtomicU64)>) {
    for (value, count) in values {
        let _ = writeln!(out, "{name}{{{label}=\"{value}\"}} {}", count.load(Relaxed));
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
        m.error(ErrorKind::ClientProtocol);
        let text = m.render();
        assert!(text.contains("switchyard_request_duration_seconds_bucket{le=\"0.0005\"} 1"), "{text}");
        assert!(text.contains("switchyard_request_duration_seconds_bucket{le=\"+Inf\"} 2"), "{text}");
        assert!(text.contains("switchyard_errors_total{kind=\"client_protocol\"} 1"), "{text}");
    }
}
