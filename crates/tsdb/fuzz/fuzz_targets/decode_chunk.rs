//! Chunks come from the database, so a corrupt row or a bad migration must not crash the hub:
//! decoding arbitrary bytes returns an error or a value, never panics. Whatever does decode must
//! be a well-formed chunk: the header's count, increasing timestamps, and a re-encode that gives
//! the same values back.
#![no_main]

use hostwatch_tsdb::{
    ChunkKind, Precision, RangeQuery, Resolution, decode_buckets, decode_points, encode_buckets,
    encode_points, read_header,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(header) = read_header(data) else {
        assert!(decode_points(data).is_err() && decode_buckets(data).is_err());
        return;
    };
    match header.kind {
        ChunkKind::Points => {
            let Ok(points) = decode_points(data) else {
                return;
            };
            assert_eq!(points.timestamps.len(), header.count as usize);
            assert_eq!(points.values.len(), header.count as usize);
            assert!(points.timestamps.windows(2).all(|w| w[0] < w[1]));
            assert_eq!(points.timestamps.first(), Some(&header.first_ms));
            assert_eq!(points.timestamps.last(), Some(&header.last_ms));
            let again = encode_points(&points.timestamps, &points.values, header.precision)
                .expect("a decoded chunk re-encodes");
            let round = decode_points(&again).expect("a re-encoded chunk decodes");
            assert_eq!(round.timestamps, points.timestamps);
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            let expected: Vec<f64> = match header.precision {
                Precision::Exact => points.values.clone(),
                p => points.values.iter().map(|&v| p.quantise(v)).collect(),
            };
            assert_eq!(bits(&round.values), bits(&expected));

            // The query path over the same bytes.
            let end = header.last_ms.saturating_add(1);
            if let Ok(mut query) = RangeQuery::new(header.first_ms, end, Resolution::Raw, 100) {
                query.add_chunk(data).expect("decoded once, decodes again");
                assert!(query.finish().points.len() <= 100);
            }
        }
        ChunkKind::Rollup => {
            let Ok((buckets, width)) = decode_buckets(data) else {
                return;
            };
            assert_eq!(buckets.len(), header.count as usize);
            assert!(buckets.windows(2).all(|w| w[0].start_ms < w[1].start_ms));
            assert!(width > 0);
            let again = encode_buckets(&buckets, width, Precision::Exact)
                .expect("decoded buckets re-encode");
            let (round, _) = decode_buckets(&again).expect("re-encoded buckets decode");
            assert_eq!(round.len(), buckets.len());

            // The query path over the same bytes, when the width is one the hub queries.
            let resolution = match width {
                60_000 => Resolution::Minute,
                3_600_000 => Resolution::Hour,
                _ => return,
            };
            let end = header.last_ms.saturating_add(width);
            if let Ok(mut query) = RangeQuery::new(header.first_ms, end, resolution, 100) {
                query.add_chunk(data).expect("decoded once, decodes again");
                assert!(query.finish().points.len() <= 100);
            }
        }
    }
});
