//! The shadow comparison: one statement that runs a read's legacy and new
//! forms in one snapshot (so concurrent writes cause no false differences)
//! and counts the rows only one side returns. The proxy's sampled shadow
//! reads and `switchyard verify` both send exactly this statement; this is
//! its only definition.
//!
//! Columns of types without equality (json, point) make it fail with 42883;
//! callers count that as a skip.

use serde::{Serialize, Serializer};

/// The legacy and new forms of one read, with the same parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShadowRead {
    pub legacy: String,
    pub new: String,
}

impl ShadowRead {
    pub fn new(legacy: impl Into<String>, new: impl Into<String>) -> Self {
        ShadowRead { legacy: legacy.into(), new: new.into() }
    }

    /// One row: `legacy_rows, new_rows, only_in_legacy, only_in_new` (bigint).
    pub fn counts_sql(&self) -> String {
        format!("{} SELECT {COUNTS}", self.head())
    }

    /// [`Self::counts_sql`] plus the first `rows` differing rows each way, for
    /// mismatch samples: `sample_only_in_legacy, sample_only_in_new` (jsonb
    /// arrays of row objects, `[]` when none). Still one statement.
    pub fn with_samples_sql(&self, rows: usize) -> String {
        format!(
            "{} SELECT {COUNTS}, \
             (SELECT coalesce(jsonb_agg(to_jsonb(sy_x)), '[]') FROM (SELECT * FROM sy_oa LIMIT {rows}) sy_x) \
               AS sample_only_in_legacy, \
             (SELECT coalesce(jsonb_agg(to_jsonb(sy_y)), '[]') FROM (SELECT * FROM sy_ob LIMIT {rows}) sy_y) \
               AS sample_only_in_new",
            self.head()
        )
    }

    fn head(&self) -> String {
        format!(
            "WITH sy_legacy AS ({}), sy_new AS ({}), \
             sy_oa AS (SELECT * FROM sy_legacy EXCEPT ALL SELECT * FROM sy_new), \
             sy_ob AS (SELECT * FROM sy_new EXCEPT ALL SELECT * FROM sy_legacy)",
            self.legacy, self.new
        )
    }
}

const COUNTS: &str = "(SELECT count(*) FROM sy_legacy) AS legacy_rows, (SELECT count(*) FROM sy_new) AS new_rows, \
     (SELECT count(*) FROM sy_oa) AS only_in_legacy, (SELECT count(*) FROM sy_ob) AS only_in_new";

/// `switchyard rewrite --json` shows the statement that is sent.
impl Serialize for ShadowRead {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.counts_sql())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_forms_share_one_statement_and_samples_extend_the_counts() {
        let r = ShadowRead::new("SELECT 1", "SELECT 2");
        let counts = r.counts_sql();
        assert!(counts.starts_with("WITH sy_legacy AS (SELECT 1), sy_new AS (SELECT 2)"), "{counts}");
        assert!(counts.ends_with("AS only_in_new"), "{counts}");
        let samples = r.with_samples_sql(5);
        assert!(samples.starts_with(counts.as_str()), "{samples}");
        assert!(samples.contains("LIMIT 5"), "{samples}");
    }
}
