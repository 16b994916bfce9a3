//! The behaviour specifications of Switchyard under faults and hostile
//! input: a proxy that has not read the phase yet, refusals quoting any
//! statement text, side connections over TLS.

mod support;

/// A refusal stays a refusal whatever the refused statement holds.
#[path = "faults/refusals.rs"]
mod refusals;

/// A proxy serves statements touching todos only under a phase it has read.
#[path = "faults/phase.rs"]
mod phase;
