#![doc = include_str!("../README.md")]

pub mod chunk;
pub mod head;
pub mod precision;
pub mod query;
pub mod rollup;
pub mod synthetic;

pub use chunk::{
    ChunkHeader, ChunkKind, DecodeError, EncodeError, Points, decode_buckets, decode_points,
    encode_buckets, encode_points, read_header,
};
pub use head::{AppendError, Head, HeadConfig};
pub use precision::Precision;
pub use query::{QueryError, QueryPoint, QueryResult, RangeQuery, Resolution, pick_resolution};
pub use rollup::{Bucket, HOUR_MS, MINUTE_MS, rollup, rollup_buckets};
