//! The parameters and result formats of a Bind message, after its portal
//! and statement names
//! (<https://www.postgresql.org/docs/current/protocol-message-formats.html#PROTOCOL-MESSAGE-FORMATS-BIND>).
//!
//! Every count in Bind (and in Parse) is read as PostgreSQL reads it, an
//! unsigned 16-bit integer: a statement may have up to 65,535 parameters.
//! The values are borrowed, not copied; the router asks only for the result
//! formats, the shadow sampler for the values.

use super::{Cursor, ProtocolError};

/// A decoded Bind body (after the portal and statement names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindParams<'a> {
    /// Parameter format codes, two bytes each: none (all text), one (for
    /// all) or one per parameter.
    param_formats: &'a [u8],
    /// Each parameter's value; None for NULL.
    pub values: Vec<Option<&'a [u8]>>,
    /// Result column format codes, two bytes each, with the same convention.
    result_formats: &'a [u8],
}

impl<'a> BindParams<'a> {
    /// Decodes `rest`, the Bind body after the two names; errors on anything
    /// PostgreSQL would refuse as malformed.
    pub fn decode(rest: &'a [u8]) -> Result<BindParams<'a>, ProtocolError> {
        let mut c = Cursor::new(rest);
        let nformats = usize::from(c.u16()?);
        let param_formats = c.take(2 * nformats)?;
        let nvalues = usize::from(c.u16()?);
        if nformats > 1 && nformats != nvalues {
            return Err(ProtocolError::Invalid { what: "parameter format count" });
        }
        let mut values = Vec::with_capacity(nvalues);
        for _ in 0..nvalues {
            let len = c.i32()?;
            values.push(match usize::try_from(len) {
                Ok(len) => Some(c.take(len)?),
                Err(_) if len == -1 => None,
                Err(_) => return Err(ProtocolError::Invalid { what: "parameter length" }),
            });
        }
        let nresults = usize::from(c.u16()?);
        let result_formats = c.take(2 * nresults)?;
        c.finish()?;
        Ok(BindParams { param_formats, values, result_formats })
    }

    /// The format code (0 text, 1 binary) of parameter `i`.
    pub fn param_format(&self, i: usize) -> i16 {
        format_at(self.param_formats, i)
    }

    /// The format code requested for result column `i`.
    pub fn result_format(&self, i: usize) -> i16 {
        format_at(self.result_formats, i)
    }
}

/// The code for item `i` from a list of none (text), one (for all) or one per item.
fn format_at(codes: &[u8], i: usize) -> i16 {
    let at = match codes.len() / 2 {
        0 => return 0,
        1 => 0,
        _ => i,
    };
    codes.get(2 * at..2 * at + 2).map_or(0, |b| i16::from_be_bytes([b[0], b[1]]))
}

#[cfg(test)]
mod tests {
    use bytes::BufMut;

    use super::*;

    fn bind_rest(formats: &[i16], values: &[Option<&[u8]>], results: &[i16]) -> Vec<u8> {
        let mut b = Vec::new();
        b.put_u16(formats.len() as u16);
        formats.iter().for_each(|f| b.put_i16(*f));
        b.put_u16(values.len() as u16);
        for v in values {
            match v {
                Some(v) => {
                    b.put_i32(v.len() as i32);
                    b.put_slice(v);
                }
                None => b.put_i32(-1),
            }
        }
        b.put_u16(results.len() as u16);
        results.iter().for_each(|f| b.put_i16(*f));
        b
    }

    #[test]
    fn decodes_values_and_formats() {
        let rest = bind_rest(&[0, 1], &[Some(b"42"), None], &[1]);
        let bind = BindParams::decode(&rest).expect("valid");
        assert_eq!(bind.values, vec![Some(&b"42"[..]), None]);
        assert_eq!((bind.param_format(0), bind.param_format(1)), (0, 1));
        assert_eq!((bind.result_format(0), bind.result_format(5)), (1, 1));
        let rest = bind_rest(&[], &[], &[]);
        assert_eq!(BindParams::decode(&rest).expect("valid").result_format(0), 0);
    }

    #[test]
    fn counts_above_32767_are_unsigned() {
        let values: Vec<Option<&[u8]>> = vec![Some(b"1"); 40_000];
        let rest = bind_rest(&[1], &values, &[0]);
        assert_eq!(BindParams::decode(&rest).expect("valid").values.len(), 40_000);
    }

    #[test]
    fn rejects_malformed_bodies() {
        let mut rest = bind_rest(&[0, 0], &[Some(b"1")], &[]);
        assert!(BindParams::decode(&rest).is_err(), "two formats for one value");
        rest = bind_rest(&[], &[Some(b"1")], &[]);
        rest.push(0);
        assert!(BindParams::decode(&rest).is_err(), "trailing bytes");
        assert!(BindParams::decode(&[0, 0, 0, 1, 0xff, 0xff, 0xff, 0xfe]).is_err(), "negative length");
        assert!(BindParams::decode(&[0, 0, 0, 1, 0, 0, 0, 9, 1]).is_err(), "truncated value");
    }
}
