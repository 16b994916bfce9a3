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
//! and FunctionCall. After an ErrorResponse to an extended-protocol message,
//! PostgreSQL discards every message up to the next Sync, and so does the
//! queue, including the messages a pipelining client sends after the error
//! has already come back. Pure logic: no I/O.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::{BufMut, BytesMut};
use switchyard_rewriter::CommandTag;

use crate::protocol::bind::BindParams;
use crate::protocol::{tags, write_message};
use crate::route::ask_postgres::{legacy_error, ClientText, ErrorFields, Parsed};
use crate::route::legacy_names::LegacyNames;

/// What a rewritten statement's answer must be turned into (every
/// rewritten statement has one: its errors are renamed to legacy's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// `INSERT 0 n`, `UPDATE n` or `DELETE n` in place of `SELECT n`
    /// (`AsReported`: the tag as PostgreSQL gives it).
    pub tag: CommandTag,
    /// The statement returns one `sy_count` row the client must not see;
    /// its value is the affected count.
    pub hide_rows: bool,
    /// `sy_count` arrives in binary (the client's Bind asked for binary results).
    pub binary_count: bool,
    /// Result columns described as computed (0/0) may be todos' columns
    /// found by name ([`crate::route::row_origin`]).
    pub origins_by_name: bool,
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

/// What to do with one backend message; declared with the seam the session
/// calls through, so that the session does not depend on the router.
pub use crate::session::intercept::Fix;

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
    /// An extended-protocol message failed before its Sync was sent
    /// upstream: PostgreSQL discards what follows until that Sync, so
    /// nothing expected meanwhile is answered.
    discarding: bool,
    /// An extended-protocol message failed since [`ResponseFixer::take_failure`]
    /// was last asked.
    failed: bool,
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
        if self.discarding {
            if e != Expect::Sync {
                return;
            }
            self.discarding = false;
        }
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

    /// Nothing awaited: every message sent has been answered, and
    /// PostgreSQL is not discarding messages until a Sync still to come.
    pub fn is_idle(&self) -> bool {
        self.queue.is_empty() && !self.discarding
    }

    /// Whether an extended-protocol message failed since the last call: what
    /// was sent after it up to its Sync never ran.
    pub fn take_failure(&mut self) -> bool {
        std::mem::take(&mut self.failed)
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
                matches!(shapes.front(), Some(Some(s)) if s.tag != CommandTag::AsReported)
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
            tags::PARSE_COMPLETE | tags::BIND_COMPLETE | tags::CLOSE_COMPLETE => self.on_completion(),
            tags::PARAMETER_DESCRIPTION => Fix::Forward,
            tags::NO_DATA => {
                if matches!(self.queue.front(), Some(Expect::Describe { .. })) {
                    self.pop();
                }
                Fix::Forward
            }
            tags::ROW_DESCRIPTION => self.on_row_description(body),
            tags::DATA_ROW => self.on_data_row(body),
            tags::COMMAND_COMPLETE => self.on_command_complete(body),
            tags::EMPTY_QUERY_RESPONSE => {
                self.end_of_statement();
                Fix::Forward
            }
            PORTAL_SUSPENDED => {
                if matches!(self.queue.front(), Some(Expect::Execute(_))) {
                    self.pop();
                }
                self.hidden_count = None;
                Fix::Forward
            }
            tags::ERROR_RESPONSE => self.on_error(body),
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

    /// ParseComplete, BindComplete or CloseComplete: hidden when the
    /// message it answers was the proxy's own.
    fn on_completion(&mut self) -> Fix {
        if let Some(Expect::Completion { swallow }) = self.queue.front() {
            let swallow = *swallow;
            self.pop();
            if swallow {
                return Fix::Drop;
            }
        }
        Fix::Forward
    }

    fn on_row_description(&mut self, body: &[u8]) -> Fix {
        match self.queue.front_mut() {
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
        }
    }

    /// A row: hidden (and its count kept) when it is the wrapper's `sy_count`.
    fn on_data_row(&mut self, body: &[u8]) -> Fix {
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

    /// The statement's end: its shape leaves the queue.
    fn end_of_statement(&mut self) -> Option<Shape> {
        match self.queue.front_mut() {
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
        }
    }

    /// CommandComplete: the client's own command tag for a rewritten write.
    fn on_command_complete(&mut self, body: &[u8]) -> Fix {
        let shape = self.end_of_statement();
        let hidden = self.hidden_count.take();
        let tag = shape.and_then(|s| {
            let n = if s.hide_rows { hidden.unwrap_or(0) } else { rows_in_tag(body).unwrap_or(0) };
            s.tag.render(n)
        });
        match tag {
            Some(text) => {
                let mut out = BytesMut::with_capacity(24);
                write_message(&mut out, tags::COMMAND_COMPLETE, |b| {
                    b.put_slice(text.as_bytes());
                    b.put_u8(0);
                });
                Fix::Replace(out)
            }
            None => Fix::Forward,
        }
    }

    /// An error in legacy's names. After a simple Query's or a
    /// FunctionCall's, their ReadyForQuery follows; after an extended-protocol
    /// message's, PostgreSQL discards every message up to the next Sync
    /// (Query and FunctionCall included), and so does the queue. When that
    /// Sync has not been sent yet (a pipelining client reads the error
    /// before sending the rest), what is expected until it is discarded too.
    fn on_error(&mut self, body: &[u8]) -> Fix {
        self.hidden_count = None;
        let renamed = if self.answering_rewritten() { self.names.error_response(body) } else { None };
        let renamed_body = renamed.as_ref().map_or(body, |m| &m[5..]);
        let renamed = self.legacy_error(renamed_body).or(renamed);
        self.answer = None;
        match self.queue.front_mut() {
            Some(Expect::Query(shapes)) => {
                shapes.clear();
                self.texts.front_mut().map(VecDeque::clear);
            }
            // A FunctionCall's error, or a Sync's (a commit that failed), or
            // one answering nothing sent (a FATAL): ReadyForQuery or the end follows.
            Some(Expect::Sync | Expect::FunctionCall) | None => {}
            Some(_) => {
                while self.queue.front().is_some_and(|e| *e != Expect::Sync) {
                    self.pop();
                }
                self.discarding = self.queue.is_empty();
                self.failed = true;
            }
        }
        renamed.map_or(Fix::Forward, Fix::Replace)
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
mod tests;
