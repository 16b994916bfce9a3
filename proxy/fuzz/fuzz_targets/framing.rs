//! Fuzzes framing and decoding: the input's first bytes choose chunk sizes,
//! the rest is dripped into the framer in those chunks; every frame is
//! decoded as a frontend and a backend message, and the same bytes are
//! parsed as startup packets. Nothing may panic, no frame may exceed the limit.
//!
//! Run: `cd proxy/fuzz && cargo +nightly fuzz run framing`

#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use switchyard_proxy::protocol::{backend, frontend, split_frame, startup};

const MAX: usize = 1 << 16;

fuzz_target!(|data: &[u8]| {
    let (sizes, payload) = data.split_at(data.len().min(4));
    let sizes: Vec<usize> = sizes.iter().map(|&s| usize::from(s).max(1)).collect();
    let mut buf = BytesMut::new();
    let mut pos = 0;
    let mut i = 0;
    'outer: while pos < payload.len() {
        let n = sizes.get(i % sizes.len().max(1)).copied().unwrap_or(1).min(payload.len() - pos);
        i += 1;
        buf.extend_from_slice(&payload[pos..pos + n]);
        pos += n;
        loop {
            match split_frame(&mut buf, MAX) {
                Ok(Some(f)) => {
                    assert!(f.body.len() <= MAX);
                    let _ = frontend::decode(f.tag, &f.body);
                    let _ = backend::decode(f.tag, &f.body);
                    let _ = backend::sasl_mechanisms(&f.body);
                }
                Ok(None) => break,
                Err(_) => break 'outer,
            }
        }
    }
    let mut buf = BytesMut::from(payload);
    while let Ok(Some(_)) = startup::split_startup(&mut buf) {}
});
