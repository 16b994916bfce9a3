//! PostgreSQL reads Parse's and Bind's counts as unsigned 16-bit integers:
//! a statement may have up to 65,535 parameters. The proxy decodes, plans,
//! re-encodes and forwards them alike.

use super::common::Pair;
use super::fixture::t;
use crate::support::raw::{bind, execute, parse, sync, Conn};

const UUID: u32 = 2950;
const INT4: u32 = 23;

/// `$1, $2, …, $n`.
fn placeholders(n: usize) -> String {
    (1..=n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

async fn run(c: &mut Conn, sql: &str, types: &[u32], values: &[Option<&str>]) -> Vec<String> {
    let frames = [parse("", sql, types), bind("", "", values), execute("", 0), sync()];
    c.exchange(&frames).await.iter().map(|m| m.summary()).collect()
}

#[tokio::test]
async fn statements_with_40000_parameters_are_routed_and_passed_through() {
    const N: usize = 40_000;
    let pair = Pair::new("read_new").await;
    let mut app = Conn::connect(&pair.proxy.url()).await;
    let mut twin = Conn::connect(&pair.twin.url).await;

    // Ids t(1)..t(40000): the fixture's eight todos among them.
    let ids: Vec<String> = (1..=N as u32).map(|n| t(n).to_string()).collect();
    let values: Vec<Option<&str>> = ids.iter().map(|s| Some(s.as_str())).collect();
    let uuids = vec![UUID; N];
    let read = format!("SELECT count(*) FROM todos WHERE id IN ({})", placeholders(N));
    let got = run(&mut app, &read, &uuids, &values).await;
    assert_eq!(got, run(&mut twin, &read, &uuids, &values).await, "a read of todos, rewritten");
    assert_eq!(got, ["1", "2", "D [Some(\"8\")]", "C SELECT 1", "Z"]);

    let write = format!("UPDATE todos SET priority = 6 WHERE id IN ({})", placeholders(N));
    let got = run(&mut app, &write, &uuids, &values).await;
    assert_eq!(got, run(&mut twin, &write, &uuids, &values).await, "a write of todos, rewritten and mirrored");
    assert_eq!(got, ["1", "2", "C UPDATE 8", "Z"]);

    let numbers: Vec<String> = (1..=N).map(|i| i.to_string()).collect();
    let values: Vec<Option<&str>> = numbers.iter().map(|s| Some(s.as_str())).collect();
    let passthrough = format!("SELECT $1::int + ${N}::int, cardinality(ARRAY[{}])", placeholders(N));
    let got = run(&mut app, &passthrough, &vec![INT4; N], &values).await;
    assert_eq!(got, run(&mut twin, &passthrough, &vec![INT4; N], &values).await, "a statement on other tables");
    assert_eq!(got, ["1", "2", "D [Some(\"40001\"), Some(\"40000\")]", "C SELECT 1", "Z"]);
    super::common::assert_in_step(&pair.db, &pair.twin, true, "after the wide update").await;
}
