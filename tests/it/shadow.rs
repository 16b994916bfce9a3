//! Shadow reads in the proxy (docs/shadow.md): sampled reads of todos
//! compared in their legacy and new forms in one snapshot on side
//! connections, counted in /metrics, mismatches sampled into
//! switchyard.shadow_mismatches; a bounded queue that drops and counts.

use crate::support;

use std::time::Duration;

use switchyard_workload::WorkloadConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const READ: &str = "SELECT id, title, status FROM todos WHERE user_id = $1";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("free port").local_addr().expect("addr").port()
}

/// The proxy's /metrics text.
async fn metrics_text(port: u16) -> String {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.expect("connect to /metrics");
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").await.expect("request");
    let mut out = String::new();
    s.read_to_string(&mut out).await.expect("response");
    out
}

/// The value of one sample line, e.g. `switchyard_shadow_reads_total{outcome="match"}`.
async fn metric(port: u16, series: &str) -> i64 {
    let text = metrics_text(port).await;
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse::<i64>().ok()))
        .unwrap_or_else(|| panic!("{series} not in /metrics:\n{text}"))
}

async fn outcome(port: u16, o: &str) -> i64 {
    metric(port, &format!("switchyard_shadow_reads_total{{outcome=\"{o}\"}}")).await
}

/// Every outcome, in the order match, mismatch, skipped, dropped, error.
async fn outcomes(port: u16) -> [i64; 5] {
    let mut out = [0; 5];
    for (i, o) in ["match", "mismatch", "skipped", "dropped", "error"].iter().enumerate() {
        out[i] = outcome(port, o).await;
    }
    out
}

/// Waits (bounded) until `cond` holds on the metrics.
async fn wait_for<F, Fut>(what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..1200 {
        if cond().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

async fn queue_drained(port: u16) {
    wait_for("the shadow queue to drain", || async move { metric(port, "switchyard_shadow_queue_length").await == 0 })
        .await;
}

/// Waits until `n` sampled reads have an outcome. An empty queue is not
/// enough: a worker may still be comparing what it took from it.
async fn settled(port: u16, n: i64) {
    wait_for(&format!("{n} shadow outcomes"), || async move { outcomes(port).await.iter().sum::<i64>() >= n }).await;
}

async fn spawn(db: &support::TestDb, metrics_port: u16, extra: &[&str]) -> support::ProxyProcess {
    let listen = format!("127.0.0.1:{metrics_port}");
    let mut args = vec!["--metrics-listen", listen.as_str()];
    args.extend_from_slice(extra);
    support::spawn_proxy_with(db, &args).await
}

/// These tests start from empty tables, so there is nothing to backfill: the
/// backfill is recorded as complete (in dual_write the proxy compares reads
/// only once it is; see the test of that below).
async fn backfill_done(db: &support::TestDb) {
    db.client
        .execute(
            "INSERT INTO switchyard.backfill_progress (table_name, completed, finished_at) VALUES ('todos', true, now())",
            &[],
        )
        .await
        .expect("record the backfill as complete");
}

#[tokio::test]
async fn sampled_reads_match_under_load_and_a_corruption_is_reported() {
    let db = support::migrated_db().await;
    backfill_done(&db).await;
    let port = free_port();
    let proxy =
        spawn(&db, port, &["--shadow-sample-rate", "dual_write=1,read_new=1", "--shadow-queue", "1000000"]).await;
    support::force_phase(&db, "dual_write").await;
    support::wait_for_instances(&db).await;
    let workload = switchyard_workload::start(WorkloadConfig::new(proxy.url(), 4)).await.expect("workload");
    // Some rows first, all written through the proxy (so mirrored).
    wait_for("todos to be written", || {
        let c = &db.client;
        async move { c.query_one("SELECT count(*) FROM todos", &[]).await.expect("count").get::<_, i64>(0) >= 200 }
    })
    .await;
    support::force_phase(&db, "read_new").await;
    support::wait_for_instances(&db).await;

    // Readers of whole users' lists (comparable: no LIMIT), prepared (binary
    // parameters) and simple, beside the workload's own reads and writes.
    let users: Vec<uuid::Uuid> =
        db.client.query("SELECT id FROM users", &[]).await.expect("users").iter().map(|r| r.get(0)).collect();
    assert!(!users.is_empty());
    let stop = tokio_util_stop();
    let mut readers = Vec::new();
    for k in 0..2 {
        let app = proxy.connect().await;
        let users = users.clone();
        let stop = stop.clone();
        readers.push(tokio::spawn(async move {
            let stmt = app.prepare(READ).await.expect("prepare");
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let u = users[(n as usize + k) % users.len()];
                app.query(&stmt, &[&u]).await.expect("prepared read");
                app.simple_query(&format!("SELECT id, title, status FROM todos WHERE user_id = '{u}'"))
                    .await
                    .expect("simple read");
                n += 1;
            }
            n
        }));
    }
    wait_for("2000 matching shadow reads", || async move { outcome(port, "match").await >= 2000 }).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for r in readers {
        assert!(r.await.expect("reader") > 0);
    }
    let report = workload.stop_and_wait().await.expect("workload");
    drop(report);
    queue_drained(port).await;
    let [matched, mismatched, skipped, dropped, errors] = outcomes(port).await;
    assert!(matched >= 2000, "{matched}");
    assert_eq!(mismatched, 0, "no false differences while the workload writes");
    assert_eq!(errors, 0, "every shadow statement ran");
    assert_eq!(dropped, 0, "the queue was large enough");
    // The workload's lists (ORDER BY priority, created_at LIMIT) are not
    // totally ordered: skipped, with that reason.
    assert!(skipped > 0);
    assert!(metric(port, "switchyard_shadow_skipped_total{reason=\"limit_without_total_order\"}").await > 0);
    let samples: i64 =
        db.client.query_one("SELECT count(*) FROM switchyard.shadow_mismatches", &[]).await.expect("count").get(0);
    assert_eq!(samples, 0);

    // A corruption injected straight into todos_active is reported by the
    // next read of that user's todos.
    let row = db
        .client
        .query_one("SELECT id, user_id FROM todos_active ORDER BY id LIMIT 1", &[])
        .await
        .expect("an active todo");
    let (id, user): (uuid::Uuid, uuid::Uuid) = (row.get(0), row.get(1));
    db.client.execute("UPDATE todos_active SET title = 'corrupted' WHERE id = $1", &[&id]).await.expect("corrupt");
    let app = proxy.connect().await;
    let rows = app.query(READ, &[&user]).await.expect("read");
    assert!(rows.iter().any(|r| r.get::<_, String>(1) == "corrupted"), "read_new serves the new tables");
    wait_for("the mismatch", || async move { outcome(port, "mismatch").await >= 1 }).await;
    assert_eq!(outcome(port, "mismatch").await, 1);
    let m = db
        .client
        .query_one(
            "SELECT statement, params::text, only_in_legacy, only_in_new, phase,
                    sample->'only_in_new'->0->>'title', (sample->'only_in_legacy'->0->>'id')::uuid
             FROM switchyard.shadow_mismatches",
            &[],
        )
        .await
        .expect("one mismatch sample");
    assert_eq!(m.get::<_, String>(0), READ);
    let hex: String = user.as_bytes().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(m.get::<_, String>(1), format!("[\"\\\\x{hex}\"]"), "the binary uuid parameter");
    assert_eq!((m.get::<_, i64>(2), m.get::<_, i64>(3)), (1, 1));
    assert_eq!(m.get::<_, String>(4), "read_new");
    assert_eq!(m.get::<_, Option<String>>(5).as_deref(), Some("corrupted"));
    assert_eq!(m.get::<_, Option<uuid::Uuid>>(6), Some(id));
}

fn tokio_util_stop() -> std::sync::Arc<std::sync::atomic::AtomicBool> {
    std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false))
}

#[tokio::test]
async fn a_full_queue_drops_and_counts_while_clients_get_every_answer() {
    let db = support::migrated_db().await;
    backfill_done(&db).await;
    let port = free_port();
    let proxy =
        spawn(&db, port, &["--shadow-sample-rate", "dual_write=1", "--shadow-queue", "1", "--shadow-workers", "1"])
            .await;
    support::force_phase(&db, "dual_write").await;
    support::wait_for_instances(&db).await;
    let user: uuid::Uuid = db
        .client
        .query_one("INSERT INTO users (email) VALUES ('burst@example.com') RETURNING id", &[])
        .await
        .expect("user")
        .get(0);
    let app = proxy.connect().await;
    app.execute("INSERT INTO todos (user_id, title) SELECT $1, 'todo ' || g FROM generate_series(1, 50) g", &[&user])
        .await
        .expect("todos through the proxy");

    const CLIENTS: usize = 8;
    const READS: usize = 200;
    let mut tasks = Vec::new();
    for _ in 0..CLIENTS {
        let app = proxy.connect().await;
        tasks.push(tokio::spawn(async move {
            let stmt = app.prepare(READ).await.expect("prepare");
            // Pipelined: every read in flight at once on the connection.
            let params: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&user];
            let answers = futures_util::future::join_all((0..READS).map(|_| app.query(&stmt, &params))).await;
            answers.into_iter().map(|a| a.expect("read").len()).collect::<Vec<_>>()
        }));
    }
    for t in tasks {
        let sizes = t.await.expect("client");
        assert_eq!(sizes.len(), READS);
        assert!(sizes.iter().all(|n| *n == 50), "every read answered in full");
    }
    let total = (CLIENTS * READS) as i64;
    wait_for("every sampled read accounted for", || async move { outcomes(port).await.iter().sum::<i64>() == total })
        .await;
    let [matched, mismatched, skipped, dropped, errors] = outcomes(port).await;
    assert!(dropped > 0, "a queue of one overflows under a burst");
    assert!(matched > 0, "queued reads still ran");
    assert_eq!((mismatched, skipped, errors), (0, 0, 0));
    assert_eq!(matched + dropped, total, "one outcome per Execute");
}

#[tokio::test]
async fn the_sample_rate_changes_at_run_time_through_the_control_schema() {
    let db = support::migrated_db().await;
    backfill_done(&db).await;
    let port = free_port();
    let proxy = spawn(&db, port, &["--shadow-sample-rate", "dual_write=0", "--shadow-settings-poll", "0.2"]).await;
    support::force_phase(&db, "dual_write").await;
    support::wait_for_instances(&db).await;
    let user: uuid::Uuid = db
        .client
        .query_one("INSERT INTO users (email) VALUES ('rate@example.com') RETURNING id", &[])
        .await
        .expect("user")
        .get(0);
    let app = proxy.connect().await;
    app.execute("INSERT INTO todos (user_id, title) VALUES ($1, 'a'), ($1, 'b')", &[&user]).await.expect("todos");
    for _ in 0..50 {
        assert_eq!(app.query(READ, &[&user]).await.expect("read").len(), 2);
    }
    queue_drained(port).await;
    assert_eq!(outcomes(port).await, [0; 5], "rate 0: nothing sampled");

    db.client
        .execute("INSERT INTO switchyard.shadow_settings (phase, sample_rate) VALUES ('dual_write', 1)", &[])
        .await
        .expect("set the rate");
    let app = &app;
    wait_for("reads to be sampled at the new rate", || async move {
        app.query(READ, &[&user]).await.expect("read");
        outcome(port, "match").await > 0
    })
    .await;
    assert_eq!(outcome(port, "mismatch").await, 0);
    assert!(
        db.client
            .execute("INSERT INTO switchyard.shadow_settings (phase, sample_rate) VALUES ('read_new', 1.5)", &[])
            .await
            .is_err(),
        "rates are between 0 and 1"
    );
}

/// Runs `sql` through the proxy in the extended protocol with every
/// parameter in TEXT format and unspecified types (what tokio-postgres never
/// sends); returns the number of rows.
async fn text_format_read(port: u16, db: &str, sql: &str, params: &[&str]) -> usize {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.expect("connect");
    async fn send(s: &mut tokio::net::TcpStream, tag: Option<u8>, body: &[u8]) {
        let mut msg = tag.map(|t| vec![t]).unwrap_or_default();
        msg.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
        msg.extend_from_slice(body);
        s.write_all(&msg).await.expect("send");
    }
    async fn until_ready(s: &mut tokio::net::TcpStream) -> Vec<u8> {
        let mut tags = Vec::new();
        loop {
            let tag = s.read_u8().await.expect("tag");
            let len = s.read_i32().await.expect("len");
            let mut body = vec![0; (len - 4) as usize];
            s.read_exact(&mut body).await.expect("body");
            assert_ne!(tag, b'E', "error: {}", String::from_utf8_lossy(&body));
            tags.push(tag);
            if tag == b'Z' {
                return tags;
            }
        }
    }
    let mut body = 196_608i32.to_be_bytes().to_vec();
    for kv in ["user", "postgres", "database", db] {
        body.extend_from_slice(kv.as_bytes());
        body.push(0);
    }
    body.push(0);
    send(&mut s, None, &body).await;
    until_ready(&mut s).await;
    let mut parse = vec![0];
    parse.extend_from_slice(sql.as_bytes());
    parse.push(0);
    parse.extend_from_slice(&0i16.to_be_bytes());
    send(&mut s, Some(b'P'), &parse).await;
    let mut bind = vec![0, 0];
    bind.extend_from_slice(&0i16.to_be_bytes()); // no format codes: all text
    bind.extend_from_slice(&(params.len() as i16).to_be_bytes());
    for p in params {
        bind.extend_from_slice(&(p.len() as i32).to_be_bytes());
        bind.extend_from_slice(p.as_bytes());
    }
    bind.extend_from_slice(&0i16.to_be_bytes());
    send(&mut s, Some(b'B'), &bind).await;
    send(&mut s, Some(b'E'), &[0, 0, 0, 0, 0]).await;
    send(&mut s, Some(b'S'), &[]).await;
    let rows = until_ready(&mut s).await.iter().filter(|t| **t == b'D').count();
    send(&mut s, Some(b'X'), &[]).await;
    rows
}

#[tokio::test]
async fn text_format_parameters_are_compared_as_the_client_sent_them() {
    let db = support::migrated_db().await;
    backfill_done(&db).await;
    let port = free_port();
    let proxy = spawn(&db, port, &["--shadow-sample-rate", "dual_write=1"]).await;
    support::force_phase(&db, "dual_write").await;
    support::wait_for_instances(&db).await;
    let user: uuid::Uuid = db
        .client
        .query_one("INSERT INTO users (email) VALUES ('text@example.com') RETURNING id", &[])
        .await
        .expect("user")
        .get(0);
    let app = proxy.connect().await;
    app.execute("INSERT INTO todos (user_id, title, priority) VALUES ($1, 'a', 1), ($1, 'b', 2)", &[&user])
        .await
        .expect("todos");
    let sql = "SELECT id, title FROM todos WHERE user_id = $1 AND priority >= $2";
    let u = user.to_string();
    assert_eq!(text_format_read(proxy.port, &db.name, sql, &[&u, "1"]).await, 2);
    wait_for("the text-format read compared", || async move { outcome(port, "match").await == 1 }).await;

    db.client.execute("UPDATE todos_active SET title = 'x' WHERE title = 'b'", &[]).await.expect("corrupt");
    assert_eq!(text_format_read(proxy.port, &db.name, sql, &[&u, "2"]).await, 1);
    wait_for("the mismatch", || async move { outcome(port, "mismatch").await == 1 }).await;
    let [matched, mismatched, skipped, dropped, errors] = outcomes(port).await;
    assert_eq!((matched, mismatched, skipped, dropped, errors), (1, 1, 0, 0, 0));
    let row = db
        .client
        .query_one("SELECT params::text, phase, only_in_legacy, only_in_new FROM switchyard.shadow_mismatches", &[])
        .await
        .expect("sample");
    assert_eq!(row.get::<_, String>(0), format!("[\"{u}\", \"2\"]"));
    assert_eq!(row.get::<_, String>(1), "dual_write");
    assert_eq!((row.get::<_, i64>(2), row.get::<_, i64>(3)), (1, 1));
}

#[tokio::test]
async fn the_config_file_sets_sample_rates_and_flags_override_it() {
    let db = support::migrated_db().await;
    backfill_done(&db).await;
    let dir = std::env::temp_dir().join(format!("sy-shadow-config-{}-{}", std::process::id(), db.name));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let file = dir.join("switchyard.toml");
    std::fs::write(&file, "[shadow]\nsample_rate = { dual_write = 1, read_new = 1 }\nworkers = 1\n").expect("write");
    let file = file.to_string_lossy().into_owned();
    let user: uuid::Uuid = db
        .client
        .query_one("INSERT INTO users (email) VALUES ('file@example.com') RETURNING id", &[])
        .await
        .expect("user")
        .get(0);

    // The file alone: every read of todos in dual_write is compared.
    let port = free_port();
    let proxy = spawn(&db, port, &["--config", &file]).await;
    support::force_phase(&db, "dual_write").await;
    support::wait_for_instances(&db).await;
    let app = proxy.connect().await;
    app.execute("INSERT INTO todos (user_id, title) VALUES ($1, 'a')", &[&user]).await.expect("todo");
    for _ in 0..20 {
        app.query(READ, &[&user]).await.expect("read");
    }
    settled(port, 20).await;
    assert_eq!(outcomes(port).await, [20, 0, 0, 0, 0], "rate 1 from the file");
    drop(app);
    drop(proxy);

    // A flag wins over the file.
    let port = free_port();
    let proxy = spawn(&db, port, &["--config", &file, "--shadow-sample-rate", "dual_write=0"]).await;
    support::wait_for_instances(&db).await;
    let app = proxy.connect().await;
    for _ in 0..20 {
        app.query(READ, &[&user]).await.expect("read");
    }
    queue_drained(port).await;
    assert_eq!(outcomes(port).await, [0; 5], "--shadow-sample-rate overrides the file");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn in_dual_write_reads_are_compared_only_once_the_backfill_has_completed() {
    // Legacy rows the backfill has not copied: a comparison could only
    // report them missing in new. Such reads count as skipped until then.
    let db = support::migrated_db().await;
    let user: uuid::Uuid = db
        .client
        .query_one("INSERT INTO users (email) VALUES ('early@example.com') RETURNING id", &[])
        .await
        .expect("user")
        .get(0);
    db.client
        .execute("INSERT INTO todos (user_id, title) VALUES ($1, 'before dual_write')", &[&user])
        .await
        .expect("legacy row");
    let port = free_port();
    let proxy = spawn(&db, port, &["--shadow-sample-rate", "dual_write=1", "--shadow-settings-poll", "0.2"]).await;
    support::force_phase(&db, "dual_write").await;
    support::wait_for_instances(&db).await;
    let app = proxy.connect().await;
    for _ in 0..10 {
        assert_eq!(app.query(READ, &[&user]).await.expect("read").len(), 1);
    }
    let skipped = "switchyard_shadow_skipped_total{reason=\"backfill_incomplete\"}";
    wait_for("ten reads skipped", || async move { metric(port, skipped).await >= 10 }).await;
    queue_drained(port).await;
    assert_eq!(outcome(port, "mismatch").await, 0, "no difference reported for rows not copied yet");
    assert_eq!(metric(port, skipped).await, 10);

    let mut client = db.connect().await;
    let done = switchyard_control::backfill::run(&mut client, &Default::default(), |_| {}).await.expect("backfill");
    assert!(done.completed);
    let app = &app;
    wait_for("reads to be compared after the backfill", || async move {
        app.query(READ, &[&user]).await.expect("read");
        outcome(port, "match").await > 0
    })
    .await;
    assert_eq!(outcome(port, "mismatch").await, 0);
}
