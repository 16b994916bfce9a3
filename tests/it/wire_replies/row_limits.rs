//! pgjdbc sends Execute with a row limit of 1 for a statement it expects no
//! rows from, and a fetch size as the limit for cursors; PostgreSQL answers a
//! write without RETURNING with its command tag whatever the limit, and
//! suspends a RETURNING's rows at the limit. The proxy's rewritten writes
//! must answer the same.

use super::common::{Pair, PHASES};
use super::fixture::{t, U1, U2};
use crate::support::assert_same_as_legacy;
use crate::support::raw::{bind, execute, parse, sync, Conn};

/// The summaries of one Parse/Bind/Execute(limit)…/Sync exchange.
async fn run(c: &mut Conn, sql: &str, params: &[Option<&str>], limits: &[i32]) -> Vec<String> {
    let mut frames = vec![parse("", sql, &[]), bind("", "", params)];
    frames.extend(limits.iter().map(|n| execute("", *n)));
    frames.push(sync());
    c.exchange(&frames).await.iter().map(|m| m.summary()).collect()
}

#[tokio::test]
async fn writes_without_returning_complete_with_their_tag_under_any_row_limit() {
    for phase in PHASES {
        let pair = Pair::new(phase).await;
        let mut app = Conn::connect(&pair.proxy.url()).await;
        let mut twin = Conn::connect(&pair.twin.url).await;
        let id = t(70).to_string();
        let statements: [(&str, Vec<Option<&str>>); 4] = [
            ("INSERT INTO todos (id, user_id, title) VALUES ($1, $2, 'limited')", vec![Some(&id), Some(U1)]),
            ("UPDATE todos SET priority = priority + 1 WHERE user_id = $1", vec![Some(U1)]),
            ("UPDATE todos SET priority = 9 WHERE user_id = $1 AND false", vec![Some(U2)]),
            ("DELETE FROM todos WHERE id = $1", vec![Some(&id)]),
        ];
        for (sql, params) in &statements {
            for limit in [1, 2, 0] {
                let got = run(&mut app, sql, params, &[limit]).await;
                let want = run(&mut twin, sql, params, &[limit]).await;
                assert_same_as_legacy(&want, &got, format_args!("{phase}: {sql} with a row limit of {limit}"));
                assert!(got.iter().any(|m| m.starts_with("C ")), "{phase}: {sql}: {got:?}");
                if *sql == statements[0].0 {
                    // Insert it again for the next limit.
                    run(&mut app, statements[3].0, &[Some(&id)], &[0]).await;
                    run(&mut twin, statements[3].0, &[Some(&id)], &[0]).await;
                }
            }
        }
    }
}

#[tokio::test]
async fn returning_rows_beyond_the_limit_suspend_and_continue() {
    for phase in PHASES {
        let pair = Pair::new(phase).await;
        let mut app = Conn::connect(&pair.proxy.url()).await;
        let mut twin = Conn::connect(&pair.twin.url).await;
        let ids = [t(71).to_string(), t(72).to_string(), t(73).to_string()];
        let insert = "INSERT INTO todos (id, user_id, title) VALUES ($1, $4, 'r1'), ($2, $4, 'r2'), ($3, $4, 'r3') \
                      RETURNING id, title";
        let params = [Some(ids[0].as_str()), Some(ids[1].as_str()), Some(ids[2].as_str()), Some(U1)];
        let got = run(&mut app, insert, &params, &[2, 2]).await;
        let want = run(&mut twin, insert, &params, &[2, 2]).await;
        assert_same_as_legacy(&want, &got, format_args!("{phase}: INSERT … RETURNING fetched two rows at a time"));
        assert_eq!(got.iter().filter(|m| *m == "s").count(), 1, "{phase}: suspended once: {got:?}");
        let update = "UPDATE todos SET priority = 4 WHERE title IN ('r1', 'r2', 'r3') RETURNING title";
        for limits in [&[1, 1, 1, 1][..], &[3], &[5], &[0]] {
            let got = run(&mut app, update, &[], limits).await;
            let want = run(&mut twin, update, &[], limits).await;
            assert_eq!(got.len(), want.len(), "{phase}: UPDATE … RETURNING with limits {limits:?}: {got:?} {want:?}");
            let sorted = |mut v: Vec<String>| {
                v.sort();
                v
            };
            // Which row comes first is the plan's choice; the messages are the same.
            assert_eq!(sorted(got), sorted(want), "{phase}: UPDATE … RETURNING with limits {limits:?}");
        }
    }
}
