//! Refusals (invariant I4): the messages a client sees, with SQLSTATE 0A000,
//! when a statement touching the legacy table cannot be planned safely.
//! Each names the construct; nothing of a refused statement runs.

use crate::plan::Phase;

/// Why a statement is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("switchyard: a statement touching {table} does not parse, so it cannot be rewritten safely ({detail})")]
    Unparsable { table: String, detail: String },
    #[error("switchyard: {construct} on {table} is not allowed while {table} is being migrated (phase {phase})")]
    Ddl { construct: String, table: String, phase: Phase },
    #[error("switchyard: COPY into {table} is not supported during the migration (phase {phase}); use INSERT")]
    CopyInto { table: String, phase: Phase },
    #[error("switchyard: {construct} is not supported in phase {phase}")]
    NotCovered { construct: String, phase: Phase },
    #[error("switchyard: several statements in one query string touch {table}; send them one at a time")]
    MultiStatement { table: String },
}
