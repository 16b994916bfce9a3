//! Routing statements that touch the migrated table through the rewriter,
//! in both protocols (invariants I1, I4, I5, I6 in docs/invariants.md).
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
//!   nothing of the refused statement runs ([`crate::route::refusal`]).
//!
//! The extended protocol's messages are handled in [`extended`].

mod extended;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::sync::Arc;

use bytes::BytesMut;
use switchyard_rewriter::{Action, CommandTag, Phase, Plan, Rewriter};
use tokio::sync::watch;

use crate::metrics::RouteAction;
use crate::protocol::frontend::FrontendMessage;
use crate::protocol::frontend::{write_bind, write_close, write_execute_all, write_parse, write_query, BIND_NOTHING};
use crate::protocol::tags;
use crate::route::ask_postgres::{ClientText, Parsed};
use crate::route::epochs::{EpochTracker, PhaseView};
use crate::route::fixup::{bind_wants_binary_results, Expect, Fix, ResponseFixer, Shape};
use crate::route::phase_gate::PhaseGate;
use crate::route::refusal::{phase_unknown_sql, refusal_sql};
use crate::session::intercept::{Interceptor, SessionInfo, TxStatus, Verdict};

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
    /// Shadow reads (docs/shadow.md); None: off.
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
    /// The proxy's own statement names parsed or closed upstream since
    /// the last ReadyForQuery with nothing outstanding: when a message
    /// before their Sync fails, PostgreSQL may have discarded those.
    own_since_sync: Vec<String>,
    /// The proxy's own statement names that may or may not exist upstream
    /// (see `own_since_sync`): closed before they are parsed again.
    unsure: HashSet<String>,
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
            own_since_sync: Vec::new(),
            unsure: HashSet::new(),
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
                write_query(&mut out, &phase_unknown_sql());
                return Verdict::Replace(out);
            }
        };
        let passthrough = phase == Phase::Legacy || self.ctx.rewriter.is_fast_passthrough(sql);
        if passthrough && !self.cursors.tracking() {
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
        write_query(&mut out, &text);
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
        write_close(out, b'S', REFUSAL_STATEMENT);
        write_parse(out, REFUSAL_STATEMENT, raise, &[]);
        write_bind(out, "", REFUSAL_STATEMENT, &BIND_NOTHING);
        write_execute_all(out, "");
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
        if tag != tags::READY_FOR_QUERY {
            return fix;
        }
        self.settle_own_statements();
        if self.fixer.is_idle() {
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
    /// At a ReadyForQuery: after a failure in the extended protocol, the
    /// proxy's own Parse and Close messages sent since the last settling
    /// may have been discarded, so their names are unsure (the variants
    /// are made again, after a Close). Otherwise they all took effect once
    /// nothing is outstanding.
    fn settle_own_statements(&mut self) {
        if self.fixer.take_failure() {
            for name in self.own_since_sync.drain(..) {
                for stmt in self.statements.values_mut() {
                    stmt.variants.retain(|(_, upstream, _)| *upstream != name);
                }
                self.unsure.insert(name);
            }
        } else if self.fixer.is_idle() {
            self.own_since_sync.clear();
        }
    }

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

/// Shadow reads (docs/shadow.md): one sample decision per Execute or per
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
    Some(Shape { tag: plan.result.command_tag, hide_rows: plan.result.hide_rows, binary_count, origins_by_name })
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
    Shape { tag: CommandTag::AsReported, hide_rows: false, binary_count: false, origins_by_name }
}

/// Why the router has no phase for a statement that needs one.
enum NoPhase {
    /// Hold the message until the phase is read or the wait runs out.
    Wait,
    Refuse,
}
