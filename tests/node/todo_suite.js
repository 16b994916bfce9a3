// The TodoList service layer on node-postgres (pg, pg-cursor), one migration
// phase's worth of it, reporting what it saw as JSON lines (one per step:
// {"step": NAME, OBSERVATION: VALUE, ...}). tests/clients/node.rs runs it
// against a direct twin database and through the proxy and compares the two
// transcripts. Every id is the app's own and deterministic, so the runs line up.
//
// Usage: node todo_suite.js PORT DATABASE PHASE
'use strict';

const { Client } = require('pg');
const Cursor = require('pg-cursor');

const [port, database, phase] = process.argv.slice(2);
const PHASES = ['legacy', 'dual_write', 'read_new', 'write_new', 'new_only'];
const P = PHASES.indexOf(phase) + 1;
if (P === 0) throw new Error(`unknown phase ${phase}`);

const ADA = '00000000-0000-0000-0000-0000000000a1';
const BOB = '00000000-0000-0000-0000-0000000000b2';
// Carol's todos are upserted and archived; no other step reads them.
const CAROL = '00000000-0000-0000-0000-0000000000c3';
// Dan's are the orphans of the foreign-key errors; no step reads them.
const DAN = '00000000-0000-0000-0000-0000000000d4';
const LAUNCH = '00000000-0000-0000-0000-00000000c0de';
const DOCS = '00000000-0000-0000-0000-00000000d0c5';
const NOBODY = '00000000-0000-0000-0000-00000000dead';
const COLUMNS = 'id, user_id, project_id, parent_todo_id, title, description, status, priority, due_date, ' +
  'ai_generated, tags, metadata, created_at, updated_at, completed_at';

/** The app's id number n in phase p (p defaults to this run's phase). */
function id(n, p = P) {
  return `00000000-0000-4000-8${p}00-${String(n).padStart(12, '0')}`;
}

function connect() {
  return new Client({ host: '127.0.0.1', port: Number(port), database, user: 'postgres' });
}

/** Every field node-postgres gives of a server error (source file and line aside). */
function errorFields(e) {
  if (e.code === undefined) throw e;
  const fields = {};
  for (const k of ['severity', 'code', 'message', 'detail', 'hint', 'position', 'internalPosition',
    'internalQuery', 'where', 'schema', 'table', 'column', 'dataType', 'constraint']) {
    fields[k] = e[k] === undefined ? null : e[k];
  }
  return { error: fields };
}

/** A result as the app sees it: command tag, row count, rows, column metadata. */
function summary(r, withFields = true) {
  const out = { command: r.command, rowCount: r.rowCount, rows: r.rows };
  if (withFields) {
    out.fields = r.fields.map((f) => ({
      name: f.name, tableID: f.tableID, columnID: f.columnID, dataTypeID: f.dataTypeID,
      dataTypeSize: f.dataTypeSize, dataTypeModifier: f.dataTypeModifier, format: f.format,
    }));
  }
  return out;
}

/** Runs a query; its summary, or the error's fields. */
async function observe(client, query, values, withFields = true) {
  try {
    return summary(await client.query(query, values), withFields);
  } catch (e) {
    return errorFields(e);
  }
}

/**
 * Inside a transaction: observe() isolated by a savepoint, so that a
 * statement that fails does not abort the statements after it.
 */
async function observeTx(c, query, values, withFields = true) {
  await c.query('SAVEPOINT observed');
  const seen = await observe(c, query, values, withFields);
  await c.query(seen.error ? 'ROLLBACK TO SAVEPOINT observed' : 'RELEASE SAVEPOINT observed');
  return seen;
}

/** A transaction-control statement, its outcome kept in the step's `control` list. */
async function ctl(c, seen, sql) {
  (seen.control = seen.control || []).push(await observe(c, sql, [], false));
}

function report(step, seen) {
  process.stdout.write(JSON.stringify({ step, ...seen }) + '\n');
}

const INSERT_TODO = `INSERT INTO todos (id, user_id, project_id, parent_todo_id, title, description, priority, due_date, ai_generated, tags, metadata)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`;

async function create(c) {
  const seen = {};
  await ctl(c, seen, 'BEGIN');
  seen.root = await observeTx(c, `${INSERT_TODO} RETURNING *`,
    [id(1), ADA, LAUNCH, null, `ship ${phase}`, 'the release', 5, '2035-03-01T09:00:00Z', false, ['work', phase], { phase, n: 1 }]);
  seen.subtasks = [];
  for (let k = 0; k < 3; k++) {
    // A named statement: parsed once, then bound and executed by name.
    const r = await observeTx(c, {
      name: 'insert-subtask',
      text: `${INSERT_TODO} RETURNING id, parent_todo_id, status, ai_generated, tags`,
      values: [id(2 + k), ADA, LAUNCH, id(1), `step ${k} of ${phase}`, null, k, null, true, ['ai'], null],
    }, undefined, k === 0);
    seen.subtasks.push(r);
  }
  await ctl(c, seen, 'COMMIT');
  // A tree that stays: later phases walk it.
  for (const [n, parent] of [[10, null], [11, 10], [12, 11]]) {
    seen.kept = seen.kept || [];
    seen.kept.push(await observe(c, 'INSERT INTO todos (id, user_id, parent_todo_id, title) VALUES ($1, $2, $3, $4)',
      [id(n), ADA, parent && id(parent), `kept ${n} ${phase}`], false));
  }
  seen.more = [];
  for (const [n, user, project, title, priority, status] of [
    [5, ADA, DOCS, `write docs ${phase}`, 3, 'todo'],
    [6, ADA, null, `review ${phase}`, 3, 'in_progress'],
    [7, BOB, null, `bob's ${phase}`, 1, 'todo'],
    [8, CAROL, null, `old chore ${phase}`, 0, 'todo'],
  ]) {
    seen.more.push(await observe(c,
      'INSERT INTO todos (id, user_id, project_id, title, priority, status) VALUES ($1, $2, $3, $4, $5, $6)',
      [id(n), user, project, title, priority, status], false));
  }
  // A default id: generated by the server (compared by position).
  seen.default_id = await observe(c,
    "INSERT INTO todos (user_id, title) VALUES ($1, 'no id given') RETURNING id, title, status, priority, tags", [BOB]);
  // Deleted at once: lists ordered by id would order random ids differently in the two runs.
  seen.default_id_deleted = await observe(c, "DELETE FROM todos WHERE user_id = $1 AND title = 'no id given'", [BOB], false);
  report('create', seen);
}

async function list(c) {
  const order = 'ORDER BY priority DESC, created_at DESC, id';
  const page = (n) => observe(c, `SELECT id, title, status, priority FROM todos WHERE user_id = $1 ${order} LIMIT $2 OFFSET $3`,
    [ADA, 4, 4 * n], n === 0);
  report('list', {
    page_1: await page(0),
    page_2: await page(1),
    total: await observe(c, 'SELECT count(*) AS total FROM todos WHERE user_id = $1', [ADA]),
    by_status_and_project: await observe(c,
      `SELECT id, title FROM todos WHERE user_id = $1 AND status = $2 AND project_id = $3 ${order}`, [ADA, 'todo', LAUNCH]),
    due_before: await observe(c,
      `SELECT id, title, due_date FROM todos WHERE user_id = $1 AND due_date < $2 ${order}`, [ADA, '2036-01-01T00:00:00Z']),
    by_tag: await observe(c, `SELECT id, tags FROM todos WHERE $1 = ANY (tags) ${order}`, [phase]),
    simple_protocol: await observe(c, `SELECT id, title FROM todos WHERE user_id = '${BOB}' ${order}`),
  });
}

async function changes(c) {
  report('change_status', {
    one: await observe(c, 'UPDATE todos SET status = $1 WHERE id = $2', ['in_progress', id(5)]),
    none: await observe(c, 'UPDATE todos SET status = $1 WHERE id = $2', ['in_progress', NOBODY]),
    several: await observe(c, "UPDATE todos SET status = 'in_progress' WHERE parent_todo_id = $1 AND priority < 2", [id(1)]),
  });
  report('complete', {
    returning: await observe(c,
      "UPDATE todos SET status = 'done', completed_at = now() WHERE id = $1 RETURNING id, status, completed_at", [id(6)]),
    // Done long ago: the daily maintenance archives it before read_new.
    long_ago: await observe(c,
      "UPDATE todos SET status = 'done', completed_at = '2020-01-15T00:00:00Z' WHERE id = $1", [id(8)]),
  });
  report('edit', {
    edit: await observe(c,
      'UPDATE todos SET title = $2, description = $3, tags = $4, metadata = $5, due_date = $6, priority = $7 WHERE id = $1',
      [id(5), `docs, edited ${phase}`, 'longer', ['docs', 'edited'], { edited: true }, '2035-06-30T12:00:00Z', 4]),
    returning_all: await observe(c, `UPDATE todos SET title = title || '!' WHERE id = $1 RETURNING ${COLUMNS}`, [id(5)]),
    missing: await observe(c, 'UPDATE todos SET title = $2 WHERE id = $1 RETURNING id', [NOBODY, 'nothing']),
    fresh: await observe(c, 'SELECT updated_at > created_at AS touched FROM todos WHERE id = $1', [id(5)]),
  });
}

async function hierarchy(c) {
  const walk = `WITH RECURSIVE tree AS (
      SELECT id, parent_todo_id, title, 0 AS level FROM todos WHERE id = $1
      UNION ALL
      SELECT t.id, t.parent_todo_id, t.title, tree.level + 1 FROM todos t JOIN tree ON t.parent_todo_id = tree.id)
    SELECT * FROM tree ORDER BY level, id`;
  report('hierarchy', {
    own: await observe(c, walk, [id(1)]),
    kept: await observe(c, walk, [id(10)], false),
    from_legacy_phase: await observe(c, walk, [id(10, 1)], false),
  });
}

async function upsert(c) {
  const sql = `INSERT INTO todos (id, user_id, title, priority) VALUES ($1, $2, $3, $4)
    ON CONFLICT (id) DO UPDATE SET title = EXCLUDED.title, priority = EXCLUDED.priority
    RETURNING id, title, priority, status`;
  const seen = {
    insert: await observe(c, sql, [id(9), CAROL, `upserted ${phase}`, 1]),
    update: await observe(c, sql, [id(9), CAROL, `upserted again ${phase}`, 2]),
    do_nothing: await observe(c,
      'INSERT INTO todos (id, user_id, title) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', [id(9), CAROL, 'ignored']),
  };
  // The todo the legacy phase completed long ago (archived from read_new on).
  if (P > 1) seen.archived = await observe(c, sql, [id(8, 1), CAROL, `old chore, renamed in ${phase}`, 0], false);
  seen.carols_todos = await observe(c, 'SELECT id, title, status FROM todos WHERE user_id = $1 ORDER BY id, status', [CAROL], false);
  report('upsert', seen);
}

async function locking(c, other) {
  const seen = {};
  await ctl(other, seen, 'BEGIN');
  seen.held = await observe(other, 'SELECT id FROM todos WHERE id = $1 FOR UPDATE', [id(2)], false);
  await ctl(c, seen, 'BEGIN');
  seen.for_update = await observeTx(c, 'SELECT id, title FROM todos WHERE id = $1 FOR UPDATE', [id(3)]);
  seen.skip_locked = await observeTx(c,
    'SELECT id FROM todos WHERE parent_todo_id = $1 ORDER BY priority, id LIMIT $2 FOR UPDATE SKIP LOCKED', [id(1), 2]);
  seen.no_key_update = await observeTx(c,
    'SELECT id, priority FROM todos WHERE user_id = $1 ORDER BY priority DESC, id LIMIT 1 OFFSET 1 FOR NO KEY UPDATE', [ADA]);
  seen.share = await observeTx(c, 'SELECT t.id FROM todos t WHERE t.id = $1 FOR SHARE OF t', [id(5)], false);
  seen.nowait = await observeTx(c, 'SELECT id FROM todos WHERE id = $1 FOR UPDATE NOWAIT', [id(2)], false);
  seen.key_share = await observeTx(c, 'SELECT id FROM todos WHERE id = $1 FOR KEY SHARE', [id(4)], false);
  await ctl(c, seen, 'COMMIT');
  await ctl(other, seen, 'ROLLBACK');
  report('locking', seen);
}

async function cursors(c) {
  const seen = {};
  await ctl(c, seen, 'BEGIN');
  // pg-cursor: a portal read four rows at a time (the savepoint first: a
  // cursor holds the connection's queue until it is closed).
  await c.query('SAVEPOINT observed');
  const cursor = c.query(new Cursor(`SELECT id, title, priority FROM todos WHERE user_id = $1 ORDER BY id`, [ADA]));
  seen.pages = [];
  try {
    for (;;) {
      const rows = await cursor.read(4);
      seen.pages.push(rows.map((r) => r.id));
      if (rows.length === 0) break;
    }
    await cursor.close();
    await c.query('RELEASE SAVEPOINT observed');
  } catch (e) {
    seen.pages.push(errorFields(e));
    await c.query('ROLLBACK TO SAVEPOINT observed');
  }
  seen.declare = await observeTx(c, `DECLARE todo_walk NO SCROLL CURSOR FOR SELECT id, title FROM todos WHERE user_id = $1 ORDER BY id`, [ADA], false);
  seen.fetch = await observeTx(c, 'FETCH 3 FROM todo_walk');
  seen.move = await observeTx(c, 'MOVE FORWARD 2 IN todo_walk', [], false);
  seen.fetch_next = await observeTx(c, 'FETCH NEXT FROM todo_walk', [], false);
  seen.close = await observeTx(c, 'CLOSE todo_walk', [], false);
  await ctl(c, seen, 'COMMIT');
  report('cursor', seen);
}

async function batch(c) {
  const values = [];
  const rows = [];
  for (let k = 0; k < 5; k++) {
    const b = values.length;
    rows.push(`($${b + 1}, $${b + 2}, $${b + 3}, $${b + 4})`);
    values.push(id(20 + k), ADA, `batch ${k} ${phase}`, k);
  }
  const ids = [20, 21, 22, 23, 24].map((n) => id(n));
  report('batch', {
    insert: await observe(c, `INSERT INTO todos (id, user_id, title, priority) VALUES ${rows.join(', ')} RETURNING id`, values, false),
    update: await observe(c, 'UPDATE todos SET priority = priority + 10 WHERE id = ANY ($1)', [ids]),
    delete_some: await observe(c, 'DELETE FROM todos WHERE id = ANY ($1) AND priority > 12', [ids]),
  });
}

async function transaction(c) {
  const seen = {};
  await ctl(c, seen, 'BEGIN');
  seen.insert = await observeTx(c, 'INSERT INTO todos (id, user_id, title) VALUES ($1, $2, $3)', [id(30), ADA, 'rolled back'], false);
  await ctl(c, seen, 'SAVEPOINT s');
  seen.failing = await observe(c, 'INSERT INTO todos (id, user_id, title) VALUES ($1, $2, $3)', [id(30), ADA, 'duplicate']);
  await ctl(c, seen, 'ROLLBACK TO SAVEPOINT s');
  seen.update = await observeTx(c, "UPDATE todos SET title = 'in the transaction' WHERE user_id = $1 AND status = 'todo'", [ADA], false);
  await ctl(c, seen, 'ROLLBACK');
  seen.after = await observe(c, 'SELECT count(*) AS n FROM todos WHERE id = $1 OR title = $2', [id(30), 'in the transaction'], false);
  report('transaction', seen);
}

async function remove(c) {
  report('delete', {
    root: await observe(c, 'DELETE FROM todos WHERE id = $1', [id(1)]),
    children_left: await observe(c, 'SELECT count(*) AS n FROM todos WHERE parent_todo_id = $1 OR id = $1', [id(1)], false),
    returning: await observe(c, 'DELETE FROM todos WHERE id = $1 RETURNING id, title', [id(7)]),
    none: await observe(c, 'DELETE FROM todos WHERE id = $1', [NOBODY], false),
  });
}

async function errors(c) {
  const insert = 'INSERT INTO todos (id, user_id, parent_todo_id, title, status) VALUES ($1, $2, $3, $4, $5)';
  report('errors', {
    foreign_key_user: await observe(c, insert, [id(40), NOBODY, null, 'orphan', 'todo']),
    foreign_key_parent: await observe(c, insert, [id(41), DAN, NOBODY, 'orphan child', 'todo']),
    check: await observe(c, insert, [id(42), ADA, null, 'bad status', 'bogus']),
    not_null: await observe(c, insert, [id(43), ADA, null, null, 'todo']),
    unique: await observe(c, insert, [id(5), ADA, null, 'duplicate', 'todo']),
    too_long: await observe(c, insert, [id(44), ADA, null, 'x'.repeat(501), 'todo']),
    update_check: await observe(c, "UPDATE todos SET status = 'archived' WHERE id = $1", [id(5)]),
    bad_uuid: await observe(c, 'SELECT id FROM todos WHERE id = $1', ['not-a-uuid']),
    undefined_column: await observe(c, 'SELECT id, titel FROM todos WHERE user_id = $1', [ADA]),
    syntax: await observe(c, 'SELECT id FROM todos WHERE user_id = $1 ORDER BY', [ADA]),
    ambiguous: await observe(c,
      'SELECT t.id FROM todos t JOIN projects p ON p.id = t.project_id WHERE t.user_id = $1 ORDER BY created_at', [ADA]),
    simple_protocol: await observe(c, `INSERT INTO todos (id, user_id, title) VALUES ('${id(45)}', '${NOBODY}', 'simple')`),
  });
}

async function final(c) {
  report('final', {
    rows: await observe(c, `SELECT ${COLUMNS} FROM todos WHERE user_id = ANY ($1) ORDER BY id`, [[ADA, BOB]]),
  });
}

async function main() {
  const c = connect();
  const other = connect();
  await c.connect();
  await other.connect();
  const pid = await c.query('SELECT pg_backend_pid() AS pid');
  report('session', { backend_pid_matches: pid.rows[0].pid === c.processID });
  await create(c);
  await list(c);
  await changes(c);
  await hierarchy(c);
  await upsert(c);
  await locking(c, other);
  await cursors(c);
  await batch(c);
  await transaction(c);
  await remove(c);
  await errors(c);
  await final(c);
  await c.end();
  await other.end();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
