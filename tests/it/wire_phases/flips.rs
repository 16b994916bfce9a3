//! Phases flipping under traffic (I6): a transaction finishes under the
//! phase it started with and nothing fails; prepared statements outlive
//! flips; two instances flip together and new_only waits for the oldest
//! transaction; rolling back write_new -> read_new -> dual_write keeps both
//! schemas equal.

use std::time::Duration;

use switchyard_control::phase::Phase;
use switchyard_control::state::{self, MoveRequest};
use tokio_postgres::{Client, SimpleQueryMessage};

use super::common::*;
use super::fixture::{self, t, u, U1, U2};
use crate::support::{self, assert_same_as_legacy, TestDb};

/// A seeded, backfilled database behind a proxy serving `phase`.
async fn proxied(phase: &str) -> (TestDb, support::ProxyProcess) {
    let db = support::migrated_db().await;
    db.client
        .batch_execute(&format!("{}{}", fixture::seed_sql(), fixture::BACKFILL_SQL))
        .await
        .unwrap_or_else(|e| panic!("seed: {e}"));
    let proxy = support::spawn_proxy(&db).await;
    support::force_phase(&db, phase).await;
    support::wait_for_instances(&db).await;
    (db, proxy)
}

async fn epoch(db: &TestDb) -> i64 {
    acks(db).await.0
}

/// The plan PostgreSQL would run for a read of todos, as seen from `c`.
async fn reads_new(c: &Client) -> bool {
    let plan: Vec<String> = c
        .simple_query("EXPLAIN (COSTS OFF) SELECT id FROM todos")
        .await
        .expect("explain")
        .iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
            _ => None,
        })
        .collect();
    let plan = plan.join("\n");
    assert!(plan.contains("todos"), "{plan}");
    plan.contains("todos_active")
}

async fn insert(c: &Client, id: uuid::Uuid, title: &str) {
    let n = c
        .execute("INSERT INTO todos (id, user_id, title) VALUES ($1, $2, $3)", &[&id, &u(U1), &title])
        .await
        .unwrap_or_else(|e| panic!("insert {title}: {e}"));
    assert_eq!(n, 1, "{title}");
}

/// Where a todo is: (in legacy, in the new schema).
async fn whereabouts(db: &TestDb, id: uuid::Uuid) -> (bool, bool) {
    let row = db
        .client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM todos WHERE id = $1),
                    EXISTS (SELECT 1 FROM todos_active WHERE id = $1) OR EXISTS (SELECT 1 FROM todos_archived WHERE id = $1)",
            &[&id],
        )
        .await
        .expect("whereabouts");
    (row.get(0), row.get(1))
}

#[tokio::test]
async fn a_flip_while_transactions_are_open_leaves_each_in_its_own_phase() {
    let (db, proxy) = proxied("dual_write").await;
    let dual_epoch = epoch(&db).await;
    let (a, b, c) = (proxy.connect().await, proxy.connect().await, proxy.connect().await);

    // a begins under dual_write.
    a.batch_execute("BEGIN").await.expect("a: begin");
    insert(&a, t(70), "a before the flip").await;
    assert!(!reads_new(&a).await, "dual_write reads legacy");

    support::force_phase(&db, "read_new").await;
    wait_served(&proxy, "read_new").await;
    let read_epoch = epoch(&db).await;
    // The instance vouches for the oldest phase still running.
    let (_, held) = acks(&db).await;
    assert_eq!(held, vec![(Some("dual_write".to_string()), Some(dual_epoch))], "a still runs dual_write");

    // a keeps dual_write; b begins under read_new.
    assert!(!reads_new(&a).await, "a transaction keeps the phase it began with");
    a.execute("UPDATE todos SET priority = 42 WHERE id = $1", &[&t(70)]).await.expect("a: update after the flip");
    b.batch_execute("BEGIN").await.expect("b: begin");
    insert(&b, t(71), "b under read_new").await;
    assert!(reads_new(&b).await, "b reads the new schema");

    support::force_phase(&db, "write_new").await;
    wait_served(&proxy, "write_new").await;

    // Still their own phases: dual_write reopens an archived todo through
    // legacy, read_new still runs an upsert naming a legacy constraint.
    let n = a.execute("UPDATE todos SET status = 'todo', completed_at = NULL WHERE id = $1", &[&t(6)]).await;
    assert_eq!(n.expect("a: a dual_write write after two flips"), 1);
    assert!(!reads_new(&a).await);
    let n = b.execute(BY_CONSTRAINT_NAME, &[&t(71), &u(U1)]).await.expect("b: read_new plans it");
    assert_eq!(n, 0, "t71 exists");
    insert(&b, t(72), "b after the second flip").await;
    // c begins under write_new.
    c.batch_execute("BEGIN").await.expect("c: begin");
    insert(&c, t(73), "c under write_new").await;
    assert!(reads_new(&c).await);
    let refused = c.prepare(BY_CONSTRAINT_NAME).await.expect_err("write_new refuses");
    assert_eq!(refused.code().map(|s| s.code()), Some("0A000"));
    c.batch_execute("ROLLBACK").await.expect("c: rollback");
    c.batch_execute("BEGIN").await.expect("c: begin again");
    insert(&c, t(73), "c under write_new").await;

    // Commits in turn; the acknowledgment follows the oldest open transaction.
    a.batch_execute("COMMIT").await.expect("a: commit");
    wait_acks(&db, "after a commits, b (read_new) is the oldest", |_, v| {
        v == [(Some("read_new".into()), Some(read_epoch))]
    })
    .await;
    b.batch_execute("COMMIT").await.expect("b: commit");
    c.batch_execute("COMMIT").await.expect("c: commit");
    support::wait_for_instances(&db).await;

    for (n, what) in [(70, "a"), (71, "b"), (72, "b"), (73, "c")] {
        assert_eq!(whereabouts(&db, t(n)).await, (true, true), "{what}'s todo t{n} in both schemas");
    }
    let (prio, status): (i32, String) = {
        let r = db.client.query_one("SELECT (SELECT priority FROM todos_active WHERE id = $1), (SELECT status FROM todos_active WHERE id = $2)", &[&t(70), &t(6)]).await.expect("values");
        (r.get(0), r.get(1))
    };
    assert_eq!((prio, status.as_str()), (42, "todo"));
    assert_eq!(support::schemas_differ(&db.client).await, None);
}

#[tokio::test]
async fn statements_prepared_before_flips_run_each_phase_plan_after_them() {
    // Prepared before the migration starts, in legacy (plain passthrough).
    let (db, proxy) = proxied("legacy").await;
    let app = proxy.connect().await;
    let ins = app
        .prepare("INSERT INTO todos (id, user_id, title, priority) VALUES ($1, $2, $3, $4)")
        .await
        .expect("prepare insert");
    let upd = app
        .prepare("UPDATE todos SET priority = priority + 1 WHERE id = $1 RETURNING id, priority")
        .await
        .expect("prepare update");
    let sel = app.prepare("SELECT title, priority FROM todos WHERE id = $1").await.expect("prepare select");
    let del = app.prepare("DELETE FROM todos WHERE id = $1").await.expect("prepare delete");
    let upsert = app.prepare(BY_CONSTRAINT_NAME).await.expect("prepare upsert by constraint name");
    assert!(ins.columns().is_empty() && del.columns().is_empty(), "NoData for writes without RETURNING");

    let phases = ["legacy", "dual_write", "read_new", "write_new", "read_new", "dual_write"];
    for (k, phase) in phases.iter().enumerate() {
        if k > 0 {
            support::force_phase(&db, phase).await;
            support::wait_for_instances(&db).await;
        }
        let at = format!("round {k} ({phase})");
        let id = t(80 + k as u32);
        let title = format!("prepared {k}");
        assert_eq!(app.execute(&ins, &[&id, &u(U1), &title, &(k as i32)]).await.expect(&at), 1, "{at}");
        let rows = app.query(&upd, &[&id]).await.unwrap_or_else(|e| panic!("{at}: update: {e}"));
        assert_eq!(rows.len(), 1, "{at}");
        assert_eq!((rows[0].get::<_, uuid::Uuid>(0), rows[0].get::<_, i32>(1)), (id, k as i32 + 1), "{at}");
        let row = app.query_one(&sel, &[&id]).await.unwrap_or_else(|e| panic!("{at}: select: {e}"));
        assert_eq!((row.get::<_, String>(0), row.get::<_, i32>(1)), (title, k as i32 + 1), "{at}");
        // The previous round's todo is deleted.
        if k > 0 {
            assert_eq!(app.execute(&del, &[&t(80 + k as u32 - 1)]).await.expect(&at), 1, "{at}: delete");
        }
        match app.execute(&upsert, &[&t(1), &u(U1)]).await {
            Ok(n) => assert!(*phase != "write_new" && n == 0, "{at}: the upsert inserted {n}"),
            Err(e) => assert!(*phase == "write_new" && e.code().map(|c| c.code()) == Some("0A000"), "{at}: {e}"),
        }
        // In legacy nothing is mirrored (the next round deletes that todo).
        let expected = (true, *phase != "legacy");
        assert_eq!(whereabouts(&db, id).await, expected, "{at}");
        if *phase != "legacy" {
            assert_eq!(support::schemas_differ(&db.client).await, None, "{at}");
        }
    }
    let left: i64 = db
        .client
        .query_one("SELECT count(*) FROM todos WHERE title LIKE 'prepared %'", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(left, 1, "only the last round's todo is left");
}

fn request(to: Phase) -> MoveRequest {
    MoveRequest {
        table: "todos".into(),
        to,
        reason: format!("wire test moves to {to}"),
        actor: "wire_phases".into(),
        force: false,
        confirm: false,
        max_verify_age: Duration::from_secs(3600),
        instance_liveness: Duration::from_secs(30),
    }
}

#[tokio::test]
async fn two_instances_flip_together_and_new_only_waits_for_a_transaction_begun_under_read_new() {
    let mut db = support::migrated_db().await;
    db.client.batch_execute(&fixture::seed_sql()).await.expect("seed");
    let (p1, p2) = (support::spawn_proxy(&db).await, support::spawn_proxy(&db).await);
    support::wait_for_instances(&db).await;
    let (c1, c2) = (p1.connect().await, p2.connect().await);

    state::move_phase(&mut db.client, &request(Phase::DualWrite)).await.expect("to dual_write");
    support::wait_for_instances(&db).await;
    assert_eq!(acks(&db).await.1.len(), 2, "both instances registered");
    for p in [&p1, &p2] {
        assert_eq!(served_phase(p).await, "dual_write");
    }
    // Backfill by plain SQL, then a clean verify on record: read_new's guards.
    db.client
        .batch_execute(&format!(
            "{}
             INSERT INTO switchyard.backfill_progress (table_name, rows_copied, completed, finished_at)
               VALUES ('todos', 0, true, now() - interval '1 second');
             INSERT INTO switchyard.verify_runs (table_name, started_at, finished_at, clean, differences)
               VALUES ('todos', now(), now(), true, 0);",
            fixture::BACKFILL_SQL
        ))
        .await
        .expect("backfill and verify");
    insert(&c1, t(90), "through p1 in dual_write").await;
    insert(&c2, t(91), "through p2 in dual_write").await;
    state::move_phase(&mut db.client, &request(Phase::ReadNew)).await.expect("to read_new");
    support::wait_for_instances(&db).await;
    for p in [&p1, &p2] {
        assert_eq!(served_phase(p).await, "read_new");
    }
    let read_epoch = epoch(&db).await;

    // p1 holds a transaction begun under read_new across the move to write_new.
    c1.batch_execute("BEGIN").await.expect("begin");
    insert(&c1, t(92), "p1, read_new, open").await;
    state::move_phase(&mut db.client, &request(Phase::WriteNew)).await.expect("to write_new");
    let write_epoch = epoch(&db).await;
    wait_served(&p1, "write_new").await;
    wait_served(&p2, "write_new").await;
    wait_acks(&db, "p2 on write_new, p1 still vouching for read_new", |_, v| {
        let mut v = v.to_vec();
        v.sort();
        v == [(Some("read_new".into()), Some(read_epoch)), (Some("write_new".into()), Some(write_epoch))]
    })
    .await;
    insert(&c2, t(93), "through p2 in write_new").await;

    let mut to_new_only = request(Phase::NewOnly);
    to_new_only.confirm = true;
    let err = state::move_phase(&mut db.client, &to_new_only).await.expect_err("new_only while p1 runs read_new");
    assert!(err.to_string().contains("read_new"), "{err}");
    assert_eq!(epoch(&db).await, write_epoch, "the refused move changed nothing");

    // The transaction ends; p1 acknowledges write_new; new_only is allowed.
    insert(&c1, t(94), "p1, read_new, still open").await;
    c1.batch_execute("COMMIT").await.expect("commit");
    support::wait_for_instances(&db).await;
    assert_eq!(support::schemas_differ(&db.client).await, None, "before new_only");
    state::move_phase(&mut db.client, &to_new_only).await.expect("to new_only");
    support::wait_for_instances(&db).await;
    let (_, v) = acks(&db).await;
    assert!(v.iter().all(|(p, _)| p.as_deref() == Some("new_only")), "{v:?}");
    for (c, id) in [(&c1, t(95)), (&c2, t(96))] {
        insert(c, id, "in new_only").await;
        assert_eq!(whereabouts(&db, id).await, (false, true), "new_only writes the new schema only");
    }
    for n in 90..=94 {
        assert_eq!(whereabouts(&db, t(n)).await, (true, true), "t{n}");
    }
}

/// One round of writes, the same on the proxy (by both protocols) and the twin.
fn round_writes(k: u32) -> Vec<String> {
    let (new, prev, user) = (t(100 + k), t(100 + k - 1), U2);
    vec![
        format!("INSERT INTO todos (id, user_id, parent_todo_id, title, created_at) VALUES ('{new}', '{user}', NULL, 'round {k}', '2024-07-0{k} 00:00:00+00')"),
        format!("INSERT INTO todos (id, user_id, parent_todo_id, title) VALUES ('{}', '{user}', '{new}', 'child of round {k}')", t(120 + k)),
        format!("UPDATE todos SET priority = priority + {k}, title = title || ' +' WHERE id IN ('{prev}', '{new}')"),
        format!("UPDATE todos SET status = 'done', completed_at = '2024-08-01 00:00:00+00' WHERE id = '{}'", t(120 + k)),
        format!("DELETE FROM todos WHERE id = '{prev}'"),
        format!("UPDATE todos SET parent_todo_id = '{new}' WHERE id = '{}'", t(4)),
    ]
}

#[tokio::test]
async fn rolling_back_write_new_to_read_new_to_dual_write_keeps_both_schemas_equal() {
    let pair = Pair::new("dual_write").await;
    let app = pair.proxy.connect().await;
    // A first parent the first round can delete.
    let first = format!("INSERT INTO todos (id, user_id, title) VALUES ('{}', '{U2}', 'round 0')", t(100));
    app.batch_execute(&first).await.expect("proxy");
    pair.twin.client.batch_execute(&first).await.expect("twin");
    let phases = ["dual_write", "read_new", "write_new", "read_new", "dual_write"];
    for (k, phase) in phases.iter().enumerate() {
        let k = k as u32 + 1;
        support::force_phase(&pair.db, phase).await;
        support::wait_for_instances(&pair.db).await;
        for (i, sql) in round_writes(k).iter().enumerate() {
            let at = format!("round {k} ({phase}): {sql}");
            // Alternate the protocols.
            let got = if i % 2 == 0 {
                app.execute(sql.as_str(), &[]).await.map_err(|e| sqlstate(&e))
            } else {
                app.simple_query(sql).await.map_err(|e| sqlstate(&e)).map(|m| {
                    m.iter()
                        .filter_map(|x| if let SimpleQueryMessage::CommandComplete(n) = x { Some(*n) } else { None })
                        .sum()
                })
            };
            let want = pair.twin.client.execute(sql.as_str(), &[]).await.map_err(|e| sqlstate(&e));
            assert_same_as_legacy(&want, &got, &at);
            assert_in_step(&pair.db, &pair.twin, true, &at).await;
        }
    }
    let rows: i64 = pair
        .db
        .client
        .query_one("SELECT count(*) FROM todos WHERE title LIKE 'round%'", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(rows, 1, "only the last round's parent is left");
    let _ = U1;
}
