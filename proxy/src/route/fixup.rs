//! Response fix-ups: giving the client back exactly what it would have seen
//! without the rewrite (invariant I5).
//!
//! A rewritten write runs as `WITH sy_rows AS (<client DML> RETURNING ...),
//! ... SELECT ...`, so PostgreSQL answers it like a SELECT. The client wrote
//! an INSERT, UPDATE or DELETE and expects that command tag, and, when it
//! wrote no RETURNING, no rows and `NoData` for a Describe. The proxy also
//! sends messages of its own (a re-Parse for another phase, the `DO` block of
//! a refusal) whose completions the client must not see.
//!
//! [`ResponseFixer`] is a queue of what each response-producing message sent
//! upstream expects, in order, and a small state machine over the backend
//! messages that answer them
//! (<https://www.postgresql.org/docs/current/protocol-flow.html>): one
//! completion per Parse, Bind and Close; ParameterDescription and
//! RowDescription or NoData per Describe; rows and one CommandComplete,
//! EmptyQueryResponse or PortalSuspended per Execute; per statement of a
//! simple Query, rows and a CommandComplete; ReadyForQuery per Sync, Query
//! and FunctionCall. After an ErrorResponse, PostgreSQL skips to the next
//! Sync, and so does the queue. Pure logic: no I/O.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::{BufMut, BytesMut};

use crate::protocol::bind::BindParams;
use crate::protocol::{tags, write_message};
use crate::route::ask_postgres::{legacy_error, ClientText, ErrorFields, Parsed};
use crate::route::legacy_names::LegacyNames;

/// What a rewritten statement's answer must be turned into (every
/// rewritten statement has one: its errors are renamed to legacy's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// `INSERT 0 n`, `UPDATE n` or `DELETE n` in place of `SELECT n`.
    pub tag: Option<TagKind>,
    /// The statement returns one `sy_count` row the client must not see;
    /// its value is the affected count.
    pub hide_rows: bool,
    /// `sy_count` arrives in binary (the client's Bind asked for binary results).
    pub binary_count: bool,
    /// Result columns described as computed (0/0) may be todos' columns
    /// found by name ([`crate::route::row_origin`]).
    pub origins_by_name: bool,
}

/// The command a rewritten statement stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagKind {
    Insert,
    Update,
    Delete,
}

impl TagKind {
    fn render(self, n: u64) -> String {
        match self {
            TagKind::Insert => format!("INSERT 0 {n}"),
            TagKind::Update => format!("UPDATE {n}"),
            TagKind::Delete => format!("DELETE {n}"),
        }
    }
}

/// What one message sent upstream expects back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// ParseComplete, BindComplete or CloseComplete. `swallow`: the proxy
    /// sent the message on its own, the client never asked.
    Completion { swallow: bool },
    /// Describe: for a statement, ParameterDescription first; then
    /// RowDescription or NoData. `hide_rows` turns the RowDescription into
    /// NoData; `rewritten`: its columns get legacy's table OID and numbers
    /// (`origins_by_name` as in [`Shape`]).
    Describe { hide_rows: bool, rewritten: bool, origins_by_name: bool },
    /// Execute of a portal; `None` forwards the result as it is.
    Execute(Option<Shape>),
    /// Sync: ReadyForQuery.
    Sync,
    /// A simple Query, one entry per statement; ends at ReadyForQuery.
    Query(VecDeque<Option<Shape>>),
    /// FunctionCall: its response, then ReadyForQuery.
    FunctionCall,
}

/// What to do with one backend message.
#[derive(Debug, PartialEq, Eq)]
pub enum Fix {
    Forward,
    Drop,
    /// Send these bytes (whole messages) instead.
    Replace(BytesMut),
    /// Not yet: deliver the message again once the interceptor's
    /// [`crate::Interceptor::poll_backend_ready`] is ready.
    Wait,
}

/// The client texts of what one expectation answers: one per statement of
/// a Query, at most one otherwise.
type Texts = VecDeque<Option<Arc<ClientText>>>;

/// The queue of expectations and the state of the answer being read.
#[derive(Debug, Default)]
pub struct ResponseFixer {
    queue: VecDeque<Expect>,
    /// Aligned with `queue`.
    texts: VecDeque<Texts>,
    /// PostgreSQL's word on the client's text of the error being read (None
    /// inside: it could not be asked), set by [`ResponseFixer::answer`].
    answer: Option<Option<Parsed>>,
    /// The affected count read from a hidden `sy_count` row.
    hidden_count: Option<u64>,
    /// Legacy's names for the new schema's, in errors of rewritten statements.
    names: Arc<LegacyNames>,
}

impl ResponseFixer {
    pub fn new() -> ResponseFixer {
        ResponseFixer::default()
    }

    /// A fixer that renames the new schema's relations and constraints in
    /// the errors of rewritten statements to legacy's.
    pub fn with_names(names: Arc<LegacyNames>) -> ResponseFixer {
        ResponseFixer { names, ..ResponseFixer::default() }
    }

    /// A rewritten statement's RowDescription with legacy todos' table OID
    /// and attribute numbers.
    fn legacy_origins(&self, body: &[u8], by_name: bool) -> Fix {
        let columns = self.current_text().and_then(|t| t.columns.as_deref());
        crate::route::row_origin::row_description(&self.names, body, by_name, columns)
            .map_or(Fix::Forward, Fix::Replace)
    }

    /// Whether the answer being read is a rewritten statement's.
    fn answering_rewritten(&self) -> bool {
        match self.queue.front() {
            Some(Expect::Execute(s)) => s.is_some(),
            Some(Expect::Query(shapes)) => matches!(shapes.front(), Some(Some(_))),
            // The Parse of a rewritten statement: its analysis errors too.
            Some(Expect::Completion { .. }) => self.current_text().is_some_and(|t| !t.refused),
            _ => false,
        }
    }

    /// Records what a message sent upstream expects.
    pub fn expect(&mut self, e: Expect) {
        self.expect_with(e, Texts::new());
    }

    /// Records what a message sent upstream expects, with the client's own
    /// text of each statement it answers for that the proxy rewrote or refused.
    pub fn expect_with(&mut self, e: Expect, texts: impl IntoIterator<Item = Option<Arc<ClientText>>>) {
        self.queue.push_back(e);
        self.texts.push_back(texts.into_iter().collect());
    }

    fn pop(&mut self) {
        self.queue.pop_front();
        self.texts.pop_front();
    }

    /// The client text of the statement being answered.
    fn current_text(&self) -> Option<&Arc<ClientText>> {
        self.texts.front()?.front()?.as_ref()
    }

    /// For an ErrorResponse: the client's text to ask PostgreSQL about, when
    /// the error is a refusal of a statement the rewriter cannot parse or
    /// carries a position in the proxy's SQL. Give the answer to
    /// [`ResponseFixer::answer`] before [`ResponseFixer::fix`].
    pub fn asks(&self, body: &[u8]) -> Option<Arc<ClientText>> {
        let text = self.current_text()?;
        let positioned = ErrorFields::parse(body).is_some_and(|f| f.get(b'P').is_some());
        (text.refused || positioned).then(|| Arc::clone(text))
    }

    /// PostgreSQL's word on the text [`ResponseFixer::asks`] named (None:
    /// it could not be asked).
    pub fn answer(&mut self, parsed: Option<Parsed>) {
        self.answer = Some(parsed);
    }

    /// The error legacy would have given ([`legacy_error`]), when
    /// PostgreSQL was asked about the client's text of this one.
    fn legacy_error(&mut self, body: &[u8]) -> Option<BytesMut> {
        let text = Arc::clone(self.current_text()?);
        legacy_error(&text, self.answer.take()?, body)
    }

    /// Nothing awaited: every message sent has been answered.
    pub fn is_idle(&self) -> bool {
        self.queue.is_empty()
    }

    /// Whether any awaited answer needs changing; when not, backend messages
    /// need no more than [`ResponseFixer::pass`].
    pub fn any_fixes(&self) -> bool {
        self.queue.iter().any(|e| match e {
            Expect::Completion { swallow } => *swallow,
            Expect::Describe { hide_rows, rewritten, .. } => *hide_rows || *rewritten,
            Expect::Execute(shape) => shape.is_some(),
            Expect::Query(shapes) => shapes.iter().any(Option::is_some),
            Expect::Sync | Expect::FunctionCall => false,
        })
    }

    /// Whether the backend message with this tag must be seen whole (it may
    /// be changed or dropped). When not, call [`ResponseFixer::pass`].
    pub fn wants(&self, tag: u8) -> bool {
        match (tag, self.queue.front()) {
            (
                tags::PARSE_COMPLETE | tags::BIND_COMPLETE | tags::CLOSE_COMPLETE,
                Some(Expect::Completion { swallow }),
            ) => *swallow,
            (tags::ROW_DESCRIPTION, Some(Expect::Describe { hide_rows, rewritten, .. })) => {
                *hide_rows || (*rewritten && !self.names.is_empty())
            }
            (tags::ROW_DESCRIPTION | tags::DATA_ROW, Some(Expect::Execute(Some(s)))) => s.hide_rows,
            (tags::COMMAND_COMPLETE, Some(Expect::Execute(Some(_)))) => true,
            (tags::ROW_DESCRIPTION, Some(Expect::Query(shapes))) => {
                matches!(shapes.front(), Some(Some(s)) if s.hide_rows || !self.names.is_empty())
            }
            (tags::DATA_ROW, Some(Expect::Query(shapes))) => matches!(shapes.front(), Some(Some(s)) if s.hide_rows),
            (tags::COMMAND_COMPLETE, Some(Expect::Query(shapes))) => {
                matches!(shapes.front(), Some(Some(s)) if s.tag.is_some())
            }
            (tags::ERROR_RESPONSE, _) => {
                (!self.names.is_empty() && self.answering_rewritten()) || self.current_text().is_some()
            }
            _ => false,
        }
    }

    /// Advances past a message that is forwarded unchanged.
    pub fn pass(&mut self, tag: u8) {
        let _ = self.fix(tag, &[]);
    }

    /// Sees one whole backend message and says what the client gets.
    pub fn fix(&mut self, tag: u8, body: &[u8]) -> Fix {
        match tag {
            tags::PARSE_COMPLETE | tags::BIND_COMPLETE | tags::CLOSE_COMPLETE => {
                if let Some(Expect::Completion { swallow }) = self.queue.front() {
                    let swallow = *swallow;
                    self.pop();
                    if swallow {
                        return Fix::Drop;
                    }
                }
                Fix::Forward
            }
            tags::PARAMETER_DESCRIPTION => Fix::Forward,
            tags::NO_DATA => {
                if matches!(self.queue.front(), Some(Expect::Describe { .. })) {
                    self.pop();
                }
                Fix::Forward
            }
            tags::ROW_DESCRIPTION => match self.queue.front_mut() {
                Some(Expect::Describe { hide_rows, rewritten, origins_by_name }) => {
                    let (hide, rewritten, by_name) = (*hide_rows, *rewritten, *origins_by_name);
                    let fix = if hide {
                        let mut out = BytesMut::with_capacity(5);
                        write_message(&mut out, tags::NO_DATA, |_| {});
                        Fix::Replace(out)
                    } else if rewritten {
                        self.legacy_origins(body, by_name)
                    } else {
                        Fix::Forward
                    };
                    self.pop();
                    fix
                }
                Some(Expect::Query(shapes)) => match shapes.front().copied().flatten() {
                    Some(s) if s.hide_rows => Fix::Drop,
                    Some(s) => self.legacy_origins(body, s.origins_by_name),
                    None => Fix::Forward,
                },
                // Execute never sends a RowDescription; forward whatever comes.
                _ => Fix::Forward,
            },
            tags::DATA_ROW => {
                let shape = match self.queue.front() {
                    Some(Expect::Execute(s)) => *s,
                    Some(Expect::Query(shapes)) => shapes.front().copied().flatten(),
                    _ => None,
                };
                match shape {
                    Some(s) if s.hide_rows => {
                        self.hidden_count = Some(read_count(body, s.binary_count).unwrap_or(0));
                        Fix::Drop
                    }
                    _ => Fix::Forward,
                }
            }
            tags::COMMAND_COMPLETE => {
                let shape = match self.queue.front_mut() {
                    Some(Expect::Execute(s)) => {
                        let s = *s;
                        self.pop();
                        s
                    }
                    Some(Expect::Query(shapes)) => {
                        let shape = shapes.pop_front().flatten();
                        self.texts.front_mut().map(VecDeque::pop_front);
                        shape
                    }
                    _ => None,
                };
                let hidden = self.hidden_count.take();
                match shape.and_then(|s| s.tag.map(|t| (t, s))) {
                    Some((kind, s)) => {
                        let n = if s.hide_rows { hidden.unwrap_or(0) } else { rows_in_tag(body).unwrap_or(0) };
                        let mut out = BytesMut::with_capacity(24);
                        write_message(&mut out, tags::COMMAND_COMPLETE, |b| {
                            b.put_slice(kind.render(n).as_bytes());
                            b.put_u8(0);
                        });
                        Fix::Replace(out)
                    }
                    None => Fix::Forward,
                }
            }
            tags::EMPTY_QUERY_RESPONSE => {
                match self.queue.front_mut() {
                    Some(Expect::Execute(_)) => {
                        self.pop();
                    }
                    Some(Expect::Query(shapes)) => {
                        shapes.pop_front();
                        self.texts.front_mut().map(VecDeque::pop_front);
                    }
                    _ => {}
                }
                Fix::Forward
            }
            PORTAL_SUSPENDED => {
                if matches!(self.queue.front(), Some(Expect::Execute(_))) {
                    self.pop();
                }
                self.hidden_count = None;
                Fix::Forward
            }
            tags::ERROR_RESPONSE => {
                self.hidden_count = None;
                let renamed = if self.answering_rewritten() { self.names.error_response(body) } else { None };
                let renamed_body = renamed.as_ref().map_or(body, |m| &m[5..]);
                let renamed = self.legacy_error(renamed_body).or(renamed);
                self.answer = None;
                // PostgreSQL skips to the next Sync; a Query or FunctionCall
                // stays until its ReadyForQuery.
                while let Some(front) = self.queue.front_mut() {
                    match front {
                        Expect::Sync | Expect::FunctionCall => break,
                        Expect::Query(shapes) => {
                            shapes.clear();
                            self.texts.front_mut().map(VecDeque::clear);
                            break;
                        }
                        _ => {
                            self.pop();
                        }
                    }
                }
                renamed.map_or(Fix::Forward, Fix::Replace)
            }
            tags::READY_FOR_QUERY => {
                if matches!(self.queue.front(), Some(Expect::Sync | Expect::Query(_) | Expect::FunctionCall)) {
                    self.pop();
                }
                self.hidden_count = None;
                Fix::Forward
            }
            // Notices, notifications, parameter status, COPY traffic and the
            // FunctionCall response pass as they are.
            _ => Fix::Forward,
        }
    }
}

/// PortalSuspended ('s'), not among the named tags the session needs.
const PORTAL_SUSPENDED: u8 = b's';

/// The value of a one-column DataRow holding a bigint, text or binary.
fn read_count(body: &[u8], binary: bool) -> Option<u64> {
    let cols = i16::from_be_bytes(body.get(0..2)?.try_into().ok()?);
    if cols < 1 {
        return None;
    }
    let len = i32::from_be_bytes(body.get(2..6)?.try_into().ok()?);
    let value = body.get(6..6 + usize::try_from(len).ok()?)?;
    if binary {
        Some(i64::from_be_bytes(value.try_into().ok()?).max(0) as u64)
    } else {
        std::str::from_utf8(value).ok()?.parse().ok()
    }
}

/// The row count at the end of a CommandComplete tag (`SELECT 3` -> 3).
fn rows_in_tag(body: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(body.strip_suffix(&[0]).unwrap_or(body)).ok()?;
    text.rsplit(' ').next()?.parse().ok()
}

/// Whether the result columns of a Bind (its body after portal and
/// statement names) are requested in binary, for a one-column result.
pub fn bind_wants_binary_results(rest: &[u8]) -> bool {
    BindParams::decode(rest).is_ok_and(|b| b.result_format(0) == 1)
}

#[cfg(test)]
mod tests {
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
        Shape { tag: Some(TagKind::Update), hide_rows: true, binary_count: false, origins_by_name: true };

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
            Some(Shape { tag: Some(TagKind::Insert), hide_rows: false, binary_count: false, origins_by_name: true }),
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
}
