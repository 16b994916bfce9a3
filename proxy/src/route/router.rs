//! Routing statements that touch the migrated table through the rewriter,
//! in both protocols (design §3 to §5, invariants I1, I4, I5, I6).
//!
//! One [`Router`] per session. It reads the migration phase when a
//! transaction starts (no request in flight and the last ReadyForQuery said
//! idle) and holds it until the transaction's ReadyForQuery says idle again,
//! so a flip never splits a transaction. Each statement is planned for that
//! phase; the [`ResponseFixer`] in the session is told what every message
//! sent upstream expects, so the client gets back its own command tags,
//! NoData and rows.
//!
//! - Simple Query: split into statements; if any touches the table, the
//!   statements are sent rewritten in one Query, in order.
//! - Parse: planned for the current phase. A named statement executed under
//!   another phase later gets a variant parsed under a name of the proxy's
//!   own (`sy_<phase>_<name>`), so the client's names stay valid across flips.
//! - Refusals (I4): the proxy sends a `DO` block that raises SQLSTATE 0A000
//!   with the reason, so PostgreSQL itself reports the error, aborts the
//!   transaction block and skips to Sync exactly as for any failed statement;
//!   nothing of the refused statement runs.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex};

use bytes::{BufMut, BytesMut};
use switchyard_rewriter::{Action, CommandTag, Phase, Plan, Rewriter};
use tokio::sync::watch;

use crate::metrics::RouteAction;
use crate::protocol::frontend::FrontendMessage;
use crate::protocol::{put_cstr, tags, write_message};
use crate::route::ask_postgres::{ClientText, Parsed};
use crate::route::fixup::{bind_wants_binary_results, Expect, Fix, ResponseFixer, Shape, TagKind};
use crate::route::phase_gate::{PhaseGate, PHASE_UNKNOWN_MESSAGE, PHASE_UNKNOWN_SQLSTATE};
use crate::session::intercept::{Interceptor, SessionInfo, TxStatus, Verdict};

/// The phase in force and its epoch, as the control plane publishes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhaseView {
    pub phase: Phase,
    pub epoch: i64,
}

/// Counts the transactions running under each epoch in this process, so the
/// instance acknowledges a phase only once no transaction runs an older one.
#[derive(Debug, Default)]
pub struct EpochTracker {
    in_use: Mutex<BTreeMap<i64, (Phase, usize)>>,
}

impl EpochTracker {
    fn enter(&self, v: PhaseView) {
        if let Ok(mut m) = self.in_use.lock() {
            m.entry(v.epoch).or_insert((v.phase, 0)).1 += 1;
        }
    }

    fn leave(&self, epoch: i64) {
        if let Ok(mut m) = self.in_use.lock() {
            if let Some(e) = m.get_mut(&epoch) {
                e.1 = e.1.saturating_sub(1);
                if e.1 == 0 {
                    m.remove(&epoch);
                }
            }
        }
    }

    /// The oldest phase a transaction still runs under, or `published` when
    /// none is older.
    pub fn oldest(&self, published: PhaseView) -> PhaseView {
        let oldest = self.in_use.lock().ok().and_then(|m| m.iter().next().map(|(e, (p, _))| (*e, *p)));
        match oldest {
            Some((epoch, phase)) if epoch < published.epoch => PhaseView { phase, epoch },
            _ => published,
        }
    }
}

/// What every session's router shares.
#[derive(Clone)]
pub struct RouteContext {
    pub rewriter: Arc<Rewriter>,
    pub metrics: Arc<crate::Metrics>,
    /// `None` while the phase is not known (see [`PhaseGate`]).
    pub phase: watch::Receiver<Option<PhaseView>>,
    /// How long a statement touching the table waits for an unknown phase.
    pub phase_wait: std::time::Duration,
    pub tracker: Arc<EpochTracker>,
    /// Legacy's names for the new schema's, for errors of rewritten statements.
    pub names: Arc<crate::route::legacy_names::LegacyNames>,
    /// Shadow reads (design §5); None: off.
    pub shadow: Option<Arc<crate::shadow::ShadowSampler>>,
    /// Where errors of rewritten and refused statements are checked against
    /// what PostgreSQL says of the client's own text; None: not checked
    /// (their positions are dropped, refusals stay 0A000).
    pub ask: Option<Arc<crate::route::ask_postgres::AskPostgres>>,
}

impl RouteContext {
    /// One router per session.
    pub fn factory(self) -> crate::InterceptorFactory {
        Arc::new(move || Box::new(Router::new(self.clone())) as Box<dyn Interceptor>)
    }
}

/// A prepared statement as the client named it.
#[derive(Debug)]
struct Statement {
    sql: String,
    param_types: Vec<u32>,
    /// Its result columns may be found in todos by name (no set operation).
    origins_by_name: bool,
    /// It declares, fetches from or closes a cursor.
    about_cursors: bool,
    /// As rewritten when parsed: for its errors and result columns.
    text: Option<Arc<ClientText>>,
    /// Upstream statements for it, per phase: (phase, upstream name, plan).
    variants: Vec<(Phase, String, Arc<Plan>)>,
}

/// The upstream statement a refusal's `DO` block is parsed under.
const REFUSAL_STATEMENT: &str = "sy_refusal";

/// The client messages the router must see whole.
const ROUTED_TAGS: &[u8] = &[
    tags::QUERY,
    tags::PARSE,
    tags::BIND,
    tags::DESCRIBE,
    tags::EXECUTE,
    tags::CLOSE,
    tags::SYNC,
    tags::FUNCTION_CALL,
];

/// The per-session interceptor.
pub struct Router {
    ctx: RouteContext,
    /// The phase held by the current transaction.
    held: Option<PhaseView>,
    gate: PhaseGate,
    statements: HashMap<String, Statement>,
    /// Portal name -> how its Execute's answer is fixed.
    portals: HashMap<String, Option<Shape>>,
    /// Portal name -> its rewritten statement, for a Describe of it.
    portal_texts: HashMap<String, Arc<ClientText>>,
    fixer: ResponseFixer,
    /// Portal name -> the read its Execute may shadow.
    shadow_portals: HashMap<String, Arc<crate::shadow::ShadowJob>>,
    /// Extended-protocol messages went upstream since the last ReadyForQuery:
    /// PostgreSQL is inside an implicit transaction (kept open across Flush
    /// until a Sync), so the phase stays held even when every answer is in.
    extended_open: bool,
    /// Cursors declared over rewritten reads, whose FETCH answers get
    /// legacy's origins too.
    cursors: crate::route::cursors::Cursors,
    /// A question about an error's client text, asked and not yet answered.
    question: Option<tokio::sync::oneshot::Receiver<Option<Parsed>>>,
    /// Its answer, for the error when it is delivered again.
    answered: Option<Option<Parsed>>,
}

impl Router {
    pub fn new(ctx: RouteContext) -> Router {
        Router {
            gate: PhaseGate::new(ctx.phase.clone(), ctx.phase_wait),
            held: None,
            statements: HashMap::new(),
            portals: HashMap::new(),
            portal_texts: HashMap::new(),
            fixer: ResponseFixer::with_names(Arc::clone(&ctx.names)),
            shadow_portals: HashMap::new(),
            extended_open: false,
            cursors: crate::route::cursors::Cursors::default(),
            question: None,
            answered: None,
            ctx,
        }
    }

    fn plan(&self, phase: Phase, sql: &str) -> Arc<Plan> {
        let plan = self.ctx.rewriter.plan(phase, sql);
        if phase != Phase::Legacy {
            self.ctx.metrics.routed(route_action(plan.action));
        }
        plan
    }

    /// The phase for a request: re-read at a transaction's start, else held.
    /// `None` while it is not known and the transaction holds none yet.
    fn phase_for(&mut self, info: &SessionInfo) -> Option<Phase> {
        let starting = info.tx_status == TxStatus::Idle
            && info.requests_in_flight == 0
            && self.fixer.is_idle()
            && !self.extended_open;
        if starting {
            if let Some(old) = self.held.take() {
                self.ctx.tracker.leave(old.epoch);
            }
        }
        if self.held.is_none() {
            // Nothing of this transaction has run under a phase yet, so it
            // may take the one published now.
            let v = self.gate.current()?;
            self.ctx.tracker.enter(v);
            self.held = Some(v);
        }
        self.held.map(|v| v.phase)
    }

    /// The phase to plan a statement under. While the phase is not known,
    /// one that does not touch the table runs as in legacy (nothing of it
    /// depends on the phase); one that does (`touches`) waits, then is refused.
    fn statement_phase(&mut self, info: &SessionInfo, touches: impl FnOnce(&Self) -> bool) -> Result<Phase, NoPhase> {
        if let Some(phase) = self.phase_for(info) {
            return Ok(phase);
        }
        if !touches(self) {
            return Ok(Phase::Legacy);
        }
        if self.gate.should_wait() {
            Err(NoPhase::Wait)
        } else {
            Err(NoPhase::Refuse)
        }
    }

    /// Whether any statement of `sql` touches the table. In read_new every
    /// statement that does, read or write, is rewritten or refused.
    fn touches_table(&self, sql: &str) -> bool {
        !self.ctx.rewriter.is_fast_passthrough(sql)
            && switchyard_rewriter::lex::split_query(sql)
                .iter()
                .any(|s| self.ctx.rewriter.plan(Phase::ReadNew, s).action != Action::Passthrough)
    }

    /// Tracks a statement of a Query that declares, fetches from or closes a
    /// cursor; for a FETCH or MOVE from one declared over a rewritten read,
    /// how its answer is fixed.
    fn cursor_statement(&mut self, stmt: &str, plan: &Plan) -> Option<Shape> {
        let rewritten = (plan.action == Action::Rewrite).then(|| crate::route::row_origin::origins_by_name(stmt));
        self.cursors.statement(stmt, rewritten).map(fetch_shape)
    }

    fn on_query(&mut self, sql: &str, info: &SessionInfo) -> Verdict {
        let phase = match self.statement_phase(info, |r| r.touches_table(sql)) {
            Ok(phase) => phase,
            Err(NoPhase::Wait) => return Verdict::Wait,
            Err(NoPhase::Refuse) => {
                self.fixer.expect(Expect::Query(VecDeque::from([None])));
                let mut out = BytesMut::new();
                write_message(&mut out, tags::QUERY, |b| put_cstr(b, phase_unknown_sql().as_bytes()));
                return Verdict::Replace(out);
            }
        };
        let passthrough = phase == Phase::Legacy || self.ctx.rewriter.is_fast_passthrough(sql);
        if passthrough && !self.cursors.concerns(sql) {
            self.fixer.expect(Expect::Query(VecDeque::new()));
            return Verdict::Forward;
        }
        let statements = switchyard_rewriter::lex::split_query(sql);
        let plans: Vec<Arc<Plan>> = statements
            .iter()
            .map(|s| if passthrough { Arc::new(Plan::passthrough(s)) } else { self.plan(phase, s) })
            .collect();
        if !passthrough {
            self.shadow_query(phase, &statements, &plans);
        }
        let fetches: Vec<Option<Shape>> = if self.cursors.concerns(sql) {
            statements.iter().zip(&plans).map(|(stmt, plan)| self.cursor_statement(stmt, plan)).collect()
        } else {
            vec![None; statements.len()]
        };
        if plans.iter().all(|p| p.action == Action::Passthrough) && fetches.iter().all(Option::is_none) {
            self.fixer.expect(Expect::Query(VecDeque::new()));
            return Verdict::Forward;
        }
        let mut text = String::with_capacity(sql.len() * 2);
        let mut shapes = VecDeque::with_capacity(plans.len());
        let mut texts = Vec::with_capacity(plans.len());
        for ((stmt, plan), fetch) in statements.iter().zip(&plans).zip(fetches) {
            if !text.is_empty() {
                text.push_str(";\n");
            }
            match plan.action {
                Action::Passthrough => text.push_str(stmt),
                Action::Rewrite => text.push_str(&plan.sql),
                Action::Refuse => text.push_str(&refusal_sql(plan)),
            }
            let by_name = plan.action == Action::Rewrite && crate::route::row_origin::origins_by_name(stmt);
            shapes.push_back(shape_of(plan, false, by_name).or(fetch));
            let offset = sql[..stmt.as_ptr() as usize - sql.as_ptr() as usize].chars().count();
            texts.push(client_text(plan, stmt, &[], offset));
        }
        self.fixer.expect_with(Expect::Query(shapes), texts);
        let mut out = BytesMut::with_capacity(text.len() + 6);
        write_message(&mut out, tags::QUERY, |b| put_cstr(b, text.as_bytes()));
        Verdict::Replace(out)
    }

    fn on_parse(&mut self, name: &str, sql: &str, param_types: &[u32], info: &SessionInfo) -> Verdict {
        let phase = self.statement_phase(info, |r| r.touches_table(sql));
        if let Err(NoPhase::Wait) = phase {
            return Verdict::Wait;
        }
        let mut out = BytesMut::new();
        // A re-Parse of a name replaces what the proxy made for it.
        if let Some(old) = self.statements.remove(name) {
            self.close_variants(&old, name, &mut out);
        }
        let Ok(phase) = phase else {
            self.refuse(&phase_unknown_sql(), None, &mut out);
            return Verdict::Replace(out);
        };
        let plan = self.plan(phase, sql);
        match plan.action {
            Action::Refuse => {
                self.refuse(&refusal_sql(&plan), client_text(&plan, sql, param_types, 0), &mut out);
                return Verdict::Replace(out);
            }
            Action::Passthrough if out.is_empty() => {
                self.fixer.expect(Expect::Completion { swallow: false });
                self.remember(name, sql, param_types, phase, name.to_string(), plan);
                return Verdict::Forward;
            }
            _ => {}
        }
        let sent = if plan.action == Action::Rewrite { plan.sql.as_str() } else { sql };
        parse_message(&mut out, name, sent, param_types);
        let text = client_text(&plan, sql, param_types, 0);
        self.fixer.expect_with(Expect::Completion { swallow: false }, [text.clone()]);
        self.remember(name, sql, param_types, phase, name.to_string(), plan);
        if let Some(stmt) = self.statements.get_mut(name) {
            stmt.text = text;
        }
        Verdict::Replace(out)
    }

    fn remember(
        &mut self,
        name: &str,
        sql: &str,
        param_types: &[u32],
        phase: Phase,
        upstream: String,
        plan: Arc<Plan>,
    ) {
        self.statements.insert(
            name.to_string(),
            Statement {
                sql: sql.to_string(),
                param_types: param_types.to_vec(),
                origins_by_name: !self.ctx.rewriter.is_fast_passthrough(sql)
                    && crate::route::row_origin::origins_by_name(sql),
                about_cursors: crate::route::cursors::about_cursors(sql),
                text: None,
                variants: vec![(phase, upstream, plan)],
            },
        );
    }

    /// Closes the proxy's own variants of a statement (their completions
    /// swallowed); the client's own name is closed by the client.
    fn close_variants(&mut self, old: &Statement, client_name: &str, out: &mut BytesMut) {
        for (_, upstream, _) in &old.variants {
            if upstream != client_name {
                close_message(out, b'S', upstream);
                self.fixer.expect(Expect::Completion { swallow: true });
            }
        }
    }

    fn on_bind(&mut self, portal: &str, statement: &str, rest: &[u8], info: &SessionInfo) -> Verdict {
        let phase =
            self.statement_phase(info, |r| r.statements.get(statement).is_some_and(|s| r.touches_table(&s.sql)));
        let phase = match phase {
            Ok(phase) => phase,
            Err(NoPhase::Wait) => return Verdict::Wait,
            Err(NoPhase::Refuse) => {
                self.portals.remove(portal);
                self.portal_texts.remove(portal);
                let mut out = BytesMut::new();
                self.refuse(&phase_unknown_sql(), None, &mut out);
                return Verdict::Replace(out);
            }
        };
        let binary = bind_wants_binary_results(rest);
        self.shadow_portals.remove(portal);
        let Some(stmt) = self.statements.get_mut(statement) else {
            // Unknown to us (refused, or never parsed): PostgreSQL answers.
            self.fixer.expect(Expect::Completion { swallow: false });
            self.portals.insert(portal.to_string(), None);
            return Verdict::Forward;
        };
        let by_name = stmt.origins_by_name;
        let existing =
            stmt.variants.iter().find(|(p, _, _)| *p == phase).map(|(_, n, plan)| (n.clone(), Arc::clone(plan)));
        let mut out = BytesMut::new();
        let (upstream, plan) = match existing {
            Some(found) => found,
            None => {
                let plan = self.ctx.rewriter.plan(phase, &stmt.sql);
                self.ctx.metrics.routed(route_action(plan.action));
                if plan.action == Action::Refuse {
                    let text = client_text(&plan, &stmt.sql, &stmt.param_types, 0);
                    self.portals.remove(portal);
                    self.portal_texts.remove(portal);
                    self.refuse(&refusal_sql(&plan), text, &mut out);
                    return Verdict::Replace(out);
                }
                let sent = if plan.action == Action::Rewrite { plan.sql.clone() } else { stmt.sql.clone() };
                // Same text as a variant we have: reuse it.
                let same =
                    stmt.variants.iter().find(|(_, _, p)| sent_sql(p, &stmt.sql) == sent).map(|(_, n, _)| n.clone());
                let name = match same {
                    Some(n) => n,
                    None => {
                        let n = format!("sy_{}_{}", phase.as_str(), statement);
                        parse_message(&mut out, &n, &sent, &stmt.param_types);
                        let text = client_text(&plan, &stmt.sql, &stmt.param_types, 0);
                        self.fixer.expect_with(Expect::Completion { swallow: true }, [text]);
                        n
                    }
                };
                stmt.variants.push((phase, name.clone(), Arc::clone(&plan)));
                (name, plan)
            }
        };
        // A cursor statement takes effect at its Execute; seen here, where its plan is known.
        let fetch = if stmt.about_cursors {
            let rewritten = (plan.action == Action::Rewrite).then_some(by_name);
            self.cursors.statement(&stmt.sql, rewritten).map(fetch_shape)
        } else {
            None
        };
        let shape = shape_of(&plan, binary, by_name);
        match stmt.text.clone().filter(|_| shape.is_some()) {
            Some(text) => self.portal_texts.insert(portal.to_string(), text),
            None => self.portal_texts.remove(portal),
        };
        self.portals.insert(portal.to_string(), shape.or(fetch));
        self.shadow_bind(portal, statement, phase, &plan, rest);
        self.fixer.expect(Expect::Completion { swallow: false });
        if upstream == statement && out.is_empty() {
            return Verdict::Forward;
        }
        write_message(&mut out, tags::BIND, |b| {
            put_cstr(b, portal.as_bytes());
            put_cstr(b, upstream.as_bytes());
            b.put_slice(rest);
        });
        Verdict::Replace(out)
    }

    fn on_describe(&mut self, kind: u8, name: &str) -> Verdict {
        let text = if kind == b'S' {
            self.statements.get(name).and_then(|s| s.text.clone())
        } else {
            self.portal_texts.get(name).cloned()
        };
        let (hide_rows, rewritten, origins_by_name) = if kind == b'S' {
            // PostgreSQL describes the statement under the client's name,
            // as parsed; every phase's plan hides the same rows.
            let stmt = self.statements.get(name);
            let plan = stmt.and_then(|s| s.variants.first()).map(|(_, _, p)| p);
            let fetch = stmt.filter(|s| s.about_cursors).and_then(|s| self.cursors.fetches(&s.sql));
            (
                plan.is_some_and(|p| p.result.hide_rows),
                plan.is_some_and(|p| p.action == Action::Rewrite) || fetch.is_some(),
                fetch.unwrap_or_else(|| stmt.is_some_and(|s| s.origins_by_name)),
            )
        } else {
            let shape = self.portals.get(name).copied().flatten();
            (shape.is_some_and(|s| s.hide_rows), shape.is_some(), shape.is_some_and(|s| s.origins_by_name))
        };
        self.fixer.expect_with(Expect::Describe { hide_rows, rewritten, origins_by_name }, [text]);
        Verdict::Forward
    }

    /// A write whose rows the client does not see answers with one hidden
    /// `sy_count` row, on which a row limit (pgjdbc sends 1 for statements
    /// it expects no rows from) would suspend the portal where PostgreSQL
    /// completes the client's own statement with its command tag. The limit
    /// is dropped for it: a data-modifying statement runs to completion on
    /// its first Execute anyway. Writes with RETURNING keep the client's
    /// limit: their rows are the client's own, and PostgreSQL suspends and
    /// continues them from its stored result exactly as for the original.
    fn on_execute(&mut self, portal: &str, max_rows: i32) -> Verdict {
        let shape = self.portals.get(portal).copied().flatten();
        self.shadow_execute(portal);
        self.fixer.expect(Expect::Execute(shape));
        if max_rows == 0 || !shape.is_some_and(|s| s.hide_rows) {
            return Verdict::Forward;
        }
        let mut out = BytesMut::with_capacity(portal.len() + 10);
        execute_to_completion(&mut out, portal);
        Verdict::Replace(out)
    }

    fn on_close(&mut self, kind: u8, name: &str) -> Verdict {
        if kind == b'P' {
            self.portals.remove(name);
            self.portal_texts.remove(name);
            self.fixer.expect(Expect::Completion { swallow: false });
            return Verdict::Forward;
        }
        let Some(old) = self.statements.remove(name) else {
            self.fixer.expect(Expect::Completion { swallow: false });
            return Verdict::Forward;
        };
        let mut out = BytesMut::new();
        self.close_variants(&old, name, &mut out);
        if out.is_empty() {
            self.fixer.expect(Expect::Completion { swallow: false });
            return Verdict::Forward;
        }
        close_message(&mut out, b'S', name);
        self.fixer.expect(Expect::Completion { swallow: false });
        Verdict::Replace(out)
    }

    /// Sends, in place of the refused message, a statement that makes
    /// PostgreSQL raise the refusal (`raise`, a `DO` block): Close, Parse,
    /// Bind, Execute of it under the proxy's own statement name, whose three
    /// completions the client does not see. Not the unnamed statement: the
    /// client may still use its own (Bind to "" after the refusal's Sync).
    /// `text`: the refused statement's, when PostgreSQL is to be asked
    /// whether it has an error of its own for it.
    fn refuse(&mut self, raise: &str, text: Option<Arc<ClientText>>, out: &mut BytesMut) {
        // Closing a statement that does not exist is no error.
        close_message(out, b'S', REFUSAL_STATEMENT);
        parse_message(out, REFUSAL_STATEMENT, raise, &[]);
        write_message(out, tags::BIND, |b| {
            put_cstr(b, b"");
            put_cstr(b, REFUSAL_STATEMENT.as_bytes());
            b.put_slice(&[0, 0, 0, 0, 0, 0]);
        });
        execute_to_completion(out, "");
        self.fixer.expect(Expect::Completion { swallow: true });
        self.fixer.expect(Expect::Completion { swallow: true });
        self.fixer.expect(Expect::Completion { swallow: true });
        self.fixer.expect_with(Expect::Execute(None), [text]);
    }
}

impl Interceptor for Router {
    fn tags(&self) -> &[u8] {
        ROUTED_TAGS
    }

    fn on_message(&mut self, message: &FrontendMessage<'_>, _raw_body: &[u8], info: &SessionInfo) -> Verdict {
        let verdict = self.route(message, info);
        if matches!(
            message,
            FrontendMessage::Parse { .. }
                | FrontendMessage::Bind { .. }
                | FrontendMessage::Describe { .. }
                | FrontendMessage::Execute { .. }
                | FrontendMessage::Close { .. }
        ) {
            self.extended_open = true;
        }
        verdict
    }

    fn observes_backend(&self) -> bool {
        true
    }

    fn backend_wants(&self, tag: u8) -> bool {
        tag == tags::READY_FOR_QUERY || self.fixer.wants(tag)
    }

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        self.gate.poll_ready(cx)
    }

    fn poll_backend_ready(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        if let Some(rx) = &mut self.question {
            let answer = std::task::ready!(std::pin::Pin::new(rx).poll(cx));
            self.answered = Some(answer.ok().flatten());
            self.question = None;
        }
        std::task::Poll::Ready(())
    }

    fn on_backend(&mut self, tag: u8, body: &[u8]) -> Fix {
        if tag == tags::ERROR_RESPONSE {
            if let Some(answer) = self.answered.take() {
                self.fixer.answer(answer);
            } else if let Some(text) = self.fixer.asks(body) {
                let Some(ask) = self.ctx.ask.clone() else {
                    self.fixer.answer(None);
                    return self.fixer.fix(tag, body);
                };
                let (tx, rx) = tokio::sync::oneshot::channel();
                tokio::spawn(async move {
                    let _ = tx.send(ask.parse(&text.sql, &text.param_types).await);
                });
                self.question = Some(rx);
                return Fix::Wait;
            }
        }
        let fix = self.fixer.fix(tag, body);
        if tag == tags::READY_FOR_QUERY && self.fixer.is_idle() {
            // Every request is answered: no implicit transaction is open.
            self.extended_open = false;
            if body.first() == Some(&b'I') {
                // The transaction is over: portals and cursors without HOLD
                // are gone, the phase is released.
                self.portals.clear();
                self.portal_texts.clear();
                self.cursors.transaction_ended();
                if let Some(v) = self.held.take() {
                    self.ctx.tracker.leave(v.epoch);
                }
            }
        }
        fix
    }
}

impl Router {
    fn route(&mut self, message: &FrontendMessage<'_>, info: &SessionInfo) -> Verdict {
        match message {
            FrontendMessage::Query { sql } => self.on_query(sql, info),
            FrontendMessage::Parse { statement, sql, param_types } => self.on_parse(statement, sql, param_types, info),
            FrontendMessage::Bind { portal, statement, rest } => self.on_bind(portal, statement, rest, info),
            FrontendMessage::Describe { kind, name } => self.on_describe(*kind, name),
            FrontendMessage::Execute { portal, max_rows } => self.on_execute(portal, *max_rows),
            FrontendMessage::Close { kind, name } => self.on_close(*kind, name),
            FrontendMessage::Sync => {
                self.phase_for(info);
                self.fixer.expect(Expect::Sync);
                Verdict::Forward
            }
            FrontendMessage::Other { tag } if *tag == tags::FUNCTION_CALL => {
                self.phase_for(info);
                self.fixer.expect(Expect::FunctionCall);
                Verdict::Forward
            }
            _ => Verdict::Forward,
        }
    }
}

/// Shadow reads (design §5): one sample decision per Execute or per
/// statement of a Query; the job goes on the sampler's bounded queue.
impl Router {
    fn shadow_query(&self, phase: Phase, statements: &[&str], plans: &[Arc<Plan>]) {
        let Some(sampler) = &self.ctx.shadow else {
            return;
        };
        for (stmt, plan) in statements.iter().zip(plans) {
            if crate::shadow::wants(plan) && sampler.sample(phase) {
                sampler.offer(crate::shadow::ShadowJob::new(phase, stmt, plan, &[], Vec::new()));
            }
        }
    }

    fn shadow_bind(&mut self, portal: &str, statement: &str, phase: Phase, plan: &Arc<Plan>, rest: &[u8]) {
        let Some(sampler) = &self.ctx.shadow else {
            return;
        };
        if sampler.rate(phase) <= 0.0 || !crate::shadow::wants(plan) {
            return;
        }
        let (Some(stmt), Some(params)) = (self.statements.get(statement), crate::shadow::params_from_bind(rest)) else {
            return;
        };
        let job = crate::shadow::ShadowJob::new(phase, &stmt.sql, plan, &stmt.param_types, params);
        // Portals end with their transaction, unseen here: keep few.
        if self.shadow_portals.len() >= 64 {
            self.shadow_portals.clear();
        }
        self.shadow_portals.insert(portal.to_string(), Arc::new(job));
    }

    fn shadow_execute(&self, portal: &str) {
        let (Some(sampler), Some(job)) = (&self.ctx.shadow, self.shadow_portals.get(portal)) else {
            return;
        };
        if sampler.sample(job.phase) {
            sampler.offer(crate::shadow::ShadowJob::clone(job));
        }
    }
}

impl Drop for Router {
    fn drop(&mut self) {
        if let Some(v) = self.held.take() {
            self.ctx.tracker.leave(v.epoch);
        }
    }
}

fn route_action(a: Action) -> RouteAction {
    match a {
        Action::Passthrough => RouteAction::Passthrough,
        Action::Rewrite => RouteAction::Rewrite,
        Action::Refuse => RouteAction::Refuse,
    }
}

/// The SQL a plan sends (its rewrite, or the original for a passthrough).
fn sent_sql(plan: &Plan, original: &str) -> String {
    if plan.action == Action::Rewrite {
        plan.sql.clone()
    } else {
        original.to_string()
    }
}

/// How a plan's answer is fixed.
fn shape_of(plan: &Plan, binary_count: bool, origins_by_name: bool) -> Option<Shape> {
    if plan.action != Action::Rewrite {
        return None;
    }
    let tag = match plan.result.command_tag {
        CommandTag::AsReported => None,
        CommandTag::Insert => Some(TagKind::Insert),
        CommandTag::Update => Some(TagKind::Update),
        CommandTag::Delete => Some(TagKind::Delete),
    };
    Some(Shape { tag, hide_rows: plan.result.hide_rows, binary_count, origins_by_name })
}

/// The client's statement for asking PostgreSQL about its error and for its
/// result columns: a rewritten one (its positions, its columns' origins), or
/// one refused because the rewriter cannot parse it (PostgreSQL's own error).
fn client_text(plan: &Plan, sql: &str, param_types: &[u32], offset: usize) -> Option<Arc<ClientText>> {
    let refused =
        plan.action == Action::Refuse && plan.reason.as_deref().is_some_and(switchyard_rewriter::refuse::is_unparsable);
    (plan.action == Action::Rewrite || refused).then(|| {
        let (sql, param_types, columns) = (sql.to_string(), param_types.to_vec(), plan.columns.clone());
        Arc::new(ClientText { sql, param_types, offset, refused, columns })
    })
}

/// How the answer of a FETCH or MOVE from a cursor declared over a
/// rewritten read is fixed: its RowDescription gets legacy's origins.
fn fetch_shape(origins_by_name: bool) -> Shape {
    Shape { tag: None, hide_rows: false, binary_count: false, origins_by_name }
}

/// Why the router has no phase for a statement that needs one.
enum NoPhase {
    /// Hold the message until the phase is read or the wait runs out.
    Wait,
    Refuse,
}

/// A `DO` block raising SQLSTATE 0A000 with the plan's reason.
pub fn refusal_sql(plan: &Plan) -> String {
    let reason = plan.reason.as_deref().unwrap_or("switchyard cannot run this statement safely during the migration");
    raise_sql(switchyard_rewriter::REFUSAL_SQLSTATE, reason)
}

/// A `DO` block raising SQLSTATE 57P03: the phase is not known.
fn phase_unknown_sql() -> String {
    raise_sql(PHASE_UNKNOWN_SQLSTATE, PHASE_UNKNOWN_MESSAGE)
}

/// A `DO` block raising `sqlstate` with `message`. The message may quote the
/// client's statement, so it goes in an `E''` literal (which means the same
/// whatever `standard_conforming_strings` says) inside a dollar-quoted body
/// whose tag the literal does not contain.
fn raise_sql(sqlstate: &str, message: &str) -> String {
    let literal = format!("E'{}'", message.replace('\\', "\\\\").replace('\'', "''"));
    let mut tag = String::from("$sy_refusal$");
    for n in 1.. {
        if !literal.contains(&tag) {
            break;
        }
        tag = format!("$sy_refusal{n}$");
    }
    format!("DO {tag} BEGIN RAISE EXCEPTION USING ERRCODE = '{sqlstate}', MESSAGE = {literal}; END {tag}")
}

fn parse_message(out: &mut BytesMut, name: &str, sql: &str, param_types: &[u32]) {
    write_message(out, tags::PARSE, |b| {
        put_cstr(b, name.as_bytes());
        put_cstr(b, sql.as_bytes());
        // Decoded from a u16 count, so it fits.
        b.put_u16(u16::try_from(param_types.len()).unwrap_or(u16::MAX));
        for t in param_types {
            b.put_u32(*t);
        }
    });
}

/// Execute of `portal` with no row limit.
fn execute_to_completion(out: &mut BytesMut, portal: &str) {
    write_message(out, tags::EXECUTE, |b| {
        put_cstr(b, portal.as_bytes());
        b.put_i32(0);
    });
}

fn close_message(out: &mut BytesMut, kind: u8, name: &str) {
    write_message(out, tags::CLOSE, |b| {
        b.put_u8(kind);
        put_cstr(b, name.as_bytes());
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_quote_their_reason_as_an_escape_literal_under_a_fresh_tag() {
        let plan = Plan::refuse(r"can't TRUNCATE todos; \' it's $sy_refusal$ tricky");
        let sql = refusal_sql(&plan);
        assert!(sql.contains("ERRCODE = '0A000'"));
        assert!(sql.contains(r"MESSAGE = E'can''t TRUNCATE todos; \\'' it''s $sy_refusal$ tricky';"), "{sql}");
        assert!(sql.starts_with("DO $sy_refusal1$ ") && sql.ends_with(" END $sy_refusal1$"), "{sql}");
        assert_eq!(sql.matches("$sy_refusal1$").count(), 2);
    }

    #[test]
    fn the_oldest_running_epoch_is_acknowledged() {
        let t = EpochTracker::default();
        let now = PhaseView { phase: Phase::WriteNew, epoch: 4 };
        assert_eq!(t.oldest(now), now);
        t.enter(PhaseView { phase: Phase::ReadNew, epoch: 3 });
        t.enter(now);
        assert_eq!(t.oldest(now), PhaseView { phase: Phase::ReadNew, epoch: 3 });
        t.leave(3);
        assert_eq!(t.oldest(now), now);
    }
}
