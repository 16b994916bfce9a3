//! The demo's closing report: what moved, how the app fared in each phase,
//! where the rows live now, and the seed's Phase 5.4 measurements redone on
//! this data (partition pruning shown by EXPLAIN).

use std::fmt::Write as _;
use std::time::Duration;

use serde_json::json;
use switchyard_workload::WorkloadReport;
use tokio_postgres::Client;

/// One query of the seed's Phase 5.4, measured.
pub struct Measurement {
    pub name: &'static str,
    pub sql: String,
    pub ms: f64,
    /// Partitions the plan touched, out of those the table has.
    pub partitions_scanned: usize,
    pub partitions_total: usize,
}

pub struct DemoReport {
    pub rows_moved: i64,
    pub verify_clean: Option<bool>,
    pub ledger_clean: bool,
    pub elapsed: Duration,
    pub ops: u64,
    pub errors: u64,
    /// (label, from s, duration s, ops, errors, first errors)
    pub phases: Vec<(String, f64, f64, u64, u64, Vec<String>)>,
    /// (table, partition, rows)
    pub partitions: Vec<(String, String, i64)>,
    pub measurements: Vec<Measurement>,
}

impl DemoReport {
    pub async fn gather(
        client: &Client,
        run: &WorkloadReport,
        rows_moved: i64,
        verify_clean: Option<bool>,
        ledger_clean: bool,
        elapsed: Duration,
    ) -> anyhow::Result<DemoReport> {
        let phases = run
            .phases
            .iter()
            .map(|p| (p.label.clone(), p.from_s, p.duration_s, p.ops, p.errors, p.first_errors.clone()))
            .collect();
        client.batch_execute("ANALYZE todos_active; ANALYZE todos_archived").await?;
        let partitions = client
            .query(
                "SELECT parent_table, partition_name, live_rows FROM partition_monitor
                 WHERE parent_table <> 'ai_todo_interactions' ORDER BY parent_table, partition_name",
                &[],
            )
            .await?
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect();
        let measurements = measure(client).await?;
        Ok(DemoReport {
            rows_moved,
            verify_clean,
            ledger_clean,
            elapsed,
            ops: run.total.ops,
            errors: run.errors(),
            phases,
            partitions,
            measurements,
        })
    }

    /// No workload error, a clean verify, an exact ledger.
    pub fn ok(&self) -> bool {
        self.errors == 0 && self.verify_clean != Some(false) && self.ledger_clean
    }

    pub fn render_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "\n================ switchyard demo report ================");
        let _ = writeln!(s, "rows moved by the backfill: {}", self.rows_moved);
        let _ = writeln!(
            s,
            "verify: {}",
            match self.verify_clean {
                Some(true) => "clean (0 differences)",
                Some(false) => "DIFFERENCES",
                None => "not run",
            }
        );
        let _ = writeln!(
            s,
            "workload: {} operations, {} errors; ledger {}",
            self.ops,
            self.errors,
            if self.ledger_clean { "exact" } else { "MISMATCH" }
        );
        let _ = writeln!(s, "\n{:<12} {:>9} {:>11} {:>8} {:>7}", "phase", "start s", "duration s", "ops", "errors");
        for (label, from, dur, ops, errors, first) in &self.phases {
            let _ = writeln!(s, "{label:<12} {from:>9.1} {dur:>11.1} {ops:>8} {errors:>7}");
            for e in first.iter().take(3) {
                let _ = writeln!(s, "    {e}");
            }
        }
        let _ = writeln!(s, "\npartition distribution (partition_monitor):");
        for (table, part, rows) in &self.partitions {
            let _ = writeln!(s, "  {table:<15} {part:<28} {rows:>8}");
        }
        let _ = writeln!(s, "\nthe seed's Phase 5.4 measurements on this data:");
        for m in &self.measurements {
            let _ = writeln!(
                s,
                "  {:<44} {:>8.3} ms   {} of {} partitions scanned",
                m.name, m.ms, m.partitions_scanned, m.partitions_total
            );
        }
        let _ = writeln!(s, "\ntook {:.1} s; {}", self.elapsed.as_secs_f64(), if self.ok() { "OK" } else { "FAILED" });
        s
    }

    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "ok": self.ok(),
            "rows_moved": self.rows_moved,
            "verify_clean": self.verify_clean,
            "ledger_clean": self.ledger_clean,
            "elapsed_s": self.elapsed.as_secs_f64(),
            "workload": {"ops": self.ops, "errors": self.errors},
            "phases": self.phases.iter().map(|(label, from, dur, ops, errors, first)| json!({
                "phase": label, "from_s": from, "duration_s": dur, "ops": ops, "errors": errors, "first_errors": first,
            })).collect::<Vec<_>>(),
            "partitions": self.partitions.iter().map(|(t, p, n)| json!({"table": t, "partition": p, "rows": n})).collect::<Vec<_>>(),
            "measurements": self.measurements.iter().map(|m| json!({
                "name": m.name, "sql": m.sql, "ms": m.ms,
                "partitions_scanned": m.partitions_scanned, "partitions_total": m.partitions_total,
            })).collect::<Vec<_>>(),
        })
    }
}

/// EXPLAIN ANALYZE of the seed's Phase 5.4 queries, for the busiest user.
async fn measure(client: &Client) -> anyhow::Result<Vec<Measurement>> {
    let user: Option<String> = client
        .query_opt("SELECT user_id::text FROM todos_active GROUP BY user_id ORDER BY count(*) DESC LIMIT 1", &[])
        .await?
        .map(|r| r.get(0));
    let Some(user) = user else {
        return Ok(Vec::new());
    };
    let queries: [(&str, String, &str); 4] = [
        ("a user's todos (with the partition key)", format!("SELECT count(*) FROM todos_active WHERE user_id = '{user}' AND status = 'todo'"), "todos_active"),
        ("status only (no partition key)", "SELECT count(*) FROM todos_active WHERE status = 'todo'".to_string(), "todos_active"),
        (
            "hierarchy walk (with the partition key)",
            format!(
                "WITH RECURSIVE t AS (SELECT id, depth FROM todos_active WHERE user_id = '{user}' AND parent_todo_id IS NULL
                   UNION ALL SELECT c.id, c.depth FROM todos_active c JOIN t ON c.parent_todo_id = t.id WHERE c.user_id = '{user}')
                 SELECT count(*) FROM t"
            ),
            "todos_active",
        ),
        ("archive, last 30 days", "SELECT count(*) FROM todos_archived WHERE archived_at >= now() - interval '30 days'".to_string(), "todos_archived"),
    ];
    let mut out = Vec::new();
    for (name, sql, table) in queries {
        let plan: Vec<String> = client
            .query(&format!("EXPLAIN (ANALYZE) {sql}"), &[])
            .await?
            .iter()
            .map(|r| r.get::<_, String>(0))
            .collect();
        let ms = plan
            .iter()
            .find_map(|l| {
                l.trim().strip_prefix("Execution Time: ").and_then(|v| v.trim_end_matches(" ms").parse().ok())
            })
            .unwrap_or(0.0);
        let partitions: Vec<String> = client
            .query("SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = $1::text::regclass", &[&table])
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
        // A partition counts when a plan line scans it by name (index names
        // begin with the partition's name too, so match whole words).
        let scanned =
            partitions.iter().filter(|p| plan.iter().any(|l| l.split_whitespace().any(|w| w == p.as_str()))).count();
        out.push(Measurement { name, sql, ms, partitions_scanned: scanned, partitions_total: partitions.len() });
    }
    Ok(out)
}
