//! `switchyard verify`: a faithful copy verifies clean, every kind of
//! difference injected into the new tables is found with its id and kind,
//! and the reports CI reads (JUnit, JSON, Markdown) parse and agree.

/// Seeded, copied databases and the verify process.
mod common;

/// Each kind of difference, and the clean run the phase guard reads.
mod differences;

/// JUnit, JSON and Markdown reports; exit status when it cannot run.
mod reports;

/// Chunk boundaries and pacing.
mod chunks;

/// Concurrent mirrored writes, archival and backfill.
mod under_load;

/// Representative reads in the rewriter's two forms.
mod reads;
