//! The operations of the TodoList service layer one client runs, each
//! returning what the server acknowledged.

use std::collections::HashSet;

use rand::Rng;
use uuid::Uuid;

use super::{Client, Effect, Known};
use crate::gen::{self, NewTodo};
use crate::ledger::{Created, Expect, Status};
use crate::op::{Op, Protocol};
use crate::session::{OpError, Rows, Session};
use crate::sql::{inline, Val};
use crate::stmt::Stmt;

impl Client {
    pub(super) async fn perform(&mut self, op: Op, proto: Protocol) -> Result<Effect, OpError> {
        let Some(mut s) = self.session.take() else {
            return Err(OpError::Unexpected("no connection".into()));
        };
        let r = match op {
            Op::Create => self.create(&mut s, proto).await,
            Op::List => self.list(&mut s, proto).await,
            Op::SetStatus => self.set_status(&mut s, proto).await,
            Op::Complete => self.complete(&mut s, proto).await,
            Op::Edit => self.edit(&mut s, proto).await,
            Op::Delete => self.delete(&mut s, proto).await,
            Op::Walk => self.walk(&mut s, proto).await,
        };
        self.session = Some(s);
        r
    }

    fn target(&mut self) -> Result<Known, OpError> {
        self.pool.pick(&mut self.rng).ok_or_else(|| OpError::Unexpected("no todo to work on".into()))
    }

    async fn create(&mut self, s: &mut Session, proto: Protocol) -> Result<Effect, OpError> {
        let user = self.user();
        let project = if !user.projects.is_empty() && self.rng.random_bool(0.6) {
            Some(user.projects[self.rng.random_range(0..user.projects.len())])
        } else {
            None
        };
        let n = self.next_n();
        let server_ids = self.rng.random_bool(0.25);
        let subtasks = if self.rng.random_bool(0.3) { self.rng.random_range(2..=4) } else { 0 };
        let id = self.new_id();
        let mut parent = gen::root(&mut self.rng, id, user.id, project, n);
        let mut children = Vec::with_capacity(subtasks);
        for k in 0..subtasks {
            let id = self.new_id();
            children.push(gen::subtask(&mut self.rng, id, &parent, k));
        }

        if subtasks > 0 && proto == Protocol::Simple && !server_ids {
            // The whole transaction in one Query message.
            let mut sql = String::from("BEGIN;\n");
            for t in std::iter::once(&parent).chain(&children) {
                sql.push_str(&inline(Stmt::Insert.sql(), &t.params(true)));
                sql.push_str(";\n");
                self.pending.ids.push(t.id);
                self.pending.creates.push(t.id);
            }
            sql.push_str("COMMIT");
            self.pending.in_tx = true;
            let counts = s.batch(&sql).await?;
            self.pending.in_tx = false;
            let inserted: u64 = counts.iter().sum();
            if inserted != 1 + children.len() as u64 {
                return Err(OpError::Unexpected(format!("batch inserted {inserted} rows, not {}", 1 + children.len())));
            }
        } else {
            if subtasks > 0 {
                s.execute(proto, Stmt::Begin, &[]).await?;
                self.pending.in_tx = true;
            }
            self.insert(s, proto, &mut parent, server_ids).await?;
            for c in &mut children {
                c.parent = Some(parent.id);
                self.insert(s, proto, c, server_ids).await?;
            }
            if subtasks > 0 {
                s.execute(proto, Stmt::Commit, &[]).await?;
                self.pending.in_tx = false;
            }
        }
        let created = std::iter::once(&parent)
            .chain(&children)
            .map(|t| Created { id: t.id, title: t.title.clone(), status: t.status, parent: t.parent })
            .collect();
        Ok(Effect::Created(created, user.id))
    }

    /// Inserts one todo; with `server_id` the column default makes its id,
    /// read back with RETURNING into `t.id`.
    async fn insert(
        &mut self,
        s: &mut Session,
        proto: Protocol,
        t: &mut NewTodo,
        server_id: bool,
    ) -> Result<(), OpError> {
        if server_id {
            let rows = s.query(proto, Stmt::InsertReturning, &t.params(false)).await?;
            if rows.len() != 1 {
                return Err(OpError::Unexpected(format!("INSERT RETURNING gave {} rows", rows.len())));
            }
            t.id = rows.uuid(0, 0)?;
            self.pending.ids.push(t.id);
            self.pending.creates.push(t.id);
        } else {
            self.pending.ids.push(t.id);
            self.pending.creates.push(t.id);
            let n = s.execute(proto, Stmt::Insert, &t.params(true)).await?;
            if n != 1 {
                return Err(OpError::Unexpected(format!("INSERT inserted {n} rows")));
            }
        }
        Ok(())
    }

    async fn list(&mut self, s: &mut Session, proto: Protocol) -> Result<Effect, OpError> {
        let user = self.user();
        let limit = Val::BigInt(20);
        let offset = Val::BigInt(20 * self.rng.random_range(0..3));
        let status = [Status::Todo, Status::InProgress, Status::Done][self.rng.random_range(0..3)];
        let soon = chrono::Utc::now() + chrono::Duration::days(7);
        let rows = match self.rng.random_range(0..4) {
            1 => {
                s.query(proto, Stmt::ListByStatus, &[Val::Uuid(user.id), Val::Text(status.as_str()), limit, offset])
                    .await?
            }
            2 if !user.projects.is_empty() => {
                let p = user.projects[self.rng.random_range(0..user.projects.len())];
                s.query(proto, Stmt::ListByProject, &[Val::Uuid(user.id), Val::Uuid(p), limit, offset]).await?
            }
            3 => {
                s.query(proto, Stmt::ListDueSoon, &[Val::Uuid(user.id), Val::OptTs(Some(soon)), limit, offset]).await?
            }
            _ => s.query(proto, Stmt::ListAll, &[Val::Uuid(user.id), limit, offset]).await?,
        };
        Ok(Effect::Found(found(&rows, user.id, 0, 3)?))
    }

    async fn set_status(&mut self, s: &mut Session, proto: Protocol) -> Result<Effect, OpError> {
        let t = self.target()?;
        let status = match t.status {
            Status::Todo => Status::InProgress,
            Status::InProgress => Status::Todo,
            Status::Done => {
                if self.rng.random_bool(0.5) {
                    Status::Todo
                } else {
                    Status::InProgress
                }
            }
        };
        self.pending.ids.push(t.id);
        let n = s
            .execute(proto, Stmt::SetStatus, &[Val::Uuid(t.id), Val::Uuid(t.user), Val::Text(status.as_str())])
            .await?;
        expect_one(n, "UPDATE", t.id)?;
        Ok(Effect::Updated { id: t.id, title: None, status: Some(status), completed: Some(false) })
    }

    async fn complete(&mut self, s: &mut Session, proto: Protocol) -> Result<Effect, OpError> {
        let t = self.target()?;
        self.pending.ids.push(t.id);
        let n = s.execute(proto, Stmt::Complete, &[Val::Uuid(t.id), Val::Uuid(t.user)]).await?;
        expect_one(n, "UPDATE", t.id)?;
        Ok(Effect::Updated { id: t.id, title: None, status: Some(Status::Done), completed: Some(true) })
    }

    async fn edit(&mut self, s: &mut Session, proto: Protocol) -> Result<Effect, OpError> {
        let t = self.target()?;
        let n = self.next_n();
        let title = format!("{} (edited)", gen::title(&mut self.rng, n));
        let description = gen::description(&mut self.rng, &title);
        let tags = gen::tags(&mut self.rng);
        let metadata = gen::edit_metadata(&mut self.rng, n);
        self.pending.ids.push(t.id);
        let params = [
            Val::Uuid(t.id),
            Val::Uuid(t.user),
            Val::Text(&title),
            Val::OptText(Some(&description)),
            Val::Tags(&tags),
            Val::Json(&metadata),
        ];
        let n = s.execute(proto, Stmt::Edit, &params).await?;
        expect_one(n, "UPDATE", t.id)?;
        Ok(Effect::Updated { id: t.id, title: Some(title), status: None, completed: None })
    }

    /// Deletes a todo in a transaction that first reads its subtree, which
    /// the legacy foreign key's cascade deletes with it.
    async fn delete(&mut self, s: &mut Session, proto: Protocol) -> Result<Effect, OpError> {
        let t = self.target()?;
        s.execute(proto, Stmt::Begin, &[]).await?;
        self.pending.in_tx = true;
        let rows = s.query(proto, Stmt::Subtree, &[Val::Uuid(t.id), Val::Uuid(t.user)]).await?;
        let mut ids = Vec::with_capacity(rows.len());
        for i in 0..rows.len() {
            ids.push(rows.uuid(i, 0)?);
        }
        if ids.is_empty() {
            self.pending.ids.push(t.id);
            return Err(OpError::Unexpected(format!("todo {} vanished: its subtree is empty", t.id)));
        }
        self.pending.ids.extend(&ids);
        let n = s.execute(proto, Stmt::Delete, &[Val::Uuid(t.id), Val::Uuid(t.user)]).await?;
        expect_one(n, "DELETE", t.id)?;
        s.execute(proto, Stmt::Commit, &[]).await?;
        self.pending.in_tx = false;
        Ok(Effect::Deleted(ids))
    }

    async fn walk(&mut self, s: &mut Session, proto: Protocol) -> Result<Effect, OpError> {
        let t = self.target()?;
        let rows = s.query(proto, Stmt::Walk, &[Val::Uuid(t.id), Val::Uuid(t.user)]).await?;
        if rows.len() == 0 {
            self.pending.ids.push(t.id);
            return Err(OpError::Unexpected(format!("todo {} vanished: the hierarchy walk found nothing", t.id)));
        }
        let todos = found(&rows, t.user, 0, 3)?;
        if let Some(expected) = self.expected_subtree(&t.id) {
            let got: HashSet<Uuid> = todos.iter().map(|k| k.id).collect();
            if got != expected || todos.len() != rows.len() {
                return Err(OpError::Unexpected(format!(
                    "the walk of todo {} read {} todos, {} acknowledged ({} missing, {} not expected)",
                    t.id,
                    rows.len(),
                    expected.len(),
                    expected.difference(&got).count(),
                    got.difference(&expected).count()
                )));
            }
        }
        Ok(Effect::Found(todos))
    }

    /// The ids a walk of `root` must read (read-your-writes), when this
    /// client created it and every write under it has a known outcome.
    fn expected_subtree(&self, root: &Uuid) -> Option<HashSet<Uuid>> {
        let children = self.created_roots.get(root)?;
        let mut out = HashSet::with_capacity(children.len() + 1);
        out.insert(*root);
        for c in children {
            match self.ledger.get(c).map(|e| e.expect) {
                Some(Expect::Present) => {
                    out.insert(*c);
                }
                Some(Expect::Deleted) => {}
                _ => return None,
            }
        }
        (self.ledger.get(root).map(|e| e.expect) == Some(Expect::Present)).then_some(out)
    }
}

fn expect_one(n: u64, verb: &str, id: Uuid) -> Result<(), OpError> {
    if n == 1 {
        Ok(())
    } else {
        Err(OpError::Unexpected(format!("todo {id} vanished: {verb} {n}")))
    }
}

/// The todos in `rows` (id and status columns given), for the working set.
fn found(rows: &Rows, user: Uuid, id_col: usize, status_col: usize) -> Result<Vec<Known>, OpError> {
    let mut out = Vec::with_capacity(rows.len());
    let mut seen = HashSet::with_capacity(rows.len());
    for i in 0..rows.len() {
        let id = rows.uuid(i, id_col)?;
        let s = rows.text(i, status_col)?;
        let status =
            Status::parse(&s).ok_or_else(|| OpError::Unexpected(format!("status {s:?} is not a legacy status")))?;
        if seen.insert(id) {
            out.push(Known { id, user, status });
        }
    }
    Ok(out)
}
