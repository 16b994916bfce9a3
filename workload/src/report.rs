//! What a run reports: throughput and latency percentiles per operation and
//! in total, errors with their first messages, statements per protocol,
//! per-phase counts when the caller marked phases, and the ledger.

use std::fmt::Write as _;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::ledger::{Ledger, LedgerSummary};
use crate::op::Op;
use crate::stats::{ErrorSample, OpStats, Snapshot, SAMPLES_PER_KEY};

/// Latency percentiles of successful operations, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Latency {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
    pub mean: f64,
}

impl Latency {
    fn of(h: &Histogram<u64>) -> Latency {
        if h.is_empty() {
            return Latency::default();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Latency {
            p50: ms(h.value_at_quantile(0.50)),
            p90: ms(h.value_at_quantile(0.90)),
            p99: ms(h.value_at_quantile(0.99)),
            max: ms(h.max()),
            mean: h.mean() / 1000.0,
        }
    }
}

/// Counts by wire protocol.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ProtocolCounts {
    /// Prepared statements (Parse once, Bind/Execute with parameters).
    pub extended: u64,
    /// Query messages with inlined literals.
    pub simple: u64,
}

/// One operation's numbers (or the total's, named `total`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OpSummary {
    pub op: String,
    /// Successful operations.
    pub ops: u64,
    pub ops_per_s: f64,
    pub errors: u64,
    pub latency_ms: Latency,
    /// Operations attempted with each protocol.
    pub by_protocol: ProtocolCounts,
    /// The first few error messages.
    pub first_errors: Vec<String>,
}

/// The counts between two phase marks.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PhaseSummary {
    /// The label given to [`crate::WorkloadHandle::mark`]; `start` before the first mark.
    pub label: String,
    /// Seconds from the start of the run.
    pub from_s: f64,
    pub duration_s: f64,
    pub ops: u64,
    pub errors: u64,
    /// Failed operations by kind, kinds without failures left out.
    pub errors_by_op: std::collections::BTreeMap<String, u64>,
    pub ops_per_s: f64,
    pub first_errors: Vec<String>,
}

/// Everything a run measured, and its ledger.
#[derive(Debug, Clone, Serialize)]
pub struct WorkloadReport {
    pub clients: usize,
    pub elapsed_s: f64,
    pub total: OpSummary,
    pub operations: Vec<OpSummary>,
    /// Statements sent, by protocol (BEGIN/COMMIT/ROLLBACK included).
    pub statements: ProtocolCounts,
    pub reconnects: u64,
    /// Failed connection attempts (not counted in any operation).
    pub connect_errors: u64,
    /// The first few failed connection attempts' messages.
    pub first_connect_errors: Vec<String>,
    pub phases: Vec<PhaseSummary>,
    pub ledger_summary: LedgerSummary,
    /// Every acknowledged write; check it with [`Ledger::check`].
    #[serde(skip)]
    pub ledger: Ledger,
}

/// A phase mark: label, seconds from the start, counts at that moment.
#[derive(Debug, Clone)]
pub(crate) struct Mark {
    pub(crate) label: String,
    pub(crate) at_s: f64,
    pub(crate) snapshot: Snapshot,
}

pub(crate) struct Parts<'a> {
    pub(crate) clients: usize,
    pub(crate) elapsed_s: f64,
    pub(crate) ops: &'a [OpStats],
    pub(crate) statements: ProtocolCounts,
    pub(crate) reconnects: u64,
    pub(crate) marks: &'a [Mark],
    pub(crate) end: Snapshot,
    pub(crate) samples: &'a [ErrorSample],
    pub(crate) ledger: Ledger,
}

/// Operations per second, 0 over no time.
fn rate(n: u64, s: f64) -> f64 {
    if s > 0.0 {
        n as f64 / s
    } else {
        0.0
    }
}

/// The first messages of the error samples `keep` selects.
fn first_messages(samples: &[ErrorSample], keep: impl Fn(&ErrorSample) -> bool) -> Vec<String> {
    samples.iter().filter(|e| keep(e)).take(SAMPLES_PER_KEY).map(|e| e.message.clone()).collect()
}

/// One summary per operation kind, in [`Op::ALL`] order, and their total.
fn operation_summaries(p: &Parts<'_>) -> (Vec<OpSummary>, OpSummary) {
    let mut all = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 2).expect("constant, valid histogram bounds");
    let mut total = OpSummary {
        op: "total".into(),
        ops: 0,
        ops_per_s: 0.0,
        errors: 0,
        latency_ms: Latency::default(),
        by_protocol: ProtocolCounts::default(),
        first_errors: Vec::new(),
    };
    let mut operations = Vec::with_capacity(Op::COUNT);
    for op in Op::ALL {
        let s = &p.ops[op.index()];
        let _ = all.add(&s.latency);
        let first_errors = first_messages(p.samples, |e| e.op == Some(op));
        total.ops += s.ok;
        total.errors += s.errors;
        total.by_protocol.extended += s.extended;
        total.by_protocol.simple += s.simple;
        if total.first_errors.len() < SAMPLES_PER_KEY {
            total.first_errors.extend(first_errors.iter().take(SAMPLES_PER_KEY - total.first_errors.len()).cloned());
        }
        operations.push(OpSummary {
            op: op.name().into(),
            ops: s.ok,
            ops_per_s: rate(s.ok, p.elapsed_s),
            errors: s.errors,
            latency_ms: Latency::of(&s.latency),
            by_protocol: ProtocolCounts { extended: s.extended, simple: s.simple },
            first_errors,
        });
    }
    total.ops_per_s = rate(total.ops, p.elapsed_s);
    total.latency_ms = Latency::of(&all);
    (operations, total)
}

/// The counts between consecutive phase marks (the first phase, `start`,
/// from the beginning); none when the caller marked no phase.
fn phase_summaries(p: &Parts<'_>) -> Vec<PhaseSummary> {
    if p.marks.is_empty() {
        return Vec::new();
    }
    let start = Mark { label: "start".into(), at_s: 0.0, snapshot: Snapshot::default() };
    let bounds: Vec<&Mark> = std::iter::once(&start).chain(p.marks).collect();
    let mut phases = Vec::with_capacity(bounds.len());
    for (i, m) in bounds.iter().enumerate() {
        let (to_s, to) = bounds.get(i + 1).map_or((p.elapsed_s, p.end), |n| (n.at_s, n.snapshot));
        let d = to.since(&m.snapshot);
        let duration_s = (to_s - m.at_s).max(0.0);
        phases.push(PhaseSummary {
            label: m.label.clone(),
            from_s: m.at_s,
            duration_s,
            ops: d.ok_total(),
            errors: d.errors_total(),
            errors_by_op: Op::ALL
                .iter()
                .filter(|op| d.errors_of(**op) > 0)
                .map(|op| (op.name().to_string(), d.errors_of(*op)))
                .chain((d.connect_errors > 0).then(|| ("connect".to_string(), d.connect_errors)))
                .collect(),
            ops_per_s: rate(d.ok_total(), duration_s),
            first_errors: first_messages(p.samples, |e| e.phase == i),
        });
    }
    phases
}

impl WorkloadReport {
    pub(crate) fn build(p: Parts<'_>) -> WorkloadReport {
        let (operations, total) = operation_summaries(&p);
        let phases = phase_summaries(&p);
        WorkloadReport {
            clients: p.clients,
            elapsed_s: p.elapsed_s,
            total,
            operations,
            statements: p.statements,
            reconnects: p.reconnects,
            connect_errors: p.end.connect_errors,
            first_connect_errors: first_messages(p.samples, |e| e.op.is_none()),
            phases,
            ledger_summary: p.ledger.summary(),
            ledger: p.ledger,
        }
    }

    /// One operation's numbers.
    pub fn op(&self, op: Op) -> &OpSummary {
        &self.operations[op.index()]
    }

    /// Failed operations and connection attempts in all.
    pub fn errors(&self) -> u64 {
        self.total.errors + self.connect_errors
    }

    /// The report as JSON (the ledger itself is left out; its summary is in).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }

    /// The report as a table for people.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let _ = self.write_text(&mut out);
        out
    }

    fn write_text(&self, out: &mut String) -> std::fmt::Result {
        writeln!(
            out,
            "workload: {} clients, {:.1} s, {} operations ({:.1} ops/s), {} errors",
            self.clients,
            self.elapsed_s,
            self.total.ops,
            self.total.ops_per_s,
            self.errors()
        )?;
        self.write_operations(out)?;
        writeln!(
            out,
            "statements sent: {} extended (prepared), {} simple; reconnects: {}; failed connection attempts: {}",
            self.statements.extended, self.statements.simple, self.reconnects, self.connect_errors
        )?;
        let l = &self.ledger_summary;
        writeln!(
            out,
            "ledger: {} todos present, {} deleted, {} refused creates, {} uncertain",
            l.present, l.deleted, l.rejected, l.uncertain
        )?;
        self.write_phases(out)?;
        self.write_first_errors(out)
    }

    /// The table: one line per operation, then the total.
    fn write_operations(&self, out: &mut String) -> std::fmt::Result {
        writeln!(
            out,
            "{:<11} {:>9} {:>9} {:>8} {:>8} {:>8} {:>9} {:>7}  {:>15}",
            "operation", "ops", "ops/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "errors", "extended/simple"
        )?;
        for s in self.operations.iter().chain(std::iter::once(&self.total)) {
            let l = &s.latency_ms;
            writeln!(
                out,
                "{:<11} {:>9} {:>9.1} {:>8.2} {:>8.2} {:>8.2} {:>9.2} {:>7}  {:>15}",
                s.op,
                s.ops,
                s.ops_per_s,
                l.p50,
                l.p90,
                l.p99,
                l.max,
                s.errors,
                format!("{}/{}", s.by_protocol.extended, s.by_protocol.simple)
            )?;
        }
        Ok(())
    }

    fn write_phases(&self, out: &mut String) -> std::fmt::Result {
        if self.phases.is_empty() {
            return Ok(());
        }
        writeln!(out, "phases:")?;
        for ph in &self.phases {
            writeln!(
                out,
                "  {:<14} from {:>6.1} s for {:>6.1} s: {:>8} ops ({:.1} ops/s), {} errors",
                ph.label, ph.from_s, ph.duration_s, ph.ops, ph.ops_per_s, ph.errors
            )?;
        }
        Ok(())
    }

    fn write_first_errors(&self, out: &mut String) -> std::fmt::Result {
        let errors: Vec<&String> =
            self.operations.iter().flat_map(|o| &o.first_errors).chain(&self.first_connect_errors).collect();
        if errors.is_empty() {
            return Ok(());
        }
        writeln!(out, "first errors:")?;
        for e in errors {
            writeln!(out, "  {e}")?;
        }
        Ok(())
    }
}
