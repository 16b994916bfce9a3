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
//! computed). Pure logic over the message body.

use bytes::{BufMut, BytesMut};

use crate::legacy_names::LegacyNames;
use crate::protocol::{tags, write_message, Cursor, ProtocolError};

/// The RowDescription `body` with legacy's origins, as a whole message;
/// None when nothing changes (or the body is malformed).
pub fn row_description(names: &LegacyNames, body: &[u8]) -> Option<BytesMut> {
    if names.is_empty() {
        return None;
    }
    let fields = decode(body).ok()?;
    let mut changed = false;
    let mut out = BytesMut::with_capacity(body.len() + 5);
    write_message(&mut out, tags::ROW_DESCRIPTION, |b| {
        b.put_u16(fields.len() as u16);
        for f in &fields {
            let origin = match (f.table, f.attnum) {
                (0, 0) => names.legacy_column(f.name, f.type_oid, f.typmod),
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
