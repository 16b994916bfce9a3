//! Counting while the workload runs: per-client latency histograms (merged
//! at the end, so the hot path takes no lock), shared atomic counters the
//! caller can snapshot at any time (per-phase error counts), and a capped
//! sample of error messages.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::op::{Op, Protocol};

/// Counters shared by every client, updated with relaxed atomics.
#[derive(Debug)]
pub struct LiveCounters {
    ok: [AtomicU64; Op::COUNT],
    errors: [AtomicU64; Op::COUNT],
    connect_errors: AtomicU64,
    /// Index of the current phase mark (0 before any).
    phase: AtomicUsize,
    samples: Mutex<Vec<ErrorSample>>,
    started: Instant,
}

/// Counts at one moment; subtract two with [`Snapshot::since`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Snapshot {
    pub ok: [u64; Op::COUNT],
    pub errors: [u64; Op::COUNT],
    /// Failed attempts to (re)connect.
    pub connect_errors: u64,
}

impl Snapshot {
    /// What happened between `earlier` and this snapshot.
    pub fn since(&self, earlier: &Snapshot) -> Snapshot {
        let mut d = Snapshot::default();
        for i in 0..Op::COUNT {
            d.ok[i] = self.ok[i].saturating_sub(earlier.ok[i]);
            d.errors[i] = self.errors[i].saturating_sub(earlier.errors[i]);
        }
        d.connect_errors = self.connect_errors.saturating_sub(earlier.connect_errors);
        d
    }

    /// Failed operations of every kind, and failed connection attempts.
    pub fn errors_total(&self) -> u64 {
        self.errors.iter().sum::<u64>() + self.connect_errors
    }

    /// Successful operations of every kind.
    pub fn ok_total(&self) -> u64 {
        self.ok.iter().sum()
    }

    /// Successful operations of one kind.
    pub fn ok_of(&self, op: Op) -> u64 {
        self.ok[op.index()]
    }

    /// Failed operations of one kind.
    pub fn errors_of(&self, op: Op) -> u64 {
        self.errors[op.index()]
    }
}

/// One failed operation's message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorSample {
    /// The operation, or `None` for a failed connection attempt.
    pub op: Option<Op>,
    /// The phase mark current when it failed (0: before the first mark).
    pub phase: usize,
    /// Seconds since the start of the run.
    pub at_s: f64,
    pub message: String,
}

/// How many error messages are kept per operation and per phase.
pub(crate) const SAMPLES_PER_KEY: usize = 5;
const MAX_SAMPLES: usize = 1_000;

impl LiveCounters {
    pub(crate) fn new() -> LiveCounters {
        LiveCounters {
            ok: Default::default(),
            errors: Default::default(),
            connect_errors: AtomicU64::new(0),
            phase: AtomicUsize::new(0),
            samples: Mutex::new(Vec::new()),
            started: Instant::now(),
        }
    }

    /// The counts now.
    pub fn snapshot(&self) -> Snapshot {
        let mut s = Snapshot::default();
        for i in 0..Op::COUNT {
            s.ok[i] = self.ok[i].load(Ordering::Relaxed);
            s.errors[i] = self.errors[i].load(Ordering::Relaxed);
        }
        s.connect_errors = self.connect_errors.load(Ordering::Relaxed);
        s
    }

    pub(crate) fn ok(&self, op: Op) {
        self.ok[op.index()].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn error(&self, op: Op, message: String) {
        self.errors[op.index()].fetch_add(1, Ordering::Relaxed);
        self.sample(Some(op), message);
    }

    pub(crate) fn connect_error(&self, message: String) {
        self.connect_errors.fetch_add(1, Ordering::Relaxed);
        self.sample(None, message);
    }

    fn sample(&self, op: Option<Op>, message: String) {
        let phase = self.phase.load(Ordering::Relaxed);
        let Ok(mut samples) = self.samples.lock() else {
            return;
        };
        if samples.len() >= MAX_SAMPLES {
            return;
        }
        let same_op = samples.iter().filter(|s| s.op == op).count();
        let same_phase = samples.iter().filter(|s| s.phase == phase).count();
        if same_op < SAMPLES_PER_KEY || same_phase < SAMPLES_PER_KEY {
            samples.push(ErrorSample { op, phase, at_s: self.started.elapsed().as_secs_f64(), message });
        }
    }

    pub(crate) fn set_phase(&self, index: usize) {
        self.phase.store(index, Ordering::Relaxed);
    }

    /// The error messages kept so far.
    pub fn samples(&self) -> Vec<ErrorSample> {
        self.samples.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

/// One client's numbers for one operation.
#[derive(Debug, Clone)]
pub(crate) struct OpStats {
    /// Latency of successful operations, microseconds.
    pub(crate) latency: Histogram<u64>,
    pub(crate) ok: u64,
    pub(crate) errors: u64,
    pub(crate) extended: u64,
    pub(crate) simple: u64,
}

impl OpStats {
    fn new() -> OpStats {
        // 1 µs .. 1 h at two significant digits: a few KB per histogram.
        let latency = Histogram::new_with_bounds(1, 3_600_000_000, 2).expect("constant, valid histogram bounds");
        OpStats { latency, ok: 0, errors: 0, extended: 0, simple: 0 }
    }
}

/// One client's numbers.
#[derive(Debug, Clone)]
pub(crate) struct ClientStats {
    pub(crate) ops: Vec<OpStats>,
    pub(crate) reconnects: u64,
    pub(crate) extended_statements: u64,
    pub(crate) simple_statements: u64,
}

impl ClientStats {
    pub(crate) fn new() -> ClientStats {
        ClientStats {
            ops: (0..Op::COUNT).map(|_| OpStats::new()).collect(),
            reconnects: 0,
            extended_statements: 0,
            simple_statements: 0,
        }
    }

    pub(crate) fn record(&mut self, op: Op, proto: Protocol, micros: u64, ok: bool) {
        let s = &mut self.ops[op.index()];
        match proto {
            Protocol::Extended => s.extended += 1,
            Protocol::Simple => s.simple += 1,
        }
        if ok {
            s.ok += 1;
            s.latency.saturating_record(micros.max(1));
        } else {
            s.errors += 1;
        }
    }

    pub(crate) fn merge(&mut self, other: &ClientStats) {
        for (a, b) in self.ops.iter_mut().zip(&other.ops) {
            let _ = a.latency.add(&b.latency);
            a.ok += b.ok;
            a.errors += b.errors;
            a.extended += b.extended;
            a.simple += b.simple;
        }
        self.reconnects += other.reconnects;
        self.extended_statements += other.extended_statements;
        self.simple_statements += other.simple_statements;
    }
}
