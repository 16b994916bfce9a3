//! The extended protocol's messages through the router: Parse planned for
//! the phase, named statements re-parsed as per-phase variants under the
//! proxy's own names, Bind, Describe, Execute and Close kept in step with
//! the variants and the reply fix-up.

use super::*;

impl Router {
    pub(super) fn on_parse(&mut self, name: &str, sql: &str, param_types: &[u32], info: &SessionInfo) -> Verdict {
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
        write_parse(&mut out, name, sent, param_types);
        let text = client_text(&plan, sql, param_types, 0);
        self.fixer.expect_with(Expect::Completion { swallow: false }, [text.clone()]);
        self.remember(name, sql, param_types, phase, name.to_string(), plan);
        if let Some(stmt) = self.statements.get_mut(name) {
            stmt.text = text;
        }
        Verdict::Replace(out)
    }

    pub(super) fn remember(
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
    pub(super) fn close_variants(&mut self, old: &Statement, client_name: &str, out: &mut BytesMut) {
        for (_, upstream, _) in &old.variants {
            if upstream != client_name {
                write_close(out, b'S', upstream);
                self.fixer.expect(Expect::Completion { swallow: true });
                self.own_since_sync.push(upstream.clone());
            }
        }
    }

    pub(super) fn on_bind(&mut self, portal: &str, statement: &str, rest: &[u8], info: &SessionInfo) -> Verdict {
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
                        if self.unsure.remove(&n) {
                            write_close(&mut out, b'S', &n);
                            self.fixer.expect(Expect::Completion { swallow: true });
                        }
                        write_parse(&mut out, &n, &sent, &stmt.param_types);
                        self.own_since_sync.push(n.clone());
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
        write_bind(&mut out, portal, &upstream, rest);
        Verdict::Replace(out)
    }

    pub(super) fn on_describe(&mut self, kind: u8, name: &str) -> Verdict {
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
    pub(super) fn on_execute(&mut self, portal: &str, max_rows: i32) -> Verdict {
        let shape = self.portals.get(portal).copied().flatten();
        self.shadow_execute(portal);
        self.fixer.expect(Expect::Execute(shape));
        if max_rows == 0 || !shape.is_some_and(|s| s.hide_rows) {
            return Verdict::Forward;
        }
        let mut out = BytesMut::with_capacity(portal.len() + 10);
        write_execute_all(&mut out, portal);
        Verdict::Replace(out)
    }

    pub(super) fn on_close(&mut self, kind: u8, name: &str) -> Verdict {
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
        write_close(&mut out, b'S', name);
        self.fixer.expect(Expect::Completion { swallow: false });
        Verdict::Replace(out)
    }
}
