//! What the router decides for a table of statements per phase, in both
//! protocols: forward the client's bytes, send a rewrite, or refuse (with
//! the SQLSTATE and reason PostgreSQL is made to raise). The decisions are
//! read off the messages the router sends upstream, not whole SQL strings;
//! the rewrites themselves are the rewriter's (its own tables and the
//! integration suite check them).

use std::time::Duration;

use super::*;
use crate::route::legacy_names::LegacyNames;
use crate::session::intercept::TxStatus;

/// What the router did with one client message.
#[derive(Debug, PartialEq)]
enum Decision {
    /// The client's bytes go upstream unchanged.
    Forward,
    /// Something else goes upstream, reading or writing the new tables.
    Rewrite,
    /// A `DO` block raising this SQLSTATE, its message containing the text.
    Refuse(&'static str, &'static str),
    /// Held until the phase is known.
    Wait,
}
use Decision::*;

fn router(phase: Option<Phase>) -> Router {
    let (_tx, rx) = watch::channel(phase.map(|phase| PhaseView { phase, epoch: 1 }));
    router_on(rx)
}

/// A router reading the phase from `rx`.
fn router_on(rx: watch::Receiver<Option<PhaseView>>) -> Router {
    Router::new(RouteContext {
        rewriter: Arc::new(Rewriter::with_default_spec()),
        metrics: Arc::new(crate::Metrics::default()),
        phase: rx,
        phase_wait: Duration::ZERO,
        tracker: Arc::new(EpochTracker::default()),
        names: Arc::new(LegacyNames::default()),
        shadow: None,
        ask: None,
    })
}

const IDLE: SessionInfo = SessionInfo { tx_status: TxStatus::Idle, requests_in_flight: 0 };

/// The messages in `out`: tag and body.
fn messages(out: &[u8]) -> Vec<(u8, &[u8])> {
    let mut found = Vec::new();
    let mut rest = out;
    while rest.len() >= 5 {
        let len = u32::from_be_bytes([rest[1], rest[2], rest[3], rest[4]]) as usize;
        found.push((rest[0], &rest[5..1 + len]));
        rest = &rest[1 + len..];
    }
    found
}

/// A body's first text field.
fn first_field(body: &[u8]) -> String {
    String::from_utf8_lossy(body.split(|b| *b == 0).next().unwrap_or(body)).into_owned()
}

/// The SQL of every Query and Parse in `out`.
fn sent_texts(out: &[u8]) -> Vec<String> {
    messages(out)
        .into_iter()
        .filter_map(|(tag, body)| match tag {
            tags::QUERY => Some(first_field(body)),
            tags::PARSE => body.splitn(3, |b| *b == 0).nth(1).map(|sql| String::from_utf8_lossy(sql).into_owned()),
            _ => None,
        })
        .collect()
}

/// The decision, told from the verdict and what it sends; a refusal must
/// carry `expected`'s SQLSTATE and reason (the `DO` block quotes both).
fn decision(verdict: Verdict, expected: &Decision) -> Decision {
    let out = match verdict {
        Verdict::Forward => return Forward,
        Verdict::Wait => return Wait,
        Verdict::Replace(out) => out,
    };
    let texts = sent_texts(&out);
    let raised = texts.iter().find(|t| t.starts_with("DO $sy_refusal"));
    match (raised, expected) {
        (Some(block), Refuse(code, reason))
            if block.contains(&format!("ERRCODE = '{code}'")) && block.contains(reason) =>
        {
            Refuse(code, reason)
        }
        (Some(block), _) => panic!("an unexpected refusal: {block}"),
        (None, _) if texts.iter().any(|t| t.contains("todos_active") || t.contains("switchyard.")) => Rewrite,
        (None, _) => panic!("replaced, but neither rewritten nor refused: {texts:?}"),
    }
}

const DW: Phase = Phase::DualWrite;
const RN: Phase = Phase::ReadNew;
const WN: Phase = Phase::WriteNew;
const NO: Phase = Phase::NewOnly;

/// Statements and what the router does with them in dual_write, read_new,
/// write_new and new_only.
fn table() -> Vec<(&'static str, [Decision; 4])> {
    let truncate = || Refuse("0A000", "TRUNCATE on todos is not allowed");
    vec![
        ("SELECT 1", [Forward, Forward, Forward, Forward]),
        ("SELECT * FROM users WHERE id = $1", [Forward, Forward, Forward, Forward]),
        // Reads stay on legacy in dual_write (only shadowed), then move.
        ("SELECT id, title FROM todos WHERE user_id = $1", [Forward, Rewrite, Rewrite, Rewrite]),
        // A locking read locks where writes go.
        ("SELECT id FROM todos WHERE id = $1 FOR UPDATE", [Forward, Forward, Rewrite, Rewrite]),
        // Every write is mirrored in every phase.
        ("INSERT INTO todos (id, user_id, title) VALUES ($1, $2, $3)", [Rewrite, Rewrite, Rewrite, Rewrite]),
        ("UPDATE todos SET status = 'done' WHERE id = $1", [Rewrite, Rewrite, Rewrite, Rewrite]),
        ("DELETE FROM todos WHERE id = $1 RETURNING title", [Rewrite, Rewrite, Rewrite, Rewrite]),
        ("TRUNCATE todos", [truncate(), truncate(), truncate(), truncate()]),
        (
            "COPY todos FROM STDIN",
            [
                Refuse("0A000", "COPY into todos is not supported"),
                Refuse("0A000", "COPY into todos is not supported"),
                Refuse("0A000", "COPY into todos is not supported"),
                Refuse("0A000", "COPY into todos is not supported"),
            ],
        ),
        // Constraint names exist only on legacy.
        (
            "INSERT INTO todos (id, user_id, title) VALUES ($1, $2, 'x') ON CONFLICT ON CONSTRAINT todos_pkey DO NOTHING",
            [Rewrite, Rewrite, Refuse("0A000", "ON CONSTRAINT"), Refuse("0A000", "ON CONSTRAINT")],
        ),
    ]
}

#[test]
fn a_query_is_forwarded_rewritten_or_refused_by_phase() {
    for (sql, per_phase) in table() {
        for (phase, expected) in [DW, RN, WN, NO].into_iter().zip(&per_phase) {
            let mut r = router(Some(phase));
            let got = decision(r.route(&FrontendMessage::Query { sql }, &IDLE), expected);
            assert_eq!(&got, expected, "{phase}, Query: {sql}");
        }
    }
}

#[test]
fn a_parse_is_forwarded_rewritten_or_refused_by_phase() {
    for (sql, per_phase) in table() {
        for (phase, expected) in [DW, RN, WN, NO].into_iter().zip(&per_phase) {
            let mut r = router(Some(phase));
            let parse = FrontendMessage::Parse { statement: "s1", sql, param_types: Vec::new() };
            let got = decision(r.route(&parse, &IDLE), expected);
            assert_eq!(&got, expected, "{phase}, Parse: {sql}");
        }
    }
}

#[test]
fn in_legacy_everything_is_forwarded() {
    for (sql, _) in table() {
        let mut r = router(Some(Phase::Legacy));
        assert_eq!(decision(r.route(&FrontendMessage::Query { sql }, &IDLE), &Forward), Forward, "{sql}");
    }
}

#[test]
fn a_query_of_several_statements_is_planned_statement_by_statement() {
    let sql = "UPDATE todos SET title = 'a' WHERE id = $1; SELECT 1; TRUNCATE todos";
    let mut r = router(Some(DW));
    let Verdict::Replace(out) = r.route(&FrontendMessage::Query { sql }, &IDLE) else {
        panic!("a Query touching todos is replaced");
    };
    let texts = sent_texts(&out);
    assert_eq!(texts.len(), 1, "still one Query upstream: {texts:?}");
    let parts: Vec<&str> = texts[0].split(";\n").map(str::trim).collect();
    assert_eq!(parts.len(), 3, "{parts:?}");
    assert!(parts[0].contains("switchyard.mirror_todos"), "the update is mirrored: {}", parts[0]);
    assert_eq!(parts[1], "SELECT 1", "the statement on no table is sent as written");
    assert!(
        parts[2].starts_with("DO $sy_refusal") && parts[2].contains("'0A000'"),
        "TRUNCATE is refused: {}",
        parts[2]
    );
}

#[tokio::test]
async fn while_the_phase_is_unknown_a_statement_on_todos_waits_then_is_refused_with_57p03() {
    let mut r = router(None);
    let other = FrontendMessage::Query { sql: "SELECT * FROM users" };
    assert_eq!(decision(r.route(&other, &IDLE), &Forward), Forward, "statements on other tables keep flowing");
    let todos = FrontendMessage::Query { sql: "UPDATE todos SET title = 'a' WHERE id = $1" };
    assert_eq!(decision(r.route(&todos, &IDLE), &Wait), Wait);
    std::future::poll_fn(|cx| r.poll_ready(cx)).await;
    let expected = Refuse("57P03", "the migration phase is not known");
    assert_eq!(decision(r.route(&todos, &IDLE), &expected), expected);
}

/// A router whose phase the test moves.
fn router_following(phase: Phase) -> (Router, watch::Sender<Option<PhaseView>>) {
    let (tx, rx) = watch::channel(Some(PhaseView { phase, epoch: 1 }));
    (router_on(rx), tx)
}

const ERROR: &[u8] = b"SERROR\0C42P01\0Mno such table\0\0";

fn parse<'a>(statement: &'a str, sql: &'a str) -> FrontendMessage<'a> {
    FrontendMessage::Parse { statement, sql, param_types: Vec::new() }
}

fn bind<'a>(statement: &'a str) -> FrontendMessage<'a> {
    FrontendMessage::Bind { portal: "", statement, rest: &BIND_NOTHING }
}

/// Every statement Closed or Parsed in `out`, in order.
fn own_statements(out: &[u8]) -> Vec<String> {
    messages(out)
        .into_iter()
        .filter_map(|(tag, body)| match tag {
            tags::CLOSE => Some(format!("close {}", first_field(&body[1..]))),
            tags::PARSE => Some(format!("parse {}", first_field(body))),
            _ => None,
        })
        .collect()
}

#[test]
fn an_error_read_before_the_pipeline_ends_releases_the_phase_at_its_sync() {
    let (mut r, tx) = router_following(DW);
    let busy = SessionInfo { tx_status: TxStatus::Idle, requests_in_flight: 1 };
    // Parse and Flush; the error comes back before the rest is sent.
    r.route(&parse("s1", "SELECT * FROM no_such_table"), &IDLE);
    r.on_backend(tags::ERROR_RESPONSE, ERROR);
    tx.send_replace(Some(PhaseView { phase: RN, epoch: 2 }));
    // The rest, discarded by PostgreSQL: a Bind and Execute of s1, then Sync.
    r.route(&bind("s1"), &busy);
    r.route(&FrontendMessage::Execute { portal: "", max_rows: 0 }, &busy);
    r.route(&FrontendMessage::Sync, &busy);
    let now = PhaseView { phase: RN, epoch: 2 };
    assert_eq!(r.ctx.tracker.oldest(now).epoch, 1, "the transaction runs under dual_write until its end");
    r.on_backend(tags::READY_FOR_QUERY, b"I");
    assert_eq!(r.ctx.tracker.oldest(now), now, "the Sync's ReadyForQuery ends it: the flip can be acknowledged");
}

#[test]
fn a_variant_parsed_after_a_failure_in_its_pipeline_is_parsed_again_after_a_close() {
    let (mut r, tx) = router_following(DW);
    let busy = SessionInfo { tx_status: TxStatus::Idle, requests_in_flight: 1 };
    let read = "SELECT id, title FROM todos WHERE user_id = $1";
    assert!(matches!(r.route(&parse("s1", read), &IDLE), Verdict::Forward), "reads stay on legacy in dual_write");
    r.route(&FrontendMessage::Sync, &busy);
    r.on_backend(tags::PARSE_COMPLETE, &[]);
    r.on_backend(tags::READY_FOR_QUERY, b"I");
    tx.send_replace(Some(PhaseView { phase: RN, epoch: 2 }));

    // In read_new, a pipeline whose first statement fails: PostgreSQL
    // discards the read_new variant's Parse that follows.
    r.route(&parse("", "SELECT * FROM no_such_table"), &IDLE);
    let Verdict::Replace(out) = r.route(&bind("s1"), &busy) else { panic!("s1 is bound to its read_new variant") };
    assert_eq!(own_statements(&out), ["parse sy_read_new_s1"]);
    r.route(&FrontendMessage::Sync, &busy);
    r.on_backend(tags::ERROR_RESPONSE, ERROR);
    r.on_backend(tags::READY_FOR_QUERY, b"I");

    // The variant may or may not exist: closed, then parsed again.
    let Verdict::Replace(out) = r.route(&bind("s1"), &IDLE) else { panic!("bound to its variant") };
    assert_eq!(own_statements(&out), ["close sy_read_new_s1", "parse sy_read_new_s1"]);
    r.route(&FrontendMessage::Sync, &busy);
    for tag in [tags::CLOSE_COMPLETE, tags::PARSE_COMPLETE, tags::BIND_COMPLETE, tags::READY_FOR_QUERY] {
        r.on_backend(tag, b"I");
    }
    assert!(r.fixer.is_idle());
    let Verdict::Replace(out) = r.route(&bind("s1"), &IDLE) else { panic!("bound to its variant") };
    assert!(own_statements(&out).is_empty(), "once it exists the variant is reused: {:?}", own_statements(&out));
}
