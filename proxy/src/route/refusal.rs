//! What the proxy sends in place of a statement it will not run: a `DO`
//! block raising the SQLSTATE, so PostgreSQL itself reports the error,
//! aborts the transaction block and skips to Sync as for any failed
//! statement, and nothing of the refused statement runs.

use switchyard_rewriter::Plan;

use crate::route::phase_gate::{PHASE_UNKNOWN_MESSAGE, PHASE_UNKNOWN_SQLSTATE};

/// A `DO` block raising SQLSTATE 0A000 with the plan's reason.
pub fn refusal_sql(plan: &Plan) -> String {
    let reason = plan.reason.as_deref().unwrap_or("switchyard cannot run this statement safely during the migration");
    raise_sql(switchyard_rewriter::REFUSAL_SQLSTATE, reason)
}

/// A `DO` block raising SQLSTATE 57P03: the phase is not known.
pub(super) fn phase_unknown_sql() -> String {
    raise_sql(PHASE_UNKNOWN_SQLSTATE, PHASE_UNKNOWN_MESSAGE)
}

/// A `DO` block raising `sqlstate` with `message`. The message may quote the
/// client's statement, so it goes in an `E''` literal (which means the same
/// whatever `standard_conforming_strings` says) inside a dollar-quoted body
/// whose tag the literal does not contain.
pub(crate) fn raise_sql(sqlstate: &str, message: &str) -> String {
    let literal = format!("E'{}'", message.replace('\\', "\\\\").replace('\'', "''"));
    let mut tag = String::from("$sy_refusal$");
    for n in 1.. {
        if !literal.contains(&tag) {
            break;
        }
        tag = format!("$sy_refusal{n}$");
    }
    format!("DO {tag} BEGIN RAISE EXCEPTION USING ERRCODE = '{sqlstate}', MESSAGE = {literal}; END {tag}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_quote_their_reason_as_an_escape_literal_under_a_fresh_tag() {
        let plan = Plan::refuse(r"can't TRUNCATE todos; \' it's $sy_refusal$ tricky");
        let sql = refusal_sql(&plan);
        assert!(sql.contains("ERRCODE = '0A000'"));
        assert!(sql.contains(r"MESSAGE = E'can''t TRUNCATE todos; \\'' it''s $sy_refusal$ tricky';"), "{sql}");
        assert!(sql.starts_with("DO $sy_refusal1$ ") && sql.ends_with(" END $sy_refusal1$"), "{sql}");
        assert_eq!(sql.matches("$sy_refusal1$").count(), 2);
    }
}
