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

/// Whether a refusal's message (a plan's `reason`) says the statement does
/// not parse: PostgreSQL may have an error of its own for it.
pub fn is_unparsable(reason: &str) -> bool {
    reason.starts_with("switchyard: a statement touching ")
        && reason.contains(" does not parse, so it cannot be rewritten")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unparsable_refusals_are_told_apart() {
        let r = Refusal::Unparsable { table: "todos".into(), detail: "sql parser error: x".into() };
        assert!(is_unparsable(&r.to_string()));
        let r = Refusal::MultiStatement { table: "todos".into() };
        assert!(!is_unparsable(&r.to_string()));
    }
}
