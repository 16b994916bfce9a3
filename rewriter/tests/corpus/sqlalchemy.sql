# What SQLAlchemy 2.0 (psycopg 3 / asyncpg, extended protocol) emits for the
# legacy models: Core and ORM.
== P R R R
SELECT todos.id, todos.user_id, todos.project_id, todos.parent_todo_id, todos.title, todos.description, todos.status, todos.priority, todos.due_date, todos.ai_generated, todos.tags, todos.metadata, todos.created_at, todos.updated_at, todos.completed_at
FROM todos
WHERE todos.user_id = $1::UUID ORDER BY todos.priority DESC, todos.created_at DESC
 LIMIT $2::INTEGER OFFSET $3::INTEGER
== P R R R
SELECT todos.id, todos.user_id, todos.project_id, todos.parent_todo_id, todos.title, todos.description, todos.status, todos.priority, todos.due_date, todos.ai_generated, todos.tags, todos.metadata, todos.created_at, todos.updated_at, todos.completed_at
FROM todos
WHERE todos.user_id = $1::UUID AND todos.status = $2::VARCHAR ORDER BY todos.priority DESC, todos.created_at DESC
 LIMIT $3::INTEGER OFFSET $4::INTEGER
== P R R R
SELECT todos.id, todos.user_id, todos.project_id, todos.parent_todo_id, todos.title, todos.description, todos.status, todos.priority, todos.due_date, todos.ai_generated, todos.tags, todos.metadata, todos.created_at, todos.updated_at, todos.completed_at
FROM todos
WHERE todos.user_id = $1::UUID AND todos.project_id = $2::UUID ORDER BY todos.priority DESC, todos.created_at DESC
 LIMIT $3::INTEGER OFFSET $4::INTEGER
== P R R R
SELECT todos.id, todos.user_id, todos.project_id, todos.parent_todo_id, todos.title, todos.description, todos.status, todos.priority, todos.due_date, todos.ai_generated, todos.tags, todos.metadata, todos.created_at, todos.updated_at, todos.completed_at
FROM todos
WHERE todos.user_id = $1::UUID AND todos.due_date <= $2::TIMESTAMP WITH TIME ZONE ORDER BY todos.priority DESC, todos.created_at DESC
 LIMIT $3::INTEGER OFFSET $4::INTEGER
== P R R R
SELECT todos.id, todos.user_id, todos.project_id, todos.parent_todo_id, todos.title, todos.description, todos.status, todos.priority, todos.due_date, todos.ai_generated, todos.tags, todos.metadata, todos.created_at, todos.updated_at, todos.completed_at
FROM todos
WHERE todos.user_id = $1::UUID AND todos.status IN ($2::VARCHAR, $3::VARCHAR) ORDER BY todos.priority DESC, todos.created_at DESC
 LIMIT $4::INTEGER
== P R R R
SELECT todos.id, todos.user_id, todos.project_id, todos.parent_todo_id, todos.title, todos.description, todos.status, todos.priority, todos.due_date, todos.ai_generated, todos.tags, todos.metadata, todos.created_at, todos.updated_at, todos.completed_at
FROM todos
WHERE todos.id = $1::UUID
== P R R R
SELECT todos.id AS todos_id, todos.user_id AS todos_user_id, todos.project_id AS todos_project_id, todos.parent_todo_id AS todos_parent_todo_id, todos.title AS todos_title, todos.description AS todos_description, todos.status AS todos_status, todos.priority AS todos_priority, todos.due_date AS todos_due_date, todos.ai_generated AS todos_ai_generated, todos.tags AS todos_tags, todos.metadata AS todos_metadata, todos.created_at AS todos_created_at, todos.updated_at AS todos_updated_at, todos.completed_at AS todos_completed_at
FROM todos
WHERE todos.id = $1::UUID
== P R R R
SELECT count(*) AS count_1
FROM (SELECT todos.id AS id, todos.user_id AS user_id, todos.status AS status
FROM todos
WHERE todos.user_id = $1::UUID AND todos.status = $2::VARCHAR) AS anon_1
== P R R R
SELECT todos.parent_todo_id AS todos_parent_todo_id, todos.id AS todos_id, todos.user_id AS todos_user_id, todos.title AS todos_title, todos.status AS todos_status, todos.priority AS todos_priority
FROM todos
WHERE todos.parent_todo_id IN ($1::UUID, $2::UUID, $3::UUID)
== P R R R
SELECT todos.id, todos.user_id, todos.title, todos.status, projects_1.id AS id_1, projects_1.user_id AS user_id_1, projects_1.name, projects_1.created_at
FROM todos LEFT OUTER JOIN projects AS projects_1 ON projects_1.id = todos.project_id
WHERE todos.user_id = $1::UUID ORDER BY todos.priority DESC, todos.created_at DESC
== P R R R
SELECT EXISTS (SELECT 1
FROM todos
WHERE todos.id = $1::UUID AND todos.user_id = $2::UUID) AS anon_1
== P R R R
SELECT todos.status, count(todos.id) AS count_1
FROM todos
WHERE todos.user_id = $1::UUID GROUP BY todos.status
== P R R R
SELECT todos.id, todos.title, todos.tags
FROM todos
WHERE todos.user_id = $1::UUID AND todos.tags && $2::VARCHAR[]
== P R R R
SELECT todos.id, todos.title
FROM todos
WHERE todos.user_id = $1::UUID AND todos.title ILIKE $2::VARCHAR ORDER BY todos.created_at DESC
== P R R R
SELECT todos.id, todos.title
FROM todos
WHERE todos.user_id = $1::UUID AND (todos.metadata ->> $2::VARCHAR) = $3::VARCHAR
== P R R R
SELECT todos.id, todos.title
FROM todos
WHERE todos.user_id = $1::UUID AND todos.ai_generated IS true AND todos.parent_todo_id IS NULL
== P R R R
SELECT todos.id, todos.title, row_number() OVER (PARTITION BY todos.project_id ORDER BY todos.priority DESC) AS anon_1
FROM todos
WHERE todos.user_id = $1::UUID
== P R R R
SELECT projects.id, projects.name, count(todos.id) AS todo_count
FROM projects LEFT OUTER JOIN todos ON projects.id = todos.project_id
WHERE projects.user_id = $1::UUID GROUP BY projects.id, projects.name
== P R R R
SELECT users.id, users.email, (SELECT count(todos.id) AS count_1
FROM todos
WHERE todos.user_id = users.id AND todos.status != $1::VARCHAR) AS anon_1
FROM users
== P P R R
SELECT todos.id, todos.status, todos.updated_at
FROM todos
WHERE todos.id = $1::UUID FOR UPDATE
== P P R R
SELECT todos.id, todos.status
FROM todos
WHERE todos.user_id = $1::UUID FOR SHARE
== P P R R
SELECT todos.id
FROM todos
WHERE todos.status = $1::VARCHAR ORDER BY todos.created_at LIMIT $2::INTEGER FOR UPDATE SKIP LOCKED
== R R R R insert hide
INSERT INTO todos (id, user_id, project_id, parent_todo_id, title, description, status, priority, due_date, ai_generated, tags, metadata, created_at, updated_at, completed_at) VALUES ($1::UUID, $2::UUID, $3::UUID, $4::UUID, $5::VARCHAR, $6::VARCHAR, $7::VARCHAR, $8::INTEGER, $9::TIMESTAMP WITH TIME ZONE, $10, $11::VARCHAR[], $12::JSONB, $13::TIMESTAMP WITH TIME ZONE, $14::TIMESTAMP WITH TIME ZONE, $15::TIMESTAMP WITH TIME ZONE)
== R R R R insert show
INSERT INTO todos (user_id, project_id, title, description, priority, due_date, ai_generated, tags) VALUES ($1::UUID, $2::UUID, $3::VARCHAR, $4::VARCHAR, $5::INTEGER, $6::TIMESTAMP WITH TIME ZONE, $7, $8::VARCHAR[]) RETURNING todos.id, todos.status, todos.metadata, todos.created_at, todos.updated_at, todos.completed_at, todos.parent_todo_id
== R R R R insert show
INSERT INTO todos (id, user_id, parent_todo_id, title, ai_generated, priority) VALUES ($1::UUID, $2::UUID, $3::UUID, $4::VARCHAR, $5, $6::INTEGER), ($7::UUID, $8::UUID, $9::UUID, $10::VARCHAR, $11, $12::INTEGER), ($13::UUID, $14::UUID, $15::UUID, $16::VARCHAR, $17, $18::INTEGER) RETURNING todos.created_at, todos.updated_at
== R R R R insert show
INSERT INTO todos (user_id, parent_todo_id, title, ai_generated) SELECT p0::UUID, p1::UUID, p2::VARCHAR, p3::BOOLEAN FROM (VALUES ($1, $2, $3, $4, 0), ($5, $6, $7, $8, 1)) AS imp_sen(p0, p1, p2, p3, sen_counter) ORDER BY sen_counter RETURNING todos.id, todos.id AS id__1
== R R R R update hide
UPDATE todos SET status=$1::VARCHAR, updated_at=now() WHERE todos.id = $2::UUID
== R R R R update hide
UPDATE todos SET status=$1::VARCHAR, completed_at=$2::TIMESTAMP WITH TIME ZONE, updated_at=now() WHERE todos.id = $3::UUID
== R R R R update show
UPDATE todos SET title=$1::VARCHAR, description=$2::VARCHAR WHERE todos.id = $3::UUID RETURNING todos.updated_at
== R R R R update hide
UPDATE todos SET priority=(todos.priority + $1::INTEGER) WHERE todos.user_id = $2::UUID AND todos.status = $3::VARCHAR
== R R R R delete hide
DELETE FROM todos WHERE todos.id = $1::UUID
== R R R R delete hide
DELETE FROM todos WHERE todos.user_id = $1::UUID AND todos.status = $2::VARCHAR
== R R R R delete show
DELETE FROM todos WHERE todos.id = $1::UUID RETURNING todos.id, todos.title
== R R R R update hide
UPDATE todos SET tags=$1::VARCHAR[], metadata=$2::JSONB, updated_at=now() WHERE todos.id = $3::UUID AND todos.user_id = $4::UUID
== P P P P
SELECT users.id, users.email, users.name, users.created_at
FROM users
WHERE users.email = $1::VARCHAR
== P P P P
SELECT projects.id, projects.user_id, projects.name, projects.created_at
FROM projects
WHERE projects.user_id = $1::UUID ORDER BY projects.created_at
== P P P P
SELECT files.id, files.todo_id, files.user_id, files.filename, files.size_bytes, files.created_at
FROM files
WHERE files.todo_id = $1::UUID
== P P P P
INSERT INTO files (todo_id, user_id, filename, size_bytes) VALUES ($1::UUID, $2::UUID, $3::VARCHAR, $4::BIGINT) RETURNING files.id, files.created_at
== P P P P
INSERT INTO users (email, name) VALUES ($1::VARCHAR, $2::VARCHAR) RETURNING users.id, users.created_at
== P P P P
DELETE FROM users WHERE users.id = $1::UUID
== P P P P
DELETE FROM projects WHERE projects.id = $1::UUID
== P P P P
UPDATE projects SET name=$1::VARCHAR WHERE projects.id = $2::UUID
== P P P P
SELECT pg_catalog.version()
== P P P P
select pg_catalog.version()
== P P P P
SELECT current_schema()
== P P P P
show standard_conforming_strings
== P P P P
BEGIN
== P P P P
COMMIT
== P P P P
ROLLBACK
== P P P P
SELECT t.oid, typarray FROM pg_type t JOIN pg_namespace ns ON typnamespace = ns.oid WHERE typname = 'hstore'
