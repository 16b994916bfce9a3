//! Realistic data for the legacy TodoList app, loaded with COPY.
//!
//! Each user gets a few projects and `todos_per_user` todos: root todos, AI
//! subtasks under them and sub-subtasks under those (two levels below a
//! root), statuses in realistic proportions, done todos completed over the
//! last 120 days, due dates, tags and jsonb metadata, and some files. Given
//! the same seed and anchor time, the rows are identical.

use bytes::{BufMut, BytesMut};
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use futures_util::SinkExt;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio_postgres::Client;
use uuid::Uuid;

use super::words::{PROJECTS, SUBTASKS, TAGS, TITLES};

/// What to generate.
#[derive(Debug, Clone)]
pub struct SeedOptions {
    pub users: u32,
    pub todos_per_user: u32,
    pub seed: u64,
    /// "Now" for the generated timestamps; fix it for byte-identical data.
    pub anchor: DateTime<Utc>,
}

/// How many rows of each kind were loaded.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SeedCounts {
    pub users: u64,
    pub projects: u64,
    pub todos: u64,
    pub files: u64,
}

/// Per-batch COPY buffer size before it is sent.
const FLUSH_BYTES: usize = 1 << 20;

/// Generates and loads the data. The legacy schema must exist.
pub async fn load(client: &mut Client, opts: &SeedOptions) -> Result<SeedCounts, tokio_postgres::Error> {
    let mut rng = StdRng::seed_from_u64(opts.seed);
    let mut gen = Generator { rng: &mut rng, anchor: opts.anchor };
    let tx = client.transaction().await?;
    let mut counts = SeedCounts::default();
    let projects = load_users(&tx, &mut gen, opts, &mut counts).await?;
    let files = load_todos(&tx, &mut gen, &projects, opts.todos_per_user, &mut counts).await?;
    copy(&tx, "COPY files (id, todo_id, user_id, filename, size_bytes) FROM STDIN", vec![files]).await?;
    tx.commit().await?;
    Ok(counts)
}

/// Generates and copies the users and their projects; returns each user's
/// id with its projects' ids.
async fn load_users(
    tx: &tokio_postgres::Transaction<'_>,
    gen: &mut Generator<'_>,
    opts: &SeedOptions,
    counts: &mut SeedCounts,
) -> Result<Vec<(Uuid, Vec<Uuid>)>, tokio_postgres::Error> {
    let mut projects: Vec<(Uuid, Vec<Uuid>)> = Vec::with_capacity(opts.users as usize);
    let mut buf = BytesMut::new();
    let mut pbuf = BytesMut::new();
    for n in 0..opts.users {
        let id = gen.uuid();
        let created = gen.past(400);
        row(
            &mut buf,
            &[
                Some(&id.to_string()),
                Some(&format!("user{n}-{:x}@example.com", opts.seed)),
                Some(&format!("User {n}")),
                Some(&ts(created)),
            ],
        );
        let mut mine = Vec::new();
        for p in 0..gen.rng.random_range(0..=4usize) {
            let pid = gen.uuid();
            row(
                &mut pbuf,
                &[
                    Some(&pid.to_string()),
                    Some(&id.to_string()),
                    Some(PROJECTS[p % PROJECTS.len()]),
                    Some(&ts(created + Duration::days(1))),
                ],
            );
            mine.push(pid);
        }
        counts.users += 1;
        counts.projects += mine.len() as u64;
        projects.push((id, mine));
    }
    copy(tx, "COPY users (id, email, name, created_at) FROM STDIN", vec![buf]).await?;
    copy(tx, "COPY projects (id, user_id, name, created_at) FROM STDIN", vec![pbuf]).await?;
    Ok(projects)
}

/// Generates every user's todos and streams them to COPY in pieces of
/// [`FLUSH_BYTES`]; returns the rows of their files, to copy after them.
async fn load_todos(
    tx: &tokio_postgres::Transaction<'_>,
    gen: &mut Generator<'_>,
    projects: &[(Uuid, Vec<Uuid>)],
    todos_per_user: u32,
    counts: &mut SeedCounts,
) -> Result<BytesMut, tokio_postgres::Error> {
    let sink = tx
        .copy_in(
            "COPY todos (id, user_id, project_id, parent_todo_id, title, description, status, priority, due_date, \
             ai_generated, tags, metadata, created_at, updated_at, completed_at) FROM STDIN",
        )
        .await?;
    let mut sink = Box::pin(sink);
    let mut fbuf = BytesMut::new();
    let mut buf = BytesMut::with_capacity(FLUSH_BYTES + 4096);
    for (user, user_projects) in projects {
        // Parents are always written before their children.
        let mut level: Vec<Vec<Uuid>> = vec![Vec::new(), Vec::new(), Vec::new()];
        for _ in 0..todos_per_user {
            let (id, depth) = gen.placed_todo(&mut buf, *user, user_projects, &level);
            if gen.rng.random_bool(0.05) {
                gen.file(&mut fbuf, id, *user);
                counts.files += 1;
            }
            level[depth].push(id);
            counts.todos += 1;
            if buf.len() >= FLUSH_BYTES {
                sink.send(buf.split().freeze()).await?;
            }
        }
    }
    if !buf.is_empty() {
        sink.send(buf.split().freeze()).await?;
    }
    sink.as_mut().finish().await?;
    Ok(fbuf)
}

async fn copy(
    tx: &tokio_postgres::Transaction<'_>,
    sql: &str,
    bufs: Vec<BytesMut>,
) -> Result<(), tokio_postgres::Error> {
    let sink = tx.copy_in(sql).await?;
    let mut sink = Box::pin(sink);
    for b in bufs {
        if !b.is_empty() {
            sink.send(b.freeze()).await?;
        }
    }
    sink.as_mut().finish().await?;
    Ok(())
}

struct Generator<'a> {
    rng: &'a mut StdRng,
    anchor: DateTime<Utc>,
}

impl Generator<'_> {
    fn uuid(&mut self) -> Uuid {
        uuid::Builder::from_random_bytes(self.rng.random()).into_uuid()
    }

    /// A time up to `days` before the anchor.
    fn past(&mut self, days: i64) -> DateTime<Utc> {
        self.anchor - Duration::seconds(self.rng.random_range(60..days * 86_400))
    }

    /// A todo of `user`: a root, or a child of one already written at
    /// the level above (`level[d]` holds the ids at depth d), in one of the
    /// user's projects or none. Returns its id and depth.
    fn placed_todo(
        &mut self,
        buf: &mut BytesMut,
        user: Uuid,
        user_projects: &[Uuid],
        level: &[Vec<Uuid>],
    ) -> (Uuid, usize) {
        let depth = match (level[0].is_empty(), level[1].is_empty(), self.rng.random_range(0..100)) {
            (true, _, _) => 0,
            (false, false, r) if r < 15 => 2,
            (false, _, r) if r < 45 => 1,
            _ => 0,
        };
        let parent =
            if depth == 0 { None } else { Some(level[depth - 1][self.rng.random_range(0..level[depth - 1].len())]) };
        let id = self.uuid();
        let project = if !user_projects.is_empty() && self.rng.random_bool(0.7) {
            Some(user_projects[self.rng.random_range(0..user_projects.len())])
        } else {
            None
        };
        self.todo(buf, id, user, project, parent, depth);
        (id, depth)
    }

    /// A file attached to todo `todo` of `user`.
    fn file(&mut self, buf: &mut BytesMut, todo: Uuid, user: Uuid) {
        row(
            buf,
            &[
                Some(&self.uuid().to_string()),
                Some(&todo.to_string()),
                Some(&user.to_string()),
                Some(&format!("attachment-{}.pdf", self.rng.random_range(0..1000))),
                Some(&self.rng.random_range(1_000..5_000_000i64).to_string()),
            ],
        );
    }

    fn todo(
        &mut self,
        buf: &mut BytesMut,
        id: Uuid,
        user: Uuid,
        project: Option<Uuid>,
        parent: Option<Uuid>,
        depth: usize,
    ) {
        let ai = depth > 0 && self.rng.random_bool(0.8);
        let title = if depth == 0 {
            TITLES[self.rng.random_range(0..TITLES.len())].to_string()
        } else {
            format!("{} (step {})", SUBTASKS[self.rng.random_range(0..SUBTASKS.len())], self.rng.random_range(1..9))
        };
        let description = self.rng.random_bool(0.6).then(|| format!("Details\tfor \"{title}\"\nline two \\ end"));
        let status = match self.rng.random_range(0..100) {
            0..=44 => "todo",
            45..=64 => "in_progress",
            _ => "done",
        };
        let completed_at = (status == "done").then(|| self.past(120));
        // Created before it was completed, within the year.
        let created_at = match completed_at {
            Some(c) => c - Duration::seconds(self.rng.random_range(60..60 * 86_400)),
            None => self.past(365),
        };
        let updated_at = completed_at.unwrap_or(created_at + Duration::seconds(self.rng.random_range(0..86_400)));
        let due = self.rng.random_bool(0.5).then(|| self.anchor + Duration::days(self.rng.random_range(-30..60)));
        let tags: Vec<&str> =
            (0..self.rng.random_range(0..=3)).map(|_| TAGS[self.rng.random_range(0..TAGS.len())]).collect();
        let metadata = match self.rng.random_range(0..10) {
            0..=2 => None,
            3..=6 => Some(format!(r#"{{"source": "web", "estimate_minutes": {}}}"#, self.rng.random_range(5..240))),
            7..=8 => Some(r#"{"source": "mobile", "reminder": true}"#.to_string()),
            _ => Some(format!(
                r#"{{"source": "ai", "model": "gpt-4o-mini", "confidence": 0.{}}}"#,
                self.rng.random_range(10..99)
            )),
        };
        let tags = format!("{{{}}}", tags.join(","));
        row(
            buf,
            &[
                Some(&id.to_string()),
                Some(&user.to_string()),
                project.map(|p| p.to_string()).as_deref(),
                parent.map(|p| p.to_string()).as_deref(),
                Some(&title),
                description.as_deref(),
                Some(status),
                Some(&self.rng.random_range(0..=5).to_string()),
                due.map(ts).as_deref(),
                Some(if ai { "t" } else { "f" }),
                Some(&tags),
                metadata.as_deref(),
                Some(&ts(created_at)),
                Some(&ts(updated_at)),
                completed_at.map(ts).as_deref(),
            ],
        );
    }
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Appends one row in COPY text format (tab-separated, `\N` for NULL).
fn row(buf: &mut BytesMut, fields: &[Option<&str>]) {
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            buf.put_u8(b'\t');
        }
        match f {
            None => buf.put_slice(b"\\N"),
            Some(s) => escape_into(buf, s),
        }
    }
    buf.put_u8(b'\n');
}

fn escape_into(buf: &mut BytesMut, s: &str) {
    for b in s.bytes() {
        match b {
            b'\\' => buf.put_slice(b"\\\\"),
            b'\t' => buf.put_slice(b"\\t"),
            b'\n' => buf.put_slice(b"\\n"),
            b'\r' => buf.put_slice(b"\\r"),
            _ => buf.put_u8(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_text_escapes_specials_and_nulls() {
        let mut buf = BytesMut::new();
        row(&mut buf, &[Some("a\tb\\c\nd"), None, Some("")]);
        assert_eq!(&buf[..], b"a\\tb\\\\c\\nd\t\\N\t\n");
    }
}
