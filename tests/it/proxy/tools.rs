use std::path::PathBuf;
use std::process::{Command, Output};

use super::common::start;
use crate::support;

fn tool(name: &str) -> PathBuf {
    match &switchyard_localpg::shared().cluster {
        Some(c) => c.tool(name),
        None => switchyard_localpg::find_binary(name).unwrap_or_else(|| PathBuf::from(name)),
    }
}

/// Runs a command off the async runtime, returning its output.
async fn run(mut cmd: Command) -> Output {
    tokio::task::spawn_blocking(move || cmd.output().unwrap_or_else(|e| panic!("running {cmd:?}: {e}")))
        .await
        .expect("blocking task")
}

fn psql(url: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(tool("psql"));
    cmd.arg(url).args(["-X", "-A"]).args(args).env("PGCONNECT_TIMEOUT", "10");
    cmd
}

const SCRIPT: &str = "
CREATE TABLE t (id serial PRIMARY KEY, body text NOT NULL, n numeric);
INSERT INTO t (body, n) SELECT 'row ' || g, g / 7.0 FROM generate_series(1, 500) g;
SELECT count(*), sum(n) FROM t;
BEGIN;
UPDATE t SET body = upper(body) WHERE id % 3 = 0;
SAVEPOINT s;
SELECT 1/0;
ROLLBACK TO s;
DELETE FROM t WHERE id > 490 RETURNING id;
COMMIT;
SELECT body FROM t ORDER BY id DESC LIMIT 3;
SELECT * FROM missing_table;
DO $$ BEGIN RAISE NOTICE 'hello %', 42; END $$;
SELECT 'multi'; SELECT 'statement'; SELECT 'line';
\\copy (SELECT id, body FROM t WHERE id < 4 ORDER BY id) TO STDOUT
";

#[tokio::test]
async fn psql_scripts_print_the_same_through_the_proxy_as_directly() {
    let (direct_db, proxied_db) = (support::empty_db().await, support::empty_db().await);
    let proxy = start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let script = dir.path().join("script.sql");
    std::fs::write(&script, SCRIPT).expect("write script");
    let script = script.to_str().expect("utf8 path");
    let direct = run(psql(&direct_db.url, &["-f", script])).await;
    let proxied = run(psql(&proxy.url(&proxied_db.name), &["-f", script])).await;
    let text =
        |o: &Output| (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned());
    let (d_out, d_err) = text(&direct);
    let (p_out, p_err) = text(&proxied);
    assert!(d_out.contains("ROW 489") && d_out.contains("INSERT 0 500"), "direct output looks right: {d_out}");
    assert!(d_err.contains("division by zero") && d_err.contains("hello 42"), "direct errors: {d_err}");
    assert_eq!(p_out, d_out, "stdout");
    assert_eq!(p_err, d_err, "stderr (errors and notices)");

    let c =
        run(psql(&proxy.url(&proxied_db.name), &["-t", "-c", "SELECT count(*) FROM t WHERE body LIKE 'ROW%'"])).await;
    assert!(c.status.success(), "{}", String::from_utf8_lossy(&c.stderr));
    assert_eq!(String::from_utf8_lossy(&c.stdout).trim(), "163");
}

#[tokio::test]
async fn psql_copy_works_both_ways_through_the_proxy() {
    let db = support::empty_db().await;
    db.client.batch_execute("CREATE TABLE c (id int, note text)").await.expect("create");
    let proxy = start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("in.csv");
    let output = dir.path().join("out.csv");
    let rows: String = (0..20_000).map(|i| format!("{i},\"note, {i}\"\n")).collect();
    std::fs::write(&input, &rows).expect("write input");
    let url = proxy.url(&db.name);
    let copy_in = format!("\\copy c FROM '{}' WITH (FORMAT csv)", input.display());
    let copy_out = format!("\\copy (SELECT * FROM c ORDER BY id) TO '{}' WITH (FORMAT csv)", output.display());
    let o = run(psql(&url, &["-c", &copy_in])).await;
    assert!(o.status.success(), "copy in: {}", String::from_utf8_lossy(&o.stderr));
    let o = run(psql(&url, &["-c", &copy_out])).await;
    assert!(o.status.success(), "copy out: {}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read_to_string(&output).expect("read output"), rows);
}

/// Sums that a TPC-B-like run keeps equal: every transaction adds the same
/// delta to one account, teller and branch.
async fn balances(db: &support::TestDb) -> (i64, i64, i64, i64) {
    let row = db
        .client
        .query_one(
            "SELECT (SELECT sum(abalance) FROM pgbench_accounts)::int8, (SELECT sum(tbalance) FROM pgbench_tellers)::int8,
                    (SELECT sum(bbalance) FROM pgbench_branches)::int8, (SELECT count(*) FROM pgbench_history)::int8",
            &[],
        )
        .await
        .expect("balances");
    (row.get(0), row.get(1), row.get(2), row.get(3))
}

fn pgbench(url: &str, mode: &str, select_only: bool) -> Command {
    let mut cmd = Command::new(tool("pgbench"));
    cmd.args(["-n", "-c", "4", "-j", "2", "-t", "25", "-M", mode]);
    if select_only {
        cmd.arg("-S");
    }
    cmd.arg(url);
    cmd
}

fn processed(o: &Output) -> String {
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "pgbench failed: {out}\n{}", String::from_utf8_lossy(&o.stderr));
    out.lines()
        .filter(|l| l.starts_with("number of transactions actually processed") || l.starts_with("number of failed"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn pgbench_runs_the_same_through_the_proxy_in_every_query_mode() {
    let db = support::empty_db().await;
    let init = run({
        let mut c = Command::new(tool("pgbench"));
        c.args(["-i", "-s", "1", "-q"]).arg(&db.url);
        c
    })
    .await;
    assert!(init.status.success(), "pgbench -i: {}", String::from_utf8_lossy(&init.stderr));
    let proxy = start().await;
    let through = proxy.url(&db.name);
    let mut history = 0;
    for mode in ["simple", "extended", "prepared"] {
        for select_only in [true, false] {
            let direct = processed(&run(pgbench(&db.url, mode, select_only)).await);
            let proxied = processed(&run(pgbench(&through, mode, select_only)).await);
            assert!(direct.contains("processed: 100/100"), "{mode} direct: {direct}");
            assert_eq!(proxied, direct, "-M {mode} select_only={select_only}");
            if !select_only {
                history += 200;
            }
            let (a, t, b, h) = balances(&db).await;
            assert_eq!((t, b, h), (a, a, history), "-M {mode}: balances agree and every transaction is recorded");
        }
    }
}
