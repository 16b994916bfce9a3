//! The reply fix-up's state machine, message by message.

use super::*;

fn command_complete(tag: &str) -> Vec<u8> {
    let mut b = tag.as_bytes().to_vec();
    b.push(0);
    b
}

fn data_row_text(v: &str) -> Vec<u8> {
    let mut b = vec![0, 1];
    b.extend_from_slice(&(v.len() as i32).to_be_bytes());
    b.extend_from_slice(v.as_bytes());
    b
}

fn tag_of(fix: Fix) -> String {
    match fix {
        Fix::Replace(b) => String::from_utf8_lossy(&b[5..b.len() - 1]).into_owned(),
        other => panic!("expected a replacement, got {other:?}"),
    }
}

const HIDDEN_UPDATE: Shape =
    Shape { tag: CommandTag::Update, hide_rows: true, binary_count: false, origins_by_name: true };

#[test]
fn a_hidden_write_becomes_its_command_tag_with_no_rows() {
    let mut f = ResponseFixer::new();
    f.expect(Expect::Completion { swallow: false });
    f.expect(Expect::Completion { swallow: false });
    f.expect(Expect::Describe { hide_rows: true, rewritten: true, origins_by_name: true });
    f.expect(Expect::Execute(Some(HIDDEN_UPDATE)));
    f.expect(Expect::Sync);
    assert_eq!(f.fix(tags::PARSE_COMPLETE, &[]), Fix::Forward);
    assert_eq!(f.fix(tags::BIND_COMPLETE, &[]), Fix::Forward);
    assert!(f.wants(tags::ROW_DESCRIPTION));
    assert!(matches!(f.fix(tags::ROW_DESCRIPTION, &[0, 1]), Fix::Replace(b) if b[..] == [b'n', 0, 0, 0, 4]));
    assert!(f.wants(tags::DATA_ROW));
    assert_eq!(f.fix(tags::DATA_ROW, &data_row_text("3")), Fix::Drop);
    assert_eq!(tag_of(f.fix(tags::COMMAND_COMPLETE, &command_complete("SELECT 1"))), "UPDATE 3");
    assert_eq!(f.fix(tags::READY_FOR_QUERY, b"I"), Fix::Forward);
    assert!(f.is_idle());
}

#[test]
fn a_returning_write_keeps_its_rows_and_gets_its_tag() {
    let mut f = ResponseFixer::new();
    f.expect(Expect::Query(VecDeque::from([
        None,
        Some(Shape { tag: CommandTag::Insert, hide_rows: false, binary_count: false, origins_by_name: true }),
    ])));
    // First statement: a plain SELECT.
    assert!(!f.wants(tags::ROW_DESCRIPTION));
    f.pass(tags::ROW_DESCRIPTION);
    f.pass(tags::DATA_ROW);
    assert!(!f.wants(tags::COMMAND_COMPLETE));
    f.pass(tags::COMMAND_COMPLETE);
    // Second: the rewritten INSERT ... RETURNING keeps its rows.
    assert!(!f.wants(tags::ROW_DESCRIPTION));
    assert!(f.wants(tags::COMMAND_COMPLETE));
    assert_eq!(f.fix(tags::ROW_DESCRIPTION, &[0, 1]), Fix::Forward);
    assert_eq!(f.fix(tags::DATA_ROW, &data_row_text("x")), Fix::Forward);
    assert_eq!(f.fix(tags::DATA_ROW, &data_row_text("y")), Fix::Forward);
    assert_eq!(tag_of(f.fix(tags::COMMAND_COMPLETE, &command_complete("SELECT 2"))), "INSERT 0 2");
    f.pass(tags::READY_FOR_QUERY);
    assert!(f.is_idle());
}

#[test]
fn an_error_skips_to_sync_and_swallowed_completions_stay_hidden() {
    let mut f = ResponseFixer::new();
    // A refusal: the proxy's own Parse and Bind, then the Execute that raises.
    f.expect(Expect::Completion { swallow: true });
    f.expect(Expect::Completion { swallow: true });
    f.expect(Expect::Execute(None));
    // The client's Bind, Execute for the refused statement, then Sync.
    f.expect(Expect::Completion { swallow: false });
    f.expect(Expect::Execute(Some(HIDDEN_UPDATE)));
    f.expect(Expect::Sync);
    assert_eq!(f.fix(tags::PARSE_COMPLETE, &[]), Fix::Drop);
    assert_eq!(f.fix(tags::BIND_COMPLETE, &[]), Fix::Drop);
    assert_eq!(f.fix(tags::ERROR_RESPONSE, b"SERROR\0"), Fix::Forward);
    assert!(!f.wants(tags::COMMAND_COMPLETE));
    assert_eq!(f.fix(tags::READY_FOR_QUERY, b"E"), Fix::Forward);
    assert!(f.is_idle());
}

#[test]
fn an_error_in_a_multi_statement_query_drops_the_rest_of_its_shapes() {
    let mut f = ResponseFixer::new();
    f.expect(Expect::Query(VecDeque::from([Some(HIDDEN_UPDATE), Some(HIDDEN_UPDATE)])));
    f.pass(tags::ERROR_RESPONSE);
    assert!(!f.wants(tags::COMMAND_COMPLETE));
    assert!(!f.is_idle());
    f.pass(tags::READY_FOR_QUERY);
    assert!(f.is_idle());
}

#[test]
fn binary_counts_and_bind_formats_are_read() {
    let mut body = vec![0, 1, 0, 0, 0, 8];
    body.extend_from_slice(&7i64.to_be_bytes());
    assert_eq!(read_count(&body, true), Some(7));
    assert_eq!(read_count(&data_row_text("42"), false), Some(42));
    assert_eq!(read_count(&[0], false), None);
    // no param formats, one text param "5", one result format: binary
    let rest = [0, 0, 0, 1, 0, 0, 0, 1, b'5', 0, 1, 0, 1];
    assert!(bind_wants_binary_results(&rest));
    let rest_text = [0, 0, 0, 0, 0, 0];
    assert!(!bind_wants_binary_results(&rest_text));
    assert!(!bind_wants_binary_results(&[0xff]));
}

fn error(fields: &[(u8, &str)]) -> Vec<u8> {
    let mut b = Vec::new();
    for (code, value) in fields {
        b.push(*code);
        b.extend_from_slice(value.as_bytes());
        b.push(0);
    }
    b.push(0);
    b
}

fn text(sql: &str, offset: usize, refused: bool) -> Option<Arc<ClientText>> {
    Some(Arc::new(ClientText { sql: sql.into(), param_types: Vec::new(), offset, refused, columns: None }))
}

#[test]
fn a_refusal_of_text_postgresql_rejects_becomes_postgresql_own_error() {
    let mut f = ResponseFixer::new();
    f.expect_with(Expect::Execute(None), [text("SELECT FROM todos WHERE", 0, true)]);
    f.expect(Expect::Sync);
    let refusal = error(&[(b'S', "ERROR"), (b'C', "0A000"), (b'M', "does not parse")]);
    assert!(f.wants(tags::ERROR_RESPONSE));
    assert!(f.asks(&refusal).is_some());
    let syntax = error(&[(b'S', "ERROR"), (b'C', "42601"), (b'M', "syntax error at end of input"), (b'P', "24")]);
    f.answer(Some(Parsed::Rejected(ErrorFields::parse(&syntax).expect("fields"))));
    assert!(matches!(f.fix(tags::ERROR_RESPONSE, &refusal), Fix::Replace(b) if b[5..] == syntax[..]));
    f.pass(tags::READY_FOR_QUERY);
    assert!(f.is_idle());
    // Text PostgreSQL accepts keeps its refusal, and so does one whose
    // error depends on the session (the side connection has not its state).
    f.expect_with(Expect::Execute(None), [text("TABLE todos", 0, true)]);
    f.answer(Some(Parsed::Accepted));
    assert_eq!(f.fix(tags::ERROR_RESPONSE, &refusal), Fix::Forward);
    f.expect_with(Expect::Execute(None), [text("TABLE todos, my_temp", 0, true)]);
    let undefined = error(&[(b'S', "ERROR"), (b'C', "42P01"), (b'M', "relation does not exist")]);
    f.answer(Some(Parsed::Rejected(ErrorFields::parse(&undefined).expect("fields"))));
    assert_eq!(f.fix(tags::ERROR_RESPONSE, &refusal), Fix::Forward);
}

#[test]
fn a_rewritten_statement_error_takes_legacy_position_or_none() {
    let mut f = ResponseFixer::new();
    let sql = "SELECT id FROM todos ORDER BY created_at";
    f.expect_with(Expect::Query(VecDeque::from([None, Some(HIDDEN_UPDATE)])), [None, text(sql, 10, false)]);
    f.pass(tags::COMMAND_COMPLETE);
    let theirs = error(&[(b'C', "42702"), (b'M', "ambiguous"), (b'P', "479")]);
    assert!(f.asks(&theirs).is_some());
    let legacy = error(&[(b'C', "42702"), (b'M', "ambiguous"), (b'P', "31")]);
    f.answer(Some(Parsed::Rejected(ErrorFields::parse(&legacy).expect("fields"))));
    let want = error(&[(b'C', "42702"), (b'M', "ambiguous"), (b'P', "41")]);
    assert!(matches!(f.fix(tags::ERROR_RESPONSE, &theirs), Fix::Replace(b) if b[5..] == want[..]));
    f.pass(tags::READY_FOR_QUERY);
    // Another SQLSTATE from PostgreSQL, or no answer: no position at all.
    f.expect_with(Expect::Completion { swallow: false }, [text(sql, 0, false)]);
    f.answer(None);
    let want = error(&[(b'C', "42702"), (b'M', "ambiguous")]);
    assert!(matches!(f.fix(tags::ERROR_RESPONSE, &theirs), Fix::Replace(b) if b[5..] == want[..]));
    // Without a position there is nothing to ask.
    f.expect_with(Expect::Completion { swallow: false }, [text(sql, 0, false)]);
    assert!(f.asks(&want).is_none());
}

#[test]
fn tags_are_read_from_command_complete() {
    assert_eq!(rows_in_tag(b"SELECT 12\0"), Some(12));
    assert_eq!(rows_in_tag(b"INSERT 0 5\0"), Some(5));
    assert_eq!(rows_in_tag(b"BEGIN\0"), None);
}

#[test]
fn an_error_read_before_the_rest_of_its_pipeline_is_sent_discards_that_rest_up_to_its_sync() {
    let mut f = ResponseFixer::new();
    // A pipelining client sends a Parse and a Flush, and reads the error ...
    f.expect(Expect::Completion { swallow: false });
    assert_eq!(f.fix(tags::ERROR_RESPONSE, b"SERROR\0"), Fix::Forward);
    assert!(!f.is_idle(), "PostgreSQL discards until a Sync still to come");
    assert!(f.take_failure());
    assert!(!f.take_failure(), "told once");
    // ... then sends the rest, which PostgreSQL discards: no answer but the Sync's.
    f.expect(Expect::Completion { swallow: true });
    f.expect(Expect::Execute(Some(HIDDEN_UPDATE)));
    f.expect(Expect::Query(VecDeque::from([None])));
    f.expect(Expect::Sync);
    assert!(!f.wants(tags::COMMAND_COMPLETE));
    assert_eq!(f.fix(tags::READY_FOR_QUERY, b"I"), Fix::Forward);
    assert!(f.is_idle(), "nothing left awaited after the Sync's ReadyForQuery");
    // What follows is answered again.
    f.expect(Expect::Execute(Some(HIDDEN_UPDATE)));
    assert!(f.wants(tags::COMMAND_COMPLETE));
}

#[test]
fn an_extended_error_discards_a_query_sent_before_the_sync_but_a_commit_error_at_sync_does_not_discard() {
    let mut f = ResponseFixer::new();
    f.expect(Expect::Execute(None));
    f.expect(Expect::Query(VecDeque::from([None])));
    f.expect(Expect::Sync);
    f.pass(tags::ERROR_RESPONSE);
    f.pass(tags::READY_FOR_QUERY);
    assert!(f.is_idle(), "the Query between the failure and the Sync was discarded, not answered");
    assert!(f.take_failure());

    // A deferred constraint failing at the Sync's commit: its ReadyForQuery follows.
    f.expect(Expect::Sync);
    f.pass(tags::ERROR_RESPONSE);
    assert!(!f.take_failure(), "nothing was discarded");
    f.expect(Expect::Completion { swallow: false });
    f.pass(tags::READY_FOR_QUERY);
    assert!(!f.is_idle(), "the Parse sent after that Sync is still awaited");
    f.pass(tags::PARSE_COMPLETE);
    assert!(f.is_idle());
}
