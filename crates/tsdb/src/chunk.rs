//! The compressed chunk: one series' points (or rollup buckets) over a stretch of time.
//!
//! Byte layout (all integers little-endian; see the crate README for the full table):
//!
//! ```text
//! 0   4  magic "HWTS"
//! 4   1  format version (1)
//! 5   1  kind: 0 = points, 1 = rollup buckets
//! 6   1  precision: 0xFF = exact, 0..=9 = decimals kept
//! 7   1  reserved, 0
//! 8   4  count of points or buckets, u32, 1..=MAX_POINTS
//! 12  8  first timestamp, i64 unix ms
//! 20  8  last timestamp, i64 unix ms
//! 28  8  step, i64 ms: the grid the timestamps are predicted on
//! 36  .. sections, each: u32 payload length, u8 encoding, payload
//! ```
//!
//! Points chunks hold two sections (timestamps, values); rollup chunks hold seven (bucket starts,
//! count, min, max, sum, last, offset of the last sample within its bucket).
//!
//! Timestamps are stored as residuals against a grid: each timestamp is predicted as the previous
//! grid point plus `step` (the most common interval), and only the difference is kept. A regular
//! series gives residuals of 0, jitter of a few ms gives small numbers, a gap gives one large
//! number and re-anchors the grid; pco's binning turns each of those into the few bits it is
//! worth. (Measured on a day at 10 s with 0–4 ms jitter: 0.30 bytes per timestamp, against 0.39
//! for plain deltas, whose residuals are the difference of two jitters.)
//!
//! Decoding never trusts the bytes: every length, count and tag is checked, pco is asked for
//! at most `count` numbers, and the decoded timestamps must match the header and strictly
//! increase. Corrupt input yields a [`DecodeError`], never a panic.

use pco::ChunkConfig;
use pco::data_types::Number;
use pco::errors::PcoError;
use pco::standalone::{simple_compress_into, simple_decompress_into};

use crate::precision::{MAX_DECIMALS, Precision, scaled, unscale};
use crate::rollup::Bucket;

/// First four bytes of every chunk.
pub const MAGIC: [u8; 4] = *b"HWTS";
/// The format version this code writes. Readers accept every version up to this one.
pub const FORMAT_VERSION: u8 = 1;
/// Length of the fixed header before the first section.
pub const HEADER_LEN: usize = 36;
/// Most points (or buckets) one chunk may hold: about 121 days at 10 s, 12 days at 1 s. Bounds
/// what a decoder allocates for a corrupt header to 8 MiB per column.
pub const MAX_POINTS: u32 = 1 << 20;

const KIND_POINTS: u8 = 0;
const KIND_ROLLUP: u8 = 1;

/// Section encoding: pco-compressed `f64`, bit-exact.
const ENC_F64: u8 = 0x00;
/// Section encoding: pco-compressed `i64` counts of `10^-d` units, `d` in the low nibble.
const ENC_SCALED: u8 = 0x10;
/// Section encoding: pco-compressed `i64` timestamp residuals against the grid.
const ENC_TIMESTAMPS: u8 = 0x20;

/// Section length prefix plus encoding byte.
const SECTION_HEADER_LEN: usize = 5;

/// What a chunk holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChunkKind {
    /// Raw samples: a timestamp and a value each.
    Points,
    /// Rollup buckets ([`Bucket`]); `step` in the header is the bucket width.
    Rollup,
}

/// The fixed header of a chunk, readable without decompressing anything (to skip chunks
/// outside a query's range).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkHeader {
    pub version: u8,
    pub kind: ChunkKind,
    pub precision: Precision,
    pub count: u32,
    pub first_ms: i64,
    pub last_ms: i64,
    /// The grid step: for points the most common interval, for rollups the bucket width.
    pub step_ms: i64,
}

/// Decoded raw samples, in column form.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Points {
    pub timestamps: Vec<i64>,
    pub values: Vec<f64>,
}

impl Points {
    pub fn len(&self) -> usize {
        self.timestamps.len()
    }

    pub fn is_empty(&self) -> bool {
        self.timestamps.is_empty()
    }
}

/// Why a chunk could not be built.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error("a chunk needs at least one point")]
    Empty,
    #[error("{timestamps} timestamps but {values} values")]
    LengthMismatch { timestamps: usize, values: usize },
    #[error("{0} points exceed the chunk limit of {MAX_POINTS}")]
    TooMany(usize),
    #[error("timestamps must strictly increase: {previous} then {next} at index {index}")]
    NotIncreasing {
        index: usize,
        previous: i64,
        next: i64,
    },
    #[error("{0} decimals exceed the maximum of {MAX_DECIMALS}")]
    BadPrecision(u8),
    #[error("bucket width must be positive, got {0} ms")]
    BadWidth(i64),
    #[error("compressing a column: {0}")]
    Compress(#[source] PcoError),
}

/// Why bytes are not a readable chunk.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("{what}: needs {needed} bytes, {available} left")]
    Truncated {
        what: &'static str,
        needed: usize,
        available: usize,
    },
    #[error("not a chunk: magic bytes {0:02x?}")]
    BadMagic([u8; 4]),
    #[error("chunk format version {0} is newer than this reader ({FORMAT_VERSION})")]
    UnsupportedVersion(u8),
    #[error("unknown chunk kind {0}")]
    BadKind(u8),
    #[error("expected a {expected:?} chunk, found {found:?}")]
    WrongKind {
        expected: ChunkKind,
        found: ChunkKind,
    },
    #[error("bad precision byte {0:#04x}")]
    BadPrecision(u8),
    #[error("reserved header byte is {0:#04x}, not 0")]
    BadReserved(u8),
    #[error("count {0} is outside 1..={MAX_POINTS}")]
    BadCount(u32),
    #[error("{what}: unknown encoding {encoding:#04x}")]
    BadEncoding { what: &'static str, encoding: u8 },
    #[error("{what}: {source}")]
    Pco {
        what: &'static str,
        #[source]
        source: PcoError,
    },
    #[error("{what}: expected {expected} numbers, found {found}")]
    CountMismatch {
        what: &'static str,
        expected: usize,
        found: usize,
    },
    #[error("timestamps do not match the header or do not strictly increase at index {0}")]
    BadTimestamps(usize),
    #[error("rollup bucket width {0} ms is not positive")]
    BadWidth(i64),
    #[error("{0} trailing bytes after the last section")]
    TrailingBytes(usize),
}

/// Encodes raw samples into a chunk.
///
/// Timestamps must strictly increase (the head buffer sorts and de-duplicates). Values are
/// rounded to `precision` first; with [`Precision::Exact`] they come back bit for bit.
pub fn encode_points(
    timestamps: &[i64],
    values: &[f64],
    precision: Precision,
) -> Result<Vec<u8>, EncodeError> {
    if timestamps.len() != values.len() {
        return Err(EncodeError::LengthMismatch {
            timestamps: timestamps.len(),
            values: values.len(),
        });
    }
    check_precision(precision)?;
    let step = most_common_interval(timestamps);
    let mut out = header(KIND_POINTS, precision, timestamps, step)?;
    write_timestamps(&mut out, timestamps, step)?;
    write_f64_column(&mut out, values, precision)?;
    Ok(out)
}

/// Decodes a chunk written by [`encode_points`].
pub fn decode_points(bytes: &[u8]) -> Result<Points, DecodeError> {
    let (header, mut rest) = parse_header(bytes)?;
    expect_kind(&header, ChunkKind::Points)?;
    let n = header.count as usize;
    let timestamps = read_timestamps(&mut rest, &header)?;
    let values = read_f64_column(&mut rest, n, "values")?;
    no_trailing(rest)?;
    Ok(Points { timestamps, values })
}

/// Encodes rollup buckets of `width_ms` into a chunk. Bucket starts must strictly increase.
///
/// min, max, sum and last are kept at `precision`; a rounded sum can make `sum / count` stray
/// outside `[min, max]` by less than a unit, which [`Bucket::avg`] clamps away.
pub fn encode_buckets(
    buckets: &[Bucket],
    width_ms: i64,
    precision: Precision,
) -> Result<Vec<u8>, EncodeError> {
    if width_ms <= 0 {
        return Err(EncodeError::BadWidth(width_ms));
    }
    check_precision(precision)?;
    let starts: Vec<i64> = buckets.iter().map(|b| b.start_ms).collect();
    let mut out = header(KIND_ROLLUP, precision, &starts, width_ms)?;
    write_timestamps(&mut out, &starts, width_ms)?;
    let counts: Vec<i64> = buckets
        .iter()
        .map(|b| i64::try_from(b.count).unwrap_or(i64::MAX))
        .collect();
    write_i64_column(&mut out, &counts)?;
    for field in [
        |b: &Bucket| b.min,
        |b: &Bucket| b.max,
        |b: &Bucket| b.sum,
        |b: &Bucket| b.last,
    ] {
        let column: Vec<f64> = buckets.iter().map(field).collect();
        write_f64_column(&mut out, &column, precision)?;
    }
    let last_offsets: Vec<i64> = buckets
        .iter()
        .map(|b| b.last_ms.wrapping_sub(b.start_ms))
        .collect();
    write_i64_column(&mut out, &last_offsets)?;
    Ok(out)
}

/// Decodes a chunk written by [`encode_buckets`]; returns the buckets and their width.
pub fn decode_buckets(bytes: &[u8]) -> Result<(Vec<Bucket>, i64), DecodeError> {
    let (header, mut rest) = parse_header(bytes)?;
    expect_kind(&header, ChunkKind::Rollup)?;
    if header.step_ms <= 0 {
        return Err(DecodeError::BadWidth(header.step_ms));
    }
    let n = header.count as usize;
    let starts = read_timestamps(&mut rest, &header)?;
    let counts = read_i64_column(&mut rest, n, "counts")?;
    let min = read_f64_column(&mut rest, n, "min")?;
    let max = read_f64_column(&mut rest, n, "max")?;
    let sum = read_f64_column(&mut rest, n, "sum")?;
    let last = read_f64_column(&mut rest, n, "last")?;
    let last_offsets = read_i64_column(&mut rest, n, "last offsets")?;
    no_trailing(rest)?;
    let buckets = (0..n)
        .map(|i| Bucket {
            start_ms: starts[i],
            count: u64::try_from(counts[i]).unwrap_or(0),
            min: min[i],
            max: max[i],
            sum: sum[i],
            last: last[i],
            last_ms: starts[i].wrapping_add(last_offsets[i]),
        })
        .collect();
    Ok((buckets, header.step_ms))
}

/// Reads and checks the fixed header only.
pub fn read_header(bytes: &[u8]) -> Result<ChunkHeader, DecodeError> {
    parse_header(bytes).map(|(header, _)| header)
}

fn check_precision(precision: Precision) -> Result<(), EncodeError> {
    match precision {
        Precision::Decimals(d) if d > MAX_DECIMALS => Err(EncodeError::BadPrecision(d)),
        _ => Ok(()),
    }
}

/// Validates timestamps and writes the fixed header.
fn header(
    kind: u8,
    precision: Precision,
    timestamps: &[i64],
    step: i64,
) -> Result<Vec<u8>, EncodeError> {
    let (Some(&first), Some(&last)) = (timestamps.first(), timestamps.last()) else {
        return Err(EncodeError::Empty);
    };
    let count = u32::try_from(timestamps.len())
        .ok()
        .filter(|&n| n <= MAX_POINTS)
        .ok_or(EncodeError::TooMany(timestamps.len()))?;
    if let Some(i) = timestamps.windows(2).position(|w| w[0] >= w[1]) {
        return Err(EncodeError::NotIncreasing {
            index: i + 1,
            previous: timestamps[i],
            next: timestamps[i + 1],
        });
    }
    let mut out = Vec::with_capacity(HEADER_LEN + timestamps.len() * 2);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&[FORMAT_VERSION, kind, precision.to_byte(), 0]);
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&first.to_le_bytes());
    out.extend_from_slice(&last.to_le_bytes());
    out.extend_from_slice(&step.to_le_bytes());
    Ok(out)
}

fn parse_header(bytes: &[u8]) -> Result<(ChunkHeader, &[u8]), DecodeError> {
    let mut rest = bytes;
    let fixed = take(&mut rest, HEADER_LEN, "header")?;
    let magic: [u8; 4] = fixed[0..4].try_into().expect("4 bytes");
    if magic != MAGIC {
        return Err(DecodeError::BadMagic(magic));
    }
    let version = fixed[4];
    if version == 0 || version > FORMAT_VERSION {
        return Err(DecodeError::UnsupportedVersion(version));
    }
    let kind = match fixed[5] {
        KIND_POINTS => ChunkKind::Points,
        KIND_ROLLUP => ChunkKind::Rollup,
        other => return Err(DecodeError::BadKind(other)),
    };
    let precision = Precision::from_byte(fixed[6]).ok_or(DecodeError::BadPrecision(fixed[6]))?;
    if fixed[7] != 0 {
        return Err(DecodeError::BadReserved(fixed[7]));
    }
    let count = u32::from_le_bytes(fixed[8..12].try_into().expect("4 bytes"));
    if count == 0 || count > MAX_POINTS {
        return Err(DecodeError::BadCount(count));
    }
    let first_ms = i64::from_le_bytes(fixed[12..20].try_into().expect("8 bytes"));
    let last_ms = i64::from_le_bytes(fixed[20..28].try_into().expect("8 bytes"));
    let step_ms = i64::from_le_bytes(fixed[28..36].try_into().expect("8 bytes"));
    if last_ms < first_ms || (count == 1 && last_ms != first_ms) {
        return Err(DecodeError::BadTimestamps(0));
    }
    let header = ChunkHeader {
        version,
        kind,
        precision,
        count,
        first_ms,
        last_ms,
        step_ms,
    };
    Ok((header, rest))
}

fn expect_kind(header: &ChunkHeader, expected: ChunkKind) -> Result<(), DecodeError> {
    if header.kind == expected {
        Ok(())
    } else {
        Err(DecodeError::WrongKind {
            expected,
            found: header.kind,
        })
    }
}

fn no_trailing(rest: &[u8]) -> Result<(), DecodeError> {
    if rest.is_empty() {
        Ok(())
    } else {
        Err(DecodeError::TrailingBytes(rest.len()))
    }
}

fn take<'a>(
    rest: &mut &'a [u8],
    needed: usize,
    what: &'static str,
) -> Result<&'a [u8], DecodeError> {
    if rest.len() < needed {
        return Err(DecodeError::Truncated {
            what,
            needed,
            available: rest.len(),
        });
    }
    let (head, tail) = rest.split_at(needed);
    *rest = tail;
    Ok(head)
}

/// The interval that occurs most often between consecutive timestamps: the sampling interval
/// of a regular series, whatever its jitter and gaps. Ties go to the smaller interval.
fn most_common_interval(timestamps: &[i64]) -> i64 {
    let mut deltas: Vec<i64> = timestamps
        .windows(2)
        .map(|w| w[1].wrapping_sub(w[0]))
        .collect();
    deltas.sort_unstable();
    let mut best = (0usize, 0i64);
    for run in deltas.chunk_by(|a, b| a == b) {
        if run.len() > best.0 {
            best = (run.len(), run[0]);
        }
    }
    best.1
}

/// The grid predictor shared by encoder and decoder. Each timestamp is predicted as the
/// previous grid point plus `step`. A sample within half a step of its prediction keeps the
/// predictor on the grid (so jitter costs its own size, not the difference of two jitters);
/// anything further (a gap, a changed interval) re-anchors the grid at that sample.
#[derive(Debug)]
struct Grid {
    anchor: i64,
    step: i64,
}

impl Grid {
    fn new(first: i64, step: i64) -> Grid {
        Grid {
            anchor: first,
            step,
        }
    }

    fn predict(&self) -> i64 {
        self.anchor.wrapping_add(self.step)
    }

    /// Moves on past `actual`, which was predicted as `predicted`.
    fn advance(&mut self, predicted: i64, actual: i64) {
        let residual = actual.wrapping_sub(predicted);
        self.anchor = if residual.unsigned_abs() <= self.step.unsigned_abs() / 2 {
            predicted
        } else {
            actual
        };
    }
}

/// Residuals of each timestamp after the first against the [`Grid`]. Wrapping arithmetic keeps
/// any `i64` input invertible.
fn timestamp_residuals(timestamps: &[i64], step: i64) -> Vec<i64> {
    let mut grid = Grid::new(timestamps[0], step);
    timestamps[1..]
        .iter()
        .map(|&actual| {
            let predicted = grid.predict();
            grid.advance(predicted, actual);
            actual.wrapping_sub(predicted)
        })
        .collect()
}

fn write_section<T: Number>(
    out: &mut Vec<u8>,
    encoding: u8,
    numbers: &[T],
) -> Result<(), EncodeError> {
    let length_at = out.len();
    out.extend_from_slice(&[0, 0, 0, 0, encoding]);
    if !numbers.is_empty() {
        simple_compress_into(numbers, &ChunkConfig::default(), &mut *out)
            .map_err(EncodeError::Compress)?;
    }
    let payload = out.len() - length_at - SECTION_HEADER_LEN;
    // Cannot overflow: at most MAX_POINTS numbers of 8 bytes plus pco's small overhead.
    let payload = u32::try_from(payload).expect("section below 4 GiB");
    out[length_at..length_at + 4].copy_from_slice(&payload.to_le_bytes());
    Ok(())
}

fn write_timestamps(out: &mut Vec<u8>, timestamps: &[i64], step: i64) -> Result<(), EncodeError> {
    write_section(out, ENC_TIMESTAMPS, &timestamp_residuals(timestamps, step))
}

fn write_i64_column(out: &mut Vec<u8>, numbers: &[i64]) -> Result<(), EncodeError> {
    write_section(out, ENC_SCALED, numbers)
}

/// Stores values as scaled integers when that is exact for the precision asked (pco compresses
/// integers with deltas and common factors far better than float bits), else as raw `f64`.
fn write_f64_column(
    out: &mut Vec<u8>,
    values: &[f64],
    precision: Precision,
) -> Result<(), EncodeError> {
    let as_scaled: Option<(u8, Vec<i64>)> = match precision {
        // Exact: integral values (counters) are stored as integers, bit for bit. Negative zero
        // is not, since the integer 0 would bring it back positive.
        Precision::Exact => values
            .iter()
            .map(|&v| {
                (v.fract() == 0.0 && v.abs() <= crate::precision::MAX_EXACT_INT)
                    .then_some(v as i64)
                    .filter(|&k| k != 0 || v.is_sign_positive())
            })
            .collect::<Option<Vec<i64>>>()
            .map(|ks| (0, ks)),
        Precision::Decimals(d) => values
            .iter()
            .map(|&v| scaled(v, d))
            .collect::<Option<Vec<i64>>>()
            .map(|ks| (d, ks)),
    };
    match (as_scaled, precision) {
        (Some((d, ks)), _) => write_section(out, ENC_SCALED | d, &ks),
        (None, Precision::Exact) => write_section(out, ENC_F64, values),
        // Some value cannot be scaled (too large, not finite): store f64, but still rounded,
        // so that decoding always gives `precision.quantise(value)`.
        (None, precision) => {
            let rounded: Vec<f64> = values.iter().map(|&v| precision.quantise(v)).collect();
            write_section(out, ENC_F64, &rounded)
        }
    }
}

/// Reads one section's header and payload.
fn read_section<'a>(
    rest: &mut &'a [u8],
    what: &'static str,
) -> Result<(u8, &'a [u8]), DecodeError> {
    let head = take(rest, SECTION_HEADER_LEN, what)?;
    let len = u32::from_le_bytes(head[0..4].try_into().expect("4 bytes")) as usize;
    let payload = take(rest, len, what)?;
    Ok((head[4], payload))
}

/// Decompresses exactly `n` numbers: pco is never asked for more than the header promised, so
/// a corrupt pco header cannot make us allocate more.
fn decompress<T: Number + Default>(
    payload: &[u8],
    n: usize,
    what: &'static str,
) -> Result<Vec<T>, DecodeError> {
    if n == 0 {
        return if payload.is_empty() {
            Ok(Vec::new())
        } else {
            Err(DecodeError::TrailingBytes(payload.len()))
        };
    }
    let mut numbers = vec![T::default(); n];
    let progress = simple_decompress_into(payload, &mut numbers)
        .map_err(|source| DecodeError::Pco { what, source })?;
    if progress.n_processed != n || !progress.finished {
        return Err(DecodeError::CountMismatch {
            what,
            expected: n,
            found: progress.n_processed,
        });
    }
    Ok(numbers)
}

fn read_timestamps(rest: &mut &[u8], header: &ChunkHeader) -> Result<Vec<i64>, DecodeError> {
    let what = "timestamps";
    let (encoding, payload) = read_section(rest, what)?;
    if encoding != ENC_TIMESTAMPS {
        return Err(DecodeError::BadEncoding { what, encoding });
    }
    let n = header.count as usize;
    let residuals: Vec<i64> = decompress(payload, n - 1, what)?;
    let mut timestamps = Vec::with_capacity(n);
    timestamps.push(header.first_ms);
    let mut previous = header.first_ms;
    let mut grid = Grid::new(header.first_ms, header.step_ms);
    for (i, residual) in residuals.into_iter().enumerate() {
        let predicted = grid.predict();
        let next = predicted.wrapping_add(residual);
        grid.advance(predicted, next);
        if next <= previous {
            return Err(DecodeError::BadTimestamps(i + 1));
        }
        timestamps.push(next);
        previous = next;
    }
    if previous != header.last_ms {
        return Err(DecodeError::BadTimestamps(n - 1));
    }
    Ok(timestamps)
}

fn read_i64_column(
    rest: &mut &[u8],
    n: usize,
    what: &'static str,
) -> Result<Vec<i64>, DecodeError> {
    let (encoding, payload) = read_section(rest, what)?;
    if encoding != ENC_SCALED {
        return Err(DecodeError::BadEncoding { what, encoding });
    }
    decompress(payload, n, what)
}

fn read_f64_column(
    rest: &mut &[u8],
    n: usize,
    what: &'static str,
) -> Result<Vec<f64>, DecodeError> {
    let (encoding, payload) = read_section(rest, what)?;
    match encoding {
        ENC_F64 => decompress(payload, n, what),
        e if e & 0xF0 == ENC_SCALED && e & 0x0F <= MAX_DECIMALS => {
            let decimals = e & 0x0F;
            let ks: Vec<i64> = decompress(payload, n, what)?;
            Ok(ks.into_iter().map(|k| unscale(k, decimals)).collect())
        }
        encoding => Err(DecodeError::BadEncoding { what, encoding }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::{self, DAY_MS};

    use proptest::prelude::*;

    fn bytes_per_sample(series: &Points, precision: Precision) -> f64 {
        let bytes = encode_points(&series.timestamps, &series.values, precision).unwrap();
        bytes.len() as f64 / series.len() as f64
    }

    #[test]
    fn exact_points_round_trip_bit_for_bit() {
        let timestamps = [1_000, 11_003, 21_001, 91_000];
        let values = [0.1 + 0.2, -0.0, f64::NAN, 1e300];
        let bytes = encode_points(&timestamps, &values, Precision::Exact).unwrap();
        let decoded = decode_points(&bytes).unwrap();
        assert_eq!(decoded.timestamps, timestamps);
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&decoded.values), bits(&values));
    }

    #[test]
    fn decimals_are_kept_to_the_precision_asked() {
        let bytes = encode_points(&[0, 10_000], &[23.456, 99.999], Precision::PERCENT).unwrap();
        assert_eq!(decode_points(&bytes).unwrap().values, [23.46, 100.0]);
        let bytes = encode_points(&[0, 10_000], &[47.25, 52.04], Precision::CELSIUS).unwrap();
        assert_eq!(decode_points(&bytes).unwrap().values, [47.3, 52.0]);
    }

    #[test]
    fn values_too_large_to_scale_fall_back_to_f64_still_rounded() {
        let values = [1e300, 5.555, f64::INFINITY];
        let bytes = encode_points(&[1, 2, 3], &values, Precision::Decimals(2)).unwrap();
        assert_eq!(
            decode_points(&bytes).unwrap().values,
            [1e300, 5.56, f64::INFINITY]
        );
    }

    #[test]
    fn header_is_readable_without_decoding() {
        let series = synthetic::cpu_pct(1_700_000_000_000, 10_000, 360, 1);
        let bytes = encode_points(&series.timestamps, &series.values, Precision::PERCENT).unwrap();
        let header = read_header(&bytes).unwrap();
        assert_eq!(header.version, 1);
        assert_eq!(header.kind, ChunkKind::Points);
        assert_eq!(header.precision, Precision::PERCENT);
        assert_eq!(header.count, 360);
        assert_eq!(header.first_ms, series.timestamps[0]);
        assert_eq!(header.last_ms, series.timestamps[359]);
        assert_eq!(header.step_ms, 10_000);
    }

    #[test]
    fn rejects_what_it_cannot_encode() {
        assert!(matches!(
            encode_points(&[], &[], Precision::Exact),
            Err(EncodeError::Empty)
        ));
        assert!(matches!(
            encode_points(&[1, 2], &[1.0], Precision::Exact),
            Err(EncodeError::LengthMismatch { .. })
        ));
        assert!(matches!(
            encode_points(&[1, 3, 3], &[1.0; 3], Precision::Exact),
            Err(EncodeError::NotIncreasing {
                index: 2,
                previous: 3,
                next: 3
            })
        ));
        assert!(matches!(
            encode_points(&[1], &[1.0], Precision::Decimals(10)),
            Err(EncodeError::BadPrecision(10))
        ));
    }

    #[test]
    fn rejects_corrupt_headers_with_a_reason() {
        let good = encode_points(&[5, 15, 25], &[1.0, 2.0, 3.0], Precision::Exact).unwrap();
        let with = |at: usize, byte: u8| {
            let mut b = good.clone();
            b[at] = byte;
            decode_points(&b).unwrap_err()
        };
        assert!(matches!(with(0, b'X'), DecodeError::BadMagic(_)));
        assert!(matches!(with(4, 2), DecodeError::UnsupportedVersion(2)));
        assert!(matches!(with(4, 0), DecodeError::UnsupportedVersion(0)));
        assert!(matches!(with(5, 7), DecodeError::BadKind(7)));
        assert!(matches!(with(6, 42), DecodeError::BadPrecision(42)));
        assert!(matches!(with(7, 1), DecodeError::BadReserved(1)));
        assert!(matches!(with(8, 4), DecodeError::CountMismatch { .. }));
        assert!(matches!(with(20, 26), DecodeError::BadTimestamps(_)));
        assert!(matches!(
            decode_points(&good[..good.len() - 1]).unwrap_err(),
            DecodeError::Truncated { .. }
        ));
        let mut longer = good.clone();
        longer.push(0);
        assert!(matches!(
            decode_points(&longer).unwrap_err(),
            DecodeError::TrailingBytes(1)
        ));
        assert!(matches!(
            decode_buckets(&good).unwrap_err(),
            DecodeError::WrongKind { .. }
        ));
        let message = with(4, 9).to_string();
        assert!(message.contains("version 9"), "{message}");
    }

    #[test]
    fn cpu_series_with_jitter_over_seven_days_round_trips() {
        let series = synthetic::cpu_pct(1_700_000_000_000, 10_000, 7 * 8640, 7);
        let bytes = encode_points(&series.timestamps, &series.values, Precision::PERCENT).unwrap();
        let decoded = decode_points(&bytes).unwrap();
        assert_eq!(decoded.timestamps, series.timestamps);
        let expected: Vec<f64> = series
            .values
            .iter()
            .map(|&v| Precision::PERCENT.quantise(v))
            .collect();
        assert_eq!(decoded.values, expected);
        assert!(decoded.values.iter().all(|v| (0.0..=100.0).contains(v)));
    }

    #[test]
    fn counter_with_a_reset_round_trips_exactly() {
        let series = synthetic::byte_counter(1_700_000_000_000, 10_000, 8640, 3);
        let reset = series.values.windows(2).position(|w| w[1] < w[0]);
        assert!(reset.is_some(), "the synthetic counter resets once");
        let bytes = encode_points(&series.timestamps, &series.values, Precision::Exact).unwrap();
        assert_eq!(decode_points(&bytes).unwrap().values, series.values);
    }

    #[test]
    fn series_with_gaps_round_trips() {
        let series = synthetic::with_gaps(
            synthetic::temperature_c(0, 10_000, 8640, 5),
            &[(100, 360), (4000, 2), (7000, 1000)],
        );
        assert!(series.len() < 8640 - 1300);
        let bytes = encode_points(&series.timestamps, &series.values, Precision::CELSIUS).unwrap();
        let decoded = decode_points(&bytes).unwrap();
        assert_eq!(decoded.timestamps, series.timestamps);
        assert_eq!(read_header(&bytes).unwrap().step_ms, 10_000);
    }

    /// Bytes per sample of a day of `series` cut by a head with `span_ms` chunks.
    fn head_bytes_per_sample(series: &Points, precision: Precision, span_ms: i64) -> f64 {
        let mut head = crate::head::Head::new(crate::head::HeadConfig {
            chunk_span_ms: span_ms,
            ..crate::head::HeadConfig::new(precision)
        });
        for (&ts, &v) in series.timestamps.iter().zip(&series.values) {
            head.append(ts, v).unwrap();
        }
        let bytes: usize = head.flush().unwrap().iter().map(Vec::len).sum();
        bytes as f64 / series.len() as f64
    }

    /// The hub's target: at most 2 bytes per sample after compaction. Sizes are deterministic
    /// (fixed seeds), so these are size assertions, not timing ones.
    #[test]
    fn a_day_at_ten_seconds_fits_two_bytes_per_sample() {
        let start = 1_700_006_400_000; // a UTC midnight
        let cpu = synthetic::cpu_pct(start, 10_000, 8640, 11);
        let temperature = synthetic::temperature_c(start, 10_000, 8640, 13);
        for span in [DAY_MS, 6 * 3_600_000] {
            let cpu_bps = head_bytes_per_sample(&cpu, Precision::PERCENT, span);
            assert!(
                cpu_bps <= 2.0,
                "CPU %, {span} ms chunks: {cpu_bps:.3} bytes/sample"
            );
            let t_bps = head_bytes_per_sample(&temperature, Precision::CELSIUS, span);
            assert!(
                t_bps <= 2.0,
                "temperature, {span} ms chunks: {t_bps:.3} bytes/sample"
            );
        }
    }

    /// An exact byte counter cannot meet 2 bytes/sample when its traffic is noisy: what is left
    /// after delta coding is the noise of each 10 s increment, and for this series (2–8 KB/s,
    /// ±30 %: σ ≈ 6–24 KB) that alone is log2(σ·√(2πe)) ≈ 14.6–16.6 bits. pco gets within a few
    /// percent of that; the bound here guards against regressions, not the 2-byte target.
    #[test]
    fn an_exact_byte_counter_costs_its_noise() {
        let counter = synthetic::byte_counter(1_700_006_400_000, 10_000, 8640, 12);
        let day = bytes_per_sample(&counter, Precision::Exact);
        assert!(
            day <= 2.45,
            "byte counter, one chunk: {day:.3} bytes/sample"
        );
        let mut values = Vec::new();
        write_f64_column(&mut values, &counter.values, Precision::Exact).unwrap();
        let values_only = values.len() as f64 / counter.len() as f64;
        assert!(
            values_only > 1.8,
            "cheaper than the noise floor? {values_only:.3}"
        );
        let mut timestamps = Vec::new();
        write_timestamps(&mut timestamps, &counter.timestamps, 10_000).unwrap();
        let timestamps_only = timestamps.len() as f64 / counter.len() as f64;
        assert!(
            timestamps_only < 0.32,
            "0–4 ms jitter costs {timestamps_only:.3} bytes/sample"
        );
    }

    fn increasing_timestamps() -> impl Strategy<Value = Vec<i64>> {
        (
            any::<i64>(),
            prop::collection::vec(
                prop_oneof![
                    4 => 9_990i64..10_010,
                    1 => 1i64..1_000_000_000,
                ],
                0..300,
            ),
        )
            .prop_map(|(start, deltas)| {
                let start = start / 4; // room for the deltas
                let mut ts = vec![start];
                for d in deltas {
                    ts.push(ts[ts.len() - 1] + d);
                }
                ts
            })
    }

    proptest! {
        #[test]
        fn exact_decode_of_encode_is_identity(
            (timestamps, values) in increasing_timestamps().prop_flat_map(|ts| {
                let n = ts.len();
                (Just(ts), prop::collection::vec(any::<f64>(), n))
            })
        ) {
            let bytes = encode_points(&timestamps, &values, Precision::Exact).unwrap();
            let decoded = decode_points(&bytes).unwrap();
            prop_assert_eq!(decoded.timestamps, timestamps);
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            prop_assert_eq!(bits(&decoded.values), bits(&values));
        }

        #[test]
        fn integral_counters_round_trip_exactly(
            (timestamps, values) in increasing_timestamps().prop_flat_map(|ts| {
                let n = ts.len();
                (Just(ts), prop::collection::vec((0u64..1 << 53).prop_map(|v| v as f64), n))
            })
        ) {
            let bytes = encode_points(&timestamps, &values, Precision::Exact).unwrap();
            prop_assert_eq!(decode_points(&bytes).unwrap().values, values);
        }

        #[test]
        fn decimals_decode_to_the_quantised_values(
            d in 0u8..=MAX_DECIMALS,
            (timestamps, values) in increasing_timestamps().prop_flat_map(|ts| {
                let n = ts.len();
                // Mostly gauges; now and then a value that cannot be scaled (huge, NaN, inf).
                let value = prop_oneof![20 => -1e6f64..1e6, 1 => any::<f64>()];
                (Just(ts), prop::collection::vec(value, n))
            })
        ) {
            let precision = Precision::Decimals(d);
            let bytes = encode_points(&timestamps, &values, precision).unwrap();
            let decoded = decode_points(&bytes).unwrap();
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            let expected: Vec<f64> = values.iter().map(|&v| precision.quantise(v)).collect();
            prop_assert_eq!(bits(&decoded.values), bits(&expected));
            // Encoding decoded values again changes nothing.
            let again = encode_points(&timestamps, &decoded.values, precision).unwrap();
            prop_assert_eq!(again, bytes);
        }

        #[test]
        fn buckets_round_trip(
            width in prop_oneof![Just(60_000i64), Just(3_600_000i64), 1i64..100_000],
            raw in prop::collection::vec((0i64..50, 1u64..100, -1e9f64..1e9, -1e9f64..1e9, any::<f64>(), 0i64..1000), 1..200),
        ) {
            let mut start = 1_700_000_000_000 / width * width;
            let buckets: Vec<Bucket> = raw.into_iter().map(|(skip, count, a, b, sum, offset)| {
                start += (skip + 1) * width;
                Bucket {
                    start_ms: start,
                    count,
                    min: a.min(b),
                    max: a.max(b),
                    sum,
                    last: a,
                    last_ms: start + offset % width,
                }
            }).collect();
            let bytes = encode_buckets(&buckets, width, Precision::Exact).unwrap();
            let (decoded, decoded_width) = decode_buckets(&bytes).unwrap();
            prop_assert_eq!(decoded_width, width);
            prop_assert_eq!(decoded.len(), buckets.len());
            for (d, b) in decoded.iter().zip(&buckets) {
                prop_assert_eq!(d.start_ms, b.start_ms);
                prop_assert_eq!(d.count, b.count);
                prop_assert_eq!(d.min.to_bits(), b.min.to_bits());
                prop_assert_eq!(d.max.to_bits(), b.max.to_bits());
                prop_assert_eq!(d.sum.to_bits(), b.sum.to_bits());
                prop_assert_eq!(d.last.to_bits(), b.last.to_bits());
                prop_assert_eq!(d.last_ms, b.last_ms);
            }
        }

        /// Arbitrary bytes, and valid chunks with bytes flipped, cut or appended: decoding returns
        /// an error or a value, never panics. (The fuzz target `decode_chunk` digs deeper.)
        #[test]
        fn decoding_garbage_never_panics(
            garbage in prop::collection::vec(any::<u8>(), 0..200),
            flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
            cut in any::<prop::sample::Index>(),
        ) {
            let _ = decode_points(&garbage);
            let _ = decode_buckets(&garbage);
            let mut prefixed = MAGIC.to_vec();
            prefixed.push(FORMAT_VERSION);
            prefixed.extend_from_slice(&garbage);
            let _ = decode_points(&prefixed);
            let _ = decode_buckets(&prefixed);

            let series = synthetic::cpu_pct(1_700_000_000_000, 10_000, 300, 9);
            let good = encode_points(&series.timestamps, &series.values, Precision::PERCENT).unwrap();
            let mut bad = good.clone();
            for (at, byte) in &flips {
                let i = at.index(bad.len());
                bad[i] ^= byte | 1;
            }
            let _ = decode_points(&bad);
            let _ = decode_points(&good[..cut.index(good.len())]);
        }
    }
}
