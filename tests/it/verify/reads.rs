//! Representative reads (`--queries`) run in their legacy form and in the
//! form the proxy's rewriter sends in read_new, in one snapshot; the shadow
//! comparison statement counts and samples differences both ways.

use serde_json::Value;
use switchyard_rewriter::shadow::ShadowRead;
use switchyard_shadow_verify as sv;
use uuid::Uuid;

use super::common::{copied_db, found, one_id, run_switchyard, verify_json};

/// Writes a `--queries` file; the directory lives as long as the guard.
fn queries_file(file: &Value) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("queries.json");
    std::fs::write(&path, file.to_string()).expect("write queries");
    let path = path.to_str().expect("path").to_string();
    (dir, path)
}

/// The check named `name` in a JSON report.
fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("no check {name:?}: {report:#}"))
}

#[tokio::test]
async fn representative_reads_run_in_both_forms_and_a_corruption_shows_in_them() {
    let db = copied_db().await;
    let user = one_id(&db, "SELECT user_id FROM todos GROUP BY user_id ORDER BY count(*) DESC, user_id LIMIT 1").await;
    let root = one_id(
        &db,
        &format!("SELECT id FROM todos_active WHERE user_id = '{user}' AND parent_todo_id IS NULL ORDER BY id LIMIT 1"),
    )
    .await;
    let file = serde_json::json!([
        {"name": "list open todos", "sql": "SELECT id, title, priority FROM todos t WHERE t.user_id = $1 AND t.status <> 'done' ORDER BY priority DESC, created_at DESC", "params": [user.to_string()]},
        {"name": "walk a hierarchy", "sql": "WITH RECURSIVE tree AS (SELECT id, title, 0 AS lvl FROM todos WHERE id = $1 UNION ALL SELECT c.id, c.title, tree.lvl + 1 FROM todos c JOIN tree ON c.parent_todo_id = tree.id) SELECT * FROM tree", "params": [root.to_string()]},
        {"name": "count by status", "sql": "SELECT status, count(*) FROM todos WHERE user_id = $1 GROUP BY status", "param_sets": [[user.to_string()], [Uuid::nil().to_string()]]}
    ]);
    let (_dir, queries) = queries_file(&file);
    let queries = queries.as_str();

    let (code, report) = verify_json(&db, &["--queries", queries]);
    assert_eq!(code, 0, "{report:#}");
    let names: Vec<&str> =
        report["checks"].as_array().expect("checks").iter().filter_map(|c| c["name"].as_str()).collect();
    assert_eq!(
        names,
        vec![
            "depth",
            "query list open todos",
            "query walk a hierarchy",
            "query count by status #1",
            "query count by status #2"
        ]
    );

    db.client
        .execute(&format!("UPDATE todos_active SET title = 'corrupted' WHERE id = '{root}'"), &[])
        .await
        .expect("corrupt");
    let (code, report) = verify_json(&db, &["--queries", queries]);
    assert_eq!(code, 1);
    let mut f = found(&report);
    f.sort();
    assert!(f.contains(&(root.to_string(), "different_values".into())), "{f:?}");
    assert!(f.contains(&("walk a hierarchy".into(), "query_mismatch".into())), "{f:?}");
    let hierarchy = report["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == "query walk a hierarchy"))
        .expect("check");
    assert!(
        hierarchy["detail"].as_str().unwrap_or_default().contains("only in legacy 1, only in new 1"),
        "{hierarchy}"
    );
}

#[tokio::test]
async fn the_shadow_compare_statement_counts_and_samples_differences_both_ways() {
    let db = copied_db().await;
    let legacy = "SELECT id, title FROM todos WHERE user_id = (SELECT min(user_id::text)::uuid FROM todos)";
    let spec = sv::Spec::default();
    let new = legacy.replace("FROM todos WHERE", &format!("FROM {} todos WHERE", spec.new_relation()));
    let row =
        db.client.query_one(&ShadowRead::new(legacy, new.as_str()).with_samples_sql(5), &[]).await.expect("compare");
    let n: i64 = row.get("legacy_rows");
    assert!(n > 0);
    assert_eq!(
        (row.get::<_, i64>("new_rows"), row.get::<_, i64>("only_in_legacy"), row.get::<_, i64>("only_in_new")),
        (n, 0, 0)
    );
    assert_eq!(row.get::<_, Value>("sample_only_in_new"), serde_json::json!([]));

    let id = one_id(&db, &format!("UPDATE todos_active SET title = 'drifted' WHERE id IN (SELECT id FROM ({legacy}) l) AND id = (SELECT min(id::text)::uuid FROM todos_active WHERE user_id = (SELECT min(user_id::text)::uuid FROM todos)) RETURNING id")).await;
    let row = db.client.query_one(&ShadowRead::new(legacy, new.as_str()).counts_sql(), &[]).await.expect("compare");
    assert_eq!((row.get::<_, i64>("only_in_legacy"), row.get::<_, i64>("only_in_new")), (1, 1));
    let row =
        db.client.query_one(&ShadowRead::new(legacy, new.as_str()).with_samples_sql(5), &[]).await.expect("compare");
    assert_eq!(
        row.get::<_, Value>("sample_only_in_new"),
        serde_json::json!([{"id": id.to_string(), "title": "drifted"}])
    );
    assert_eq!(row.get::<_, Value>("sample_only_in_legacy")[0]["id"], id.to_string());
}

#[tokio::test]
async fn every_reference_is_read_from_the_new_tables_as_the_proxy_rewrites_it() {
    // The second reference to todos follows a join's ON condition in the FROM
    // list. A textual rewrite that missed it would compare it with itself on
    // legacy, and a corruption seen only through it would pass as clean.
    let db = copied_db().await;
    let user = one_id(
        &db,
        "SELECT t.user_id FROM todos t JOIN todos_active c ON c.parent_todo_id = t.id ORDER BY t.user_id LIMIT 1",
    )
    .await;
    let sql = "SELECT c.id, c.title FROM todos t LEFT JOIN projects p ON p.id = t.project_id, todos c \
               WHERE c.parent_todo_id = t.id AND t.user_id = $1";
    let file = serde_json::json!([{"name": "subtasks", "sql": sql, "params": [user.to_string()]}]);
    let (_dir, queries) = queries_file(&file);
    let (code, report) = verify_json(&db, &["--queries", &queries]);
    assert_eq!(code, 0, "{report:#}");
    let detail = check(&report, "query subtasks")["detail"].as_str().unwrap_or_default().to_string();
    assert!(detail.contains("only in legacy 0, only in new 0") && !detail.starts_with("legacy 0 rows"), "{detail}");

    let child = one_id(
        &db,
        &format!(
            "UPDATE todos_active SET title = 'corrupted' WHERE id = (SELECT min(c.id::text)::uuid FROM todos_active c \
             JOIN todos t ON t.id = c.parent_todo_id WHERE t.user_id = '{user}') RETURNING id"
        ),
    )
    .await;
    let (code, report) = verify_json(&db, &["--queries", &queries]);
    assert_eq!(code, 1, "{report:#}");
    let mut f = found(&report);
    f.sort();
    assert_eq!(f, vec![(child.to_string(), "different_values".into()), ("subtasks".into(), "query_mismatch".into())]);
    let detail = check(&report, "query subtasks")["detail"].as_str().unwrap_or_default().to_string();
    assert!(detail.contains("only in legacy 1, only in new 1"), "{detail}");
}

#[tokio::test]
async fn a_read_the_proxy_would_refuse_is_not_checkable_with_the_rewriters_reason_and_the_rest_still_runs() {
    let db = copied_db().await;
    let sampled = "SELECT count(*) FROM todos TABLESAMPLE SYSTEM (50)";
    let (code, plan, err) = run_switchyard(&["rewrite", "--phase", "read_new", "--json", "--sql", sampled]);
    assert_eq!(code, 3, "the rewriter refuses it: {plan}{err}");
    let plan: Value = serde_json::from_str(&plan).expect("plan JSON");
    let reason = plan["reason"].as_str().expect("a reason");
    let file = serde_json::json!([
        {"name": "sampled", "sql": sampled},
        {"name": "no todos", "sql": "SELECT count(*) FROM todos_active"},
        {"name": "open todos", "sql": "SELECT id FROM todos WHERE status <> 'done'"}
    ]);
    let (_dir, queries) = queries_file(&file);
    let (code, report) = verify_json(&db, &["--queries", &queries]);
    assert_eq!(code, 2, "a read left unchecked leaves the run incomplete: {report:#}");

    let expected = format!("not checkable: the proxy refuses it: {reason}");
    assert_eq!(check(&report, "query sampled")["error"], expected.as_str());
    let errors: Vec<&str> = report["errors"].as_array().expect("errors").iter().filter_map(Value::as_str).collect();
    assert!(errors.contains(&format!("query sampled: {expected}").as_str()), "{errors:?}");
    let no_todos = check(&report, "query no todos")["error"].as_str().unwrap_or_default().to_string();
    assert!(no_todos.starts_with("not checkable: it does not read todos"), "{no_todos}");
    let open = check(&report, "query open todos");
    assert_eq!(open["error"], Value::Null, "{open}");
    assert!(open["detail"].as_str().unwrap_or_default().contains("only in legacy 0, only in new 0"), "{open}");
    assert_eq!(report["rows"]["legacy"], 600, "the chunks were all compared: {report:#}");
}
