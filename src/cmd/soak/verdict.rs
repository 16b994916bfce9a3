//! The soak's end: the independent comparison of both schemas, the merged
//! ledger in both, the clients' findings and errors (connection errors
//! excused only inside a fault window), and the last line.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use switchyard_workload::soak::{ErrorKind, FindingKind, SoakRun};
use tokio_postgres::Client;
use uuid::Uuid;

/// After a fault ends, connection errors are still excused this long (a
/// client's reconnect backoff, a proxy's watcher noticing the restart).
const GRACE: Duration = Duration::from_secs(10);

/// What happened when: faults and phases.
#[derive(Default)]
pub struct Timeline {
    pub faults: Vec<(String, Instant, Instant)>,
    phases: Vec<(Instant, String)>,
}

impl Timeline {
    pub fn phase(&mut self, name: &str) {
        self.phases.push((Instant::now(), name.to_string()));
    }

    pub fn fault(&mut self, name: String, started: Instant) {
        println!("  fault: {name} ({} ms)", started.elapsed().as_millis());
        self.faults.push((name, started, Instant::now()));
    }

    fn phase_at(&self, at: Instant) -> &str {
        self.phases.iter().rev().find(|(t, _)| *t <= at).map_or("setup", |(_, p)| p.as_str())
    }

    fn in_fault(&self, at: Instant) -> bool {
        self.faults.iter().any(|(_, s, e)| at >= *s && at <= *e + GRACE)
    }
}

/// The soak's numbers.
pub struct Verdict {
    pub ops: u64,
    pub faults: usize,
    pub lost: usize,
    pub divergent: usize,
    pub errors: usize,
}

impl Verdict {
    pub fn line(&self) -> String {
        format!(
            "soak: {} ops, {} faults, lost={} divergent={} errors={}",
            self.ops, self.faults, self.lost, self.divergent, self.errors
        )
    }
}

/// Ids on which legacy and the new schema differ over the legacy columns,
/// or which both new tables hold.
async fn divergent_ids(client: &Client) -> anyhow::Result<BTreeSet<Uuid>> {
    let cols = "id, user_id, project_id, parent_todo_id, title, description, status, priority, due_date, \
                ai_generated, tags, metadata, created_at, updated_at, completed_at";
    let sql = format!(
        "WITH l AS (SELECT {cols} FROM todos),
              n AS (SELECT {cols} FROM todos_active UNION ALL SELECT {cols} FROM todos_archived)
         SELECT id FROM (SELECT * FROM l EXCEPT ALL SELECT * FROM n) x
         UNION SELECT id FROM (SELECT * FROM n EXCEPT ALL SELECT * FROM l) y
         UNION SELECT id FROM todos_active a JOIN todos_archived r USING (id)"
    );
    Ok(client.query(&sql, &[]).await?.iter().map(|r| r.get(0)).collect())
}

pub async fn judge(client: &Client, run: &SoakRun, timeline: &Timeline, verify_code: i32) -> anyhow::Result<Verdict> {
    println!("\n== verdict");
    let mut lost: BTreeSet<Uuid> = BTreeSet::new();
    let mut divergent: BTreeSet<Uuid> = BTreeSet::new();
    for f in &run.findings {
        let set = if f.kind == FindingKind::Lost { &mut lost } else { &mut divergent };
        set.insert(f.id);
    }
    report_findings(run, timeline);
    let problems = run.check_at_end(client).await?;
    println!(
        "  the ledger ({} todos) read back from both schemas at the end: {} problems",
        run.ledger.len(),
        problems.len()
    );
    for (kind, id, _) in &problems {
        let set = if *kind == FindingKind::Lost { &mut lost } else { &mut divergent };
        set.insert(*id);
    }
    for (_, _, detail) in problems.iter().take(5) {
        println!("    {detail}");
    }
    let at_end = divergent_ids(client).await?;
    println!("  independent comparison of both schemas: {} ids differ", at_end.len());
    for id in at_end.iter().take(5) {
        println!("    {id}");
    }
    divergent.extend(at_end);
    if verify_code == 0 {
        println!("  switchyard verify exited 0");
    } else {
        // Counted once, under an id no todo has, beside the todos it found.
        println!("  switchyard verify exited {verify_code}: counted as one more divergence");
        divergent.insert(Uuid::nil());
    }
    let c = &run.counts;
    println!(
        "  {} ops ({} commits, {} reads checked, {} held open across a flip); in doubt: {} committed, {} not (each all-or-nothing unless listed above)",
        c.ops, c.committed, c.reads, c.held, c.in_doubt_committed, c.in_doubt_aborted
    );
    println!("  by operation: {:?}", c.by_op);
    let errors = report_errors(run, timeline);
    Ok(Verdict { ops: c.ops, faults: timeline.faults.len(), lost: lost.len(), divergent: divergent.len(), errors })
}

fn report_findings(run: &SoakRun, timeline: &Timeline) {
    // A todo found wrong stays wrong for every later check: its first
    // finding says when and after what it broke.
    let mut first: BTreeSet<(FindingKind, Uuid)> = BTreeSet::new();
    let mut by: BTreeMap<(FindingKind, &str, &str, bool), Vec<&str>> = BTreeMap::new();
    for f in run.findings.iter().filter(|f| first.insert((f.kind, f.id))) {
        by.entry((f.kind, timeline.phase_at(f.at), f.op, f.in_doubt)).or_default().push(&f.detail);
    }
    println!(
        "  findings at commit time: {} ({} todos, counted below where first found)",
        run.findings.len(),
        first.len()
    );
    for ((kind, phase, op, in_doubt), details) in by {
        let doubt = if in_doubt { ", after an in-doubt commit" } else { "" };
        println!("    {kind:?} in {phase} after {op}{doubt}: {}; e.g. {}", details.len(), details[0]);
    }
}

/// Prints errors by kind and phase; returns how many count (all but
/// connection errors inside fault windows).
fn report_errors(run: &SoakRun, timeline: &Timeline) -> usize {
    let mut by: BTreeMap<(ErrorKind, bool, &str), (usize, &str)> = BTreeMap::new();
    let mut counted = 0;
    for e in &run.errors {
        let excused = e.kind == ErrorKind::Connection && timeline.in_fault(e.at);
        counted += usize::from(!excused);
        let slot = by.entry((e.kind, excused, timeline.phase_at(e.at))).or_insert((0, &e.message));
        slot.0 += 1;
    }
    println!("  client errors: {} ({counted} counted)", run.errors.len());
    for ((kind, excused, phase), (n, example)) in by {
        let window = if excused { "inside a fault window" } else { "outside fault windows" };
        println!("    {} in {phase}, {window}: {n}; e.g. {example}", kind.name());
    }
    counted
}
