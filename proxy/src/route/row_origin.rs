//! RowDescription of a rewritten statement as PostgreSQL describes the
//! client's own: each column that comes from `todos` carries legacy todos'
//! OID and the column's attribute number (pgjdbc's `getTableName` and
//! `isNullable`, node-postgres' `tableID` read them).
//!
//! A rewritten statement reads from a derived table (a UNION ALL of the new
//! tables) or a CTE, whose columns PostgreSQL reports with table OID 0 and
//! attribute number 0, or from a new table, reported with its own OID. A
//! column of a new table is mapped through the catalog; a column reported
//! as 0/0 is legacy's column of the same name when it has exactly that
//! column's type and type modifier (other tables' columns keep their own
//! OIDs in the rewritten statement, so a 0/0 column is either todos' or
//! computed), unless the client's statement has a set operation, whose
//! results PostgreSQL describes as computed. Pure logic.

use bytes::{BufMut, BytesMut};
use switchyard_rewriter::ColumnOrigin;

use crate::protocol::{tags, write_message, Cursor, ProtocolError};
use crate::route::legacy_names::LegacyNames;

/// Whether the client's statement has a set operation (UNION, INTERSECT,
/// EXCEPT; a recursive CTE has one): PostgreSQL describes such results as
/// computed, so its 0/0 columns must not be found by name.
pub fn origins_by_name(client_sql: &str) -> bool {
    let toks = switchyard_rewriter::lex::tokens(client_sql);
    !toks.iter().any(|t| ["union", "intersect", "except"].iter().any(|kw| t.is_word(client_sql, kw)))
}

/// The RowDescription `body` with legacy's origins, as a whole message;
/// None when nothing changes (or the body is malformed). `by_name`: see
/// [`origins_by_name`].
pub fn row_description(
    names: &LegacyNames,
    body: &[u8],
    by_name: bool,
    columns: Option<&[ColumnOrigin]>,
) -> Option<BytesMut> {
    if names.is_empty() {
        return None;
    }
    let fields = decode(body).ok()?;
    let columns = columns.filter(|c| c.len() == fields.len());
    let mut changed = false;
    let mut out = BytesMut::with_capacity(body.len() + 5);
    write_message(&mut out, tags::ROW_DESCRIPTION, |b| {
        b.put_u16(fields.len() as u16);
        for (i, f) in fields.iter().enumerate() {
            let origin = match (f.table, f.attnum) {
                (0, 0) => match columns.map(|c| &c[i]) {
                    Some(ColumnOrigin::Column(c)) => names.legacy_column(c, f.type_oid, f.typmod),
                    Some(ColumnOrigin::Computed) => None,
                    _ if by_name => names.legacy_column(f.name, f.type_oid, f.typmod),
                    _ => None,
                },
                (table, attnum) => names.legacy_origin(table, attnum),
            };
            let (table, attnum) = origin.unwrap_or((f.table, f.attnum));
            changed |= (table, attnum) != (f.table, f.attnum);
            b.put_slice(f.name.as_bytes());
            b.put_u8(0);
            b.put_u32(table);
            b.put_i16(attnum);
            b.put_slice(f.rest);
        }
    });
    changed.then_some(out)
}

struct Field<'a> {
    name: &'a str,
    table: u32,
    attnum: i16,
    type_oid: u32,
    typmod: i32,
    /// Type OID, size, modifier and format, as received.
    rest: &'a [u8],
}

fn decode(body: &[u8]) -> Result<Vec<Field<'_>>, ProtocolError> {
    let mut c = Cursor::new(body);
    let n = c.u16()?;
    let mut fields = Vec::with_capacity(usize::from(n));
    for _ in 0..n {
        let name = c.cstr()?;
        let table = c.u32()?;
        let attnum = c.i16()?;
        let rest = c.take(12)?;
        let mut r = Cursor::new(rest);
        let type_oid = r.u32()?;
        let _size = r.i16()?;
        let typmod = r.i32()?;
        fields.push(Field { name, table, attnum, type_oid, typmod, rest });
    }
    c.finish()?;
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_operations_keep_computed_columns_computed() {
        assert!(origins_by_name("SELECT id, title FROM todos WHERE status = 'union'"));
        assert!(!origins_by_name("SELECT id FROM todos UNION ALL SELECT id FROM todos"));
        assert!(!origins_by_name(
            "WITH RECURSIVE tree AS (SELECT id FROM todos WHERE id = $1 \
             UNION ALL SELECT t.id FROM todos t JOIN tree ON t.parent_todo_id = tree.id) SELECT * FROM tree"
        ));
    }
}
