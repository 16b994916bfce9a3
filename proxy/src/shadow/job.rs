//! A sampled read as queued for the workers: the client's statement, its
//! plan's two forms and its parameters exactly as the client bound them.

use bytes::Bytes;
use switchyard_rewriter::shadow::ShadowRead;
use switchyard_rewriter::{Phase, Plan};

use crate::protocol::bind::BindParams;

/// One parameter value as the client bound it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    /// 0 text, 1 binary.
    pub format: i16,
    /// None for NULL.
    pub value: Option<Bytes>,
}

impl Param {
    /// The value for a mismatch sample: text as is, binary as `\x` hex.
    pub(super) fn display(&self) -> serde_json::Value {
        match &self.value {
            None => serde_json::Value::Null,
            Some(v) if self.format == 0 => serde_json::Value::String(String::from_utf8_lossy(v).into_owned()),
            Some(v) => {
                let mut s = String::with_capacity(2 + v.len() * 2);
                s.push_str("\\x");
                for b in v.iter() {
                    s.push_str(&format!("{b:02x}"));
                }
                serde_json::Value::String(s)
            }
        }
    }
}

/// The parameter values of a Bind message body after its portal and
/// statement names (`rest`), or None when malformed.
pub fn params_from_bind(rest: &[u8]) -> Option<Vec<Param>> {
    let bind = BindParams::decode(rest).ok()?;
    let params = bind
        .values
        .iter()
        .enumerate()
        .map(|(i, v)| Param { format: bind.param_format(i), value: v.map(Bytes::copy_from_slice) });
    Some(params.collect())
}

/// A read to compare (or to count as skipped).
#[derive(Debug, Clone)]
pub struct ShadowJob {
    pub phase: Phase,
    /// The client's statement text.
    pub statement: String,
    /// The plan's shadow statement; None when the read cannot be compared
    /// (the worker finds out why and counts it as skipped).
    pub shadow: Option<ShadowRead>,
    /// Parameter type OIDs from the client's Parse (0: unspecified).
    pub param_types: Vec<u32>,
    pub params: Vec<Param>,
}

impl ShadowJob {
    pub fn new(phase: Phase, statement: &str, plan: &Plan, param_types: &[u32], params: Vec<Param>) -> ShadowJob {
        ShadowJob {
            phase,
            statement: statement.to_string(),
            shadow: plan.shadow.clone(),
            param_types: param_types.to_vec(),
            params,
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::{BufMut, BytesMut};

    use super::*;

    #[test]
    fn bind_parameters_keep_their_formats() {
        // 2 format codes (text, binary), 3 params? no: 2 params, then results.
        let mut b = BytesMut::new();
        b.put_i16(2);
        b.put_i16(0);
        b.put_i16(1);
        b.put_i16(2);
        b.put_i32(2);
        b.put_slice(b"42");
        b.put_i32(-1);
        b.put_i16(0);
        let p = params_from_bind(&b).unwrap_or_default();
        assert_eq!(
            p,
            vec![Param { format: 0, value: Some(Bytes::from_static(b"42")) }, Param { format: 1, value: None }]
        );
        let mut one = BytesMut::new();
        one.put_i16(1);
        one.put_i16(1);
        one.put_i16(1);
        one.put_i32(4);
        one.put_i32(7);
        one.put_i16(0);
        let p = params_from_bind(&one).unwrap_or_default();
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].format, 1);
        assert_eq!(p[0].display(), serde_json::json!("\\x00000007"));
        assert!(params_from_bind(&[0, 0, 0, 1, 0, 0]).is_none());
    }
}
