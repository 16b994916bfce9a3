//! The soak's operations: the statements of each write (sent inside the
//! transaction [`SoakClient::transact`] opens) with the effect the ledger
//! records when it commits, and the reads compared with the ledger.

use std::collections::{HashMap, HashSet};

use rand::Rng;
use uuid::Uuid;

use crate::gen;
use crate::ledger::{Created, Found, Status};
use crate::session::{OpError, Rows, Session};
use crate::sql::Val;
use crate::stmt::Stmt;

use super::client::{SoakClient, SoakOp};
use super::model::Effect;
use super::stmt::SoakStmt;

/// Share of upserts that insert a new id rather than retitle an existing one.
const UPSERT_NEW: f64 = 0.15;

fn expect_one(n: u64, what: &str, id: Uuid) -> Result<(), OpError> {
    if n == 1 {
        Ok(())
    } else {
        Err(OpError::Unexpected(format!("{what} of todo {id} changed {n} rows, not 1")))
    }
}

/// The rows of a todos read: id, title, status, completed, parent.
fn found(rows: &Rows) -> Result<HashMap<Uuid, Vec<Found>>, OpError> {
    let mut out: HashMap<Uuid, Vec<Found>> = HashMap::new();
    for i in 0..rows.len() {
        let f = Found {
            title: rows.text(i, 1)?,
            status: rows.text(i, 2)?,
            completed: rows.flag(i, 3)?,
            parent: rows.opt_uuid(i, 4)?,
        };
        out.entry(rows.uuid(i, 0)?).or_default().push(f);
    }
    Ok(out)
}

impl SoakClient {
    /// The statements of a write; nothing of it is committed yet.
    pub(crate) async fn body(&mut self, s: &mut Session, op: SoakOp) -> Result<Effect, OpError> {
        let Some((id, user)) = self.model.pick(&mut self.rng) else {
            return self.create(s).await;
        };
        match op {
            SoakOp::Create => self.create(s).await,
            SoakOp::Edit | SoakOp::Hold => self.edit(s, id, user).await,
            SoakOp::SetStatus => self.set_status(s, id, user).await,
            SoakOp::Complete => {
                self.touching.push(id);
                let n = s.execute(self.proto(), Stmt::Complete, &[Val::Uuid(id), Val::Uuid(user)]).await?;
                expect_one(n, "complete", id)?;
                Ok(Effect::Updated { id, title: None, status: Some(Status::Done), completed: Some(true) })
            }
            SoakOp::Delete => self.delete(s, id, user).await,
            SoakOp::Upsert => self.upsert(s).await,
            SoakOp::DeleteUser => self.delete_user(s).await,
            SoakOp::ReadOne | SoakOp::ListUser => Err(OpError::Unexpected(format!("{} is not a write", op.name()))),
        }
    }

    async fn create(&mut self, s: &mut Session) -> Result<Effect, OpError> {
        let user = self.user();
        let project = (!user.projects.is_empty() && self.rng.random_bool(0.5))
            .then(|| user.projects[self.rng.random_range(0..user.projects.len())]);
        self.counter += 1;
        let server_ids = self.rng.random_bool(0.2);
        let subtasks = if self.rng.random_bool(0.35) { self.rng.random_range(2..=4) } else { 0 };
        let id = self.new_id();
        let mut todos = vec![gen::root(&mut self.rng, id, user.id, project, self.counter)];
        for k in 0..subtasks {
            let id = self.new_id();
            let child = gen::subtask(&mut self.rng, id, &todos[0], k);
            todos.push(child);
        }
        for i in 0..todos.len() {
            if i > 0 {
                todos[i].parent = Some(todos[0].id);
            }
            if server_ids {
                let rows = s.query(self.proto(), Stmt::InsertReturning, &todos[i].params(false)).await?;
                if rows.len() != 1 {
                    return Err(OpError::Unexpected(format!("INSERT RETURNING gave {} rows", rows.len())));
                }
                todos[i].id = rows.uuid(0, 0)?;
                self.touching.push(todos[i].id);
            } else {
                self.touching.push(todos[i].id);
                let n = s.execute(self.proto(), Stmt::Insert, &todos[i].params(true)).await?;
                expect_one(n, "insert", todos[i].id)?;
            }
        }
        let created = todos
            .iter()
            .map(|t| Created { id: t.id, title: t.title.clone(), status: t.status, parent: t.parent })
            .collect();
        Ok(Effect::Created(created, user.id))
    }

    async fn edit(&mut self, s: &mut Session, id: Uuid, user: Uuid) -> Result<Effect, OpError> {
        self.counter += 1;
        let title = format!("{} (edited)", gen::title(&mut self.rng, self.counter));
        let description = gen::description(&mut self.rng, &title);
        let tags = gen::tags(&mut self.rng);
        let metadata = gen::edit_metadata(&mut self.rng, self.counter);
        self.touching.push(id);
        let params = [
            Val::Uuid(id),
            Val::Uuid(user),
            Val::Text(&title),
            Val::OptText(Some(&description)),
            Val::Tags(&tags),
            Val::Json(&metadata),
        ];
        let n = s.execute(self.proto(), Stmt::Edit, &params).await?;
        expect_one(n, "edit", id)?;
        Ok(Effect::Updated { id, title: Some(title), status: None, completed: None })
    }

    async fn set_status(&mut self, s: &mut Session, id: Uuid, user: Uuid) -> Result<Effect, OpError> {
        let status = match self.model.entry(&id).and_then(|e| e.status) {
            Some(Status::Todo) => Status::InProgress,
            _ => Status::Todo,
        };
        self.touching.push(id);
        let params = [Val::Uuid(id), Val::Uuid(user), Val::Text(status.as_str())];
        let n = s.execute(self.proto(), Stmt::SetStatus, &params).await?;
        expect_one(n, "status change", id)?;
        Ok(Effect::Updated { id, title: None, status: Some(status), completed: Some(false) })
    }

    /// Reads the subtree as the app does, then deletes its root; the legacy
    /// foreign key cascades to the rest.
    async fn delete(&mut self, s: &mut Session, id: Uuid, user: Uuid) -> Result<Effect, OpError> {
        let subtree = self.model.subtree(id, &user);
        self.touching.extend(&subtree);
        let rows = s.query(self.proto(), Stmt::Subtree, &[Val::Uuid(id), Val::Uuid(user)]).await?;
        let read: HashSet<Uuid> = (0..rows.len()).map(|i| rows.uuid(i, 0)).collect::<Result<_, _>>()?;
        if read != subtree.iter().copied().collect() {
            return Err(OpError::Unexpected(format!(
                "the subtree of todo {id} read {} todos, the ledger has {}",
                read.len(),
                subtree.len()
            )));
        }
        let n = s.execute(self.proto(), Stmt::Delete, &[Val::Uuid(id), Val::Uuid(user)]).await?;
        expect_one(n, "delete", id)?;
        Ok(Effect::Deleted(subtree))
    }

    /// `INSERT ... ON CONFLICT (id) DO UPDATE SET title`: a new todo, or a
    /// new title for an existing one (a done one when possible, which the
    /// archival may have moved to todos_archived).
    async fn upsert(&mut self, s: &mut Session) -> Result<Effect, OpError> {
        let user = self.user().id;
        let target = if self.rng.random_bool(UPSERT_NEW) {
            None
        } else if self.rng.random_bool(0.5) {
            self.model.pick_done(&mut self.rng)
        } else {
            self.model.pick(&mut self.rng)
        };
        let (id, user) = target.unwrap_or_else(|| (self.new_id(), user));
        self.counter += 1;
        let title = format!("{} (upserted)", gen::title(&mut self.rng, self.counter));
        self.touching.push(id);
        let params = [Val::Uuid(id), Val::Uuid(user), Val::Text(&title), Val::Text("todo"), Val::Int(1)];
        let n = s.execute(self.proto(), SoakStmt::Upsert, &params).await?;
        expect_one(n, "upsert", id)?;
        Ok(match target {
            Some(_) => Effect::Updated { id, title: Some(title), status: None, completed: None },
            None => Effect::Created(vec![Created { id, title, status: Status::Todo, parent: None }], user),
        })
    }

    /// Lists the user's todos (the app shows what goes), then deletes the
    /// user; the foreign keys cascade to projects and todos.
    async fn delete_user(&mut self, s: &mut Session) -> Result<Effect, OpError> {
        let user = self.user().id;
        let todos: Vec<Uuid> = self.model.todos_of(&user).into_iter().collect();
        self.touching.extend(&todos);
        let rows = s.query(self.proto(), SoakStmt::ListUser, &[Val::Uuid(user)]).await?;
        let read: HashSet<Uuid> = found(&rows)?.into_keys().collect();
        if read != todos.iter().copied().collect() {
            return Err(OpError::Unexpected(format!(
                "user {user} has {} todos read, {} in the ledger",
                read.len(),
                todos.len()
            )));
        }
        let n = s.execute(self.proto(), SoakStmt::DeleteUser, &[Val::Uuid(user)]).await?;
        if n != 1 {
            return Err(OpError::Unexpected(format!("DELETE of user {user} deleted {n} rows")));
        }
        Ok(Effect::UserDeleted { user, todos })
    }

    /// A read through the proxy; `Some` says how it disagrees with the ledger.
    pub(crate) async fn read_body(&mut self, s: &mut Session, op: SoakOp) -> Result<Option<String>, OpError> {
        let (rows, expected) = if op == SoakOp::ReadOne {
            let Some((id, user)) = self.model.pick(&mut self.rng) else {
                return Ok(None);
            };
            let rows = s.query(self.proto(), SoakStmt::ReadOne, &[Val::Uuid(id), Val::Uuid(user)]).await?;
            (rows, HashSet::from([id]))
        } else {
            let user = self.user().id;
            let rows = s.query(self.proto(), SoakStmt::ListUser, &[Val::Uuid(user)]).await?;
            (rows, self.model.todos_of(&user))
        };
        let read = found(&rows)?;
        let mut wrong = Vec::new();
        for id in expected.iter().chain(read.keys().filter(|id| !expected.contains(id))) {
            let rows = read.get(id).map(Vec::as_slice).unwrap_or(&[]);
            let mismatches = match self.model.entry(id) {
                Some(_) => self.model.ledger.mismatches_of(id, rows),
                None => vec![],
            };
            let unknown = self.model.entry(id).is_none() && !rows.is_empty();
            if !mismatches.is_empty() || unknown {
                self.touching.push(*id);
                wrong.push(if unknown { format!("todo {id} is not in the ledger") } else { mismatches[0].to_string() });
            }
        }
        Ok((!wrong.is_empty())
            .then(|| format!("{} through the proxy: {} wrong, first: {}", op.name(), wrong.len(), wrong[0])))
    }
}
