//! Running the representative reads of [`crate::queries`]: each read's two
//! forms in one statement inside a READ ONLY transaction, its row counts
//! each way, and a `query_mismatch` difference when a row is on one side
//! only. A read the rewriter gave no new form for is reported unrun.

use std::time::Instant;

use switchyard_pgconn::describe_pg_error;
use tokio_postgres::Client;

use crate::diff::{Difference, DifferenceKind};
use crate::queries::Query;
use crate::report::{CheckResult, Report};
use crate::verify::count;

/// Runs every read in order on `client`, recording each as a check.
pub(crate) async fn run_all(client: &mut Client, queries: &[Query], report: &mut Report) {
    for q in queries {
        let (result, difference) = run_query(client, q).await;
        if let Some(d) = difference {
            report.add_difference(d);
        }
        report.add_check(result);
    }
}

async fn run_query(client: &mut Client, q: &Query) -> (CheckResult, Option<Difference>) {
    let started = Instant::now();
    let name = format!("query {}", q.name);
    let forms = match &q.compare {
        Ok(forms) => forms,
        Err(why) => return (CheckResult { name, error: Some(why.to_string()), ..CheckResult::default() }, None),
    };
    let outcome = async {
        // Read only: a statement in the file can never write.
        let tx = client.build_transaction().read_only(true).start().await?;
        let row = tx.query_one(&forms.counts_sql(), &[]).await?;
        tx.rollback().await?;
        Ok::<_, tokio_postgres::Error>((
            count(&row, "legacy_rows")?,
            count(&row, "new_rows")?,
            count(&row, "only_in_legacy")?,
            count(&row, "only_in_new")?,
        ))
    }
    .await;
    let mut result =
        CheckResult { name: name.clone(), seconds: started.elapsed().as_secs_f64(), ..CheckResult::default() };
    match outcome {
        Err(e) => {
            result.error = Some(describe_pg_error(&e));
            (result, None)
        }
        Ok((legacy, new, only_legacy, only_new)) => {
            let detail =
                format!("legacy {legacy} rows, new {new} rows, only in legacy {only_legacy}, only in new {only_new}");
            result.detail = Some(detail.clone());
            if only_legacy + only_new == 0 {
                return (result, None);
            }
            result.differences = 1;
            let d = Difference {
                kind: DifferenceKind::QueryMismatch,
                id: q.name.clone(),
                columns: vec![],
                table: None,
                detail: Some(detail),
                check: name,
            };
            (result, Some(d))
        }
    }
}
