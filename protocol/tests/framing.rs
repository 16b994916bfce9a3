//! Property tests of the codec: whatever bytes arrive, in whatever chunks,
//! framing and decoding never panic, never return a message longer than the
//! limit, and valid streams split into exactly the messages that were sent.

use bytes::{BufMut, BytesMut};
use proptest::prelude::*;
use switchyard_protocol::{backend, frontend, split_frame, startup, ProtocolError};

const MAX: usize = 4096;

/// Feeds `data` to the framer in `chunks`-sized drips, decoding every frame
/// both ways; returns the frames or the first error.
fn drip(data: &[u8], chunks: &[usize]) -> Result<Vec<(u8, Vec<u8>)>, ProtocolError> {
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    let mut pos = 0;
    let mut sizes = chunks.iter().cycle();
    while pos < data.len() {
        let n = (*sizes.next().unwrap_or(&1)).max(1).min(data.len() - pos);
        buf.extend_from_slice(&data[pos..pos + n]);
        pos += n;
        while let Some(f) = split_frame(&mut buf, MAX)? {
            assert!(f.body.len() <= MAX);
            let _ = frontend::decode(f.tag, &f.body);
            let _ = backend::decode(f.tag, &f.body);
            let _ = backend::sasl_mechanisms(&f.body);
            frames.push((f.tag, f.body.to_vec()));
        }
    }
    Ok(frames)
}

fn encode(frames: &[(u8, Vec<u8>)]) -> Vec<u8> {
    let mut out = BytesMut::new();
    for (tag, body) in frames {
        out.put_u8(*tag);
        out.put_i32(body.len() as i32 + 4);
        out.put_slice(body);
    }
    out.to_vec()
}

fn header_with_len() -> impl Strategy<Value = Vec<u8>> {
    (any::<u8>(), prop_oneof![Just(i32::MIN), Just(-1), Just(0), Just(3), Just(i32::MAX), Just(1 << 30), any::<i32>()])
        .prop_map(|(tag, len)| {
            let mut v = vec![tag];
            v.extend_from_slice(&len.to_be_bytes());
            v
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn valid_streams_split_into_the_messages_sent(
        frames in prop::collection::vec((any::<u8>(), prop::collection::vec(any::<u8>(), 0..300)), 0..20),
        chunks in prop::collection::vec(1usize..64, 1..8),
    ) {
        let data = encode(&frames);
        prop_assert_eq!(drip(&data, &chunks), Ok(frames));
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        data in prop::collection::vec(any::<u8>(), 0..2000),
        chunks in prop::collection::vec(1usize..512, 1..8),
    ) {
        let _ = drip(&data, &chunks);
        let mut buf = BytesMut::from(&data[..]);
        while let Ok(Some(_)) = startup::split_startup(&mut buf) {}
    }

    #[test]
    fn huge_and_negative_lengths_are_refused_not_awaited(
        prefix in prop::collection::vec((any::<u8>(), prop::collection::vec(any::<u8>(), 0..50)), 0..5),
        bad in header_with_len(),
        chunks in prop::collection::vec(1usize..16, 1..4),
    ) {
        let mut data = encode(&prefix);
        data.extend_from_slice(&bad);
        let len = i32::from_be_bytes([bad[1], bad[2], bad[3], bad[4]]);
        match drip(&data, &chunks) {
            Ok(frames) => {
                // Only a plausible length may be waited for.
                prop_assert!(len >= 4 && (len as usize - 4) <= MAX);
                prop_assert_eq!(frames, prefix);
            }
            Err(ProtocolError::BadLength(l)) => prop_assert!(l < 4 && l == i64::from(len)),
            Err(ProtocolError::TooLarge { len: l, max }) => prop_assert!(l > max),
            Err(other) => prop_assert!(false, "unexpected {other:?}"),
        }
    }

    #[test]
    fn startup_packets_of_any_shape_never_panic(
        len in prop_oneof![Just(i32::MIN), Just(-1), Just(0), Just(8), Just(10_001), any::<i32>(), 8i32..64],
        code in prop_oneof![Just(80_877_102u32), Just(80_877_103), Just(80_877_104), Just(196_608), any::<u32>()],
        rest in prop::collection::vec(any::<u8>(), 0..80),
    ) {
        let mut buf = BytesMut::new();
        buf.put_i32(len);
        buf.put_u32(code);
        buf.put_slice(&rest);
        let _ = startup::split_startup(&mut buf);
    }
}
