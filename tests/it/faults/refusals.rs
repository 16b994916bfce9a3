//! The refusal's `DO` block quotes a reason that may quote the client's
//! statement: backslashes, quotes and dollar signs must reach the client as
//! text, under either `standard_conforming_strings`, and nothing may run.

use switchyard_proxy::route::refusal_sql;
use switchyard_rewriter::Plan;

use crate::support;

const SETTINGS: [&str; 2] = ["on", "off"];

/// The SQLSTATE and message of a failed statement, or what it did instead.
fn error_of<T: std::fmt::Debug>(result: Result<T, tokio_postgres::Error>) -> (String, String) {
    match result {
        Ok(done) => panic!("expected a refusal, the statement ran: {done:?}"),
        Err(e) => match e.as_db_error() {
            Some(db) => (db.code().code().to_string(), db.message().to_string()),
            None => panic!("expected a refusal, got {e}"),
        },
    }
}

#[tokio::test]
async fn a_refusal_raises_exactly_its_reason_whatever_characters_it_holds() {
    let db = support::empty_db().await;
    let reason = r#"found: "a\'; x $sy_refusal$ $$ \\ it's '' $sy_refusal1$ \" at Line: 1"#;
    for setting in SETTINGS {
        db.client.batch_execute(&format!("SET standard_conforming_strings = {setting}")).await.expect("set");
        let (code, message) = error_of(db.client.simple_query(&refusal_sql(&Plan::refuse(reason))).await);
        assert_eq!((code.as_str(), message.as_str()), ("0A000", reason), "standard_conforming_strings = {setting}");
    }
}

#[tokio::test]
async fn a_refused_statement_with_backslashes_quotes_and_dollars_runs_nothing_under_either_string_setting() {
    let db = support::migrated_db().await;
    db.client.batch_execute("CREATE TABLE canary (n int)").await.expect("canary");
    let proxy = support::spawn_proxy(&db).await;
    support::force_phase(&db, "write_new").await;
    support::wait_for_instances(&db).await;
    let client = proxy.connect().await;
    let direct = db.connect().await;
    // Unparsable: the rewriter refuses it (a DO block quoting the parser's
    // complaint, which quotes the identifier whole, runs upstream), and the
    // client is told PostgreSQL's own syntax error, as without the proxy.
    let statement =
        r#"SELECT * FROM todos WHERE id = 1 "\'; INSERT INTO canary VALUES (1); --$sy_refusal$ $$ \\ it's""#;
    for setting in SETTINGS {
        for c in [&client, &direct] {
            c.batch_execute(&format!("SET standard_conforming_strings = {setting}")).await.expect("set");
        }
        for (protocol, result, expected) in [
            (
                "simple",
                client.simple_query(statement).await.map(|_| ()),
                direct.simple_query(statement).await.map(|_| ()),
            ),
            ("extended", client.prepare(statement).await.map(|_| ()), direct.prepare(statement).await.map(|_| ())),
        ] {
            let (code, message) = error_of(result);
            let twin = error_of(expected);
            assert_eq!((code, message.clone()), twin, "{protocol}, standard_conforming_strings = {setting}");
            assert!(message.contains(r#""\'; INSERT INTO canary VALUES (1); --$sy_refusal$ $$ \\ it's""#), "{message}");
        }
        client.simple_query("SELECT 1").await.expect("the session goes on");
    }
    let ran: i64 = db.client.query_one("SELECT count(*) FROM canary", &[]).await.expect("count").get(0);
    assert_eq!(ran, 0, "nothing of the refused statement ran");
}
