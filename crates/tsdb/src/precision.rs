//! How precisely a series' values are kept.
//!
//! A gauge read as `23.456789 %` is not known to that many digits: CPU percentages come from
//! jiffy counts, temperatures from sensors with 0.1–1 °C steps. Rounding such values to the
//! precision they really have before compression costs nothing real and saves most of the bytes,
//! because the noise below that precision is what compresses worst. Counters are different: every
//! unit counts, so they are kept [`Precision::Exact`].

/// The most decimals [`Precision::Decimals`] accepts. Nine scales values up to about ±1.1·10⁶
/// (|v|·10⁹ ≤ 2⁵⁰, see [`MAX_SCALED`]); larger values fall back to exact `f64` storage.
pub const MAX_DECIMALS: u8 = 9;

/// Largest integer magnitude an `f64` holds exactly (2⁵³).
pub(crate) const MAX_EXACT_INT: f64 = 9_007_199_254_740_992.0;

/// The precision a series is stored at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Precision {
    /// Every `f64` comes back bit for bit (counters, anything whose last digit matters).
    Exact,
    /// Values are rounded to this many decimals before encoding: lossy to that precision only,
    /// i.e. a decoded value differs from the original by at most half a unit in the last kept
    /// decimal (plus the `f64` rounding of that decimal number).
    Decimals(u8),
}

impl Precision {
    /// Percentages (`*_pct`): two decimals, finer than the jiffy resolution of a 10 s sample.
    pub const PERCENT: Precision = Precision::Decimals(2);
    /// Temperatures in °C: one decimal, the resolution of most hwmon sensors or better.
    pub const CELSIUS: Precision = Precision::Decimals(1);
    /// Integers that are gauges (bytes used, process counts): no decimals.
    pub const WHOLE: Precision = Precision::Decimals(0);

    /// Rounds `value` to this precision, the way the chunk encoder does.
    ///
    /// Exact precision, non-finite values and values too large for the scaled-integer encoding
    /// are returned unchanged.
    pub fn quantise(self, value: f64) -> f64 {
        match self {
            Precision::Exact => value,
            Precision::Decimals(decimals) => match scaled(value, decimals) {
                Some(k) => unscale(k, decimals),
                None => value,
            },
        }
    }

    /// The header byte: `0xFF` for exact, else the number of decimals.
    pub(crate) fn to_byte(self) -> u8 {
        match self {
            Precision::Exact => 0xFF,
            Precision::Decimals(d) => d,
        }
    }

    pub(crate) fn from_byte(byte: u8) -> Option<Precision> {
        match byte {
            0xFF => Some(Precision::Exact),
            d if d <= MAX_DECIMALS => Some(Precision::Decimals(d)),
            _ => None,
        }
    }
}

/// `10^decimals` as an `f64` (exact for every allowed number of decimals).
pub(crate) fn scale_factor(decimals: u8) -> f64 {
    10f64.powi(i32::from(decimals))
}

/// The largest count of units a value is scaled to. `unscale` then `scaled` must give the same
/// count back (quantising twice changes nothing, so a chunk re-encoded from its decoded values
/// is the same chunk): the division and the multiplication each round once, an error of at
/// most `|k|·2⁻⁵²` together, under half a unit only while `|k| ≤ 2⁵⁰`. Above, between 2⁵¹ and
/// 2⁵³, `f64`s are half a unit apart or more and a count could come back one off
/// (40946533390.680916 at 5 decimals did).
const MAX_SCALED: f64 = (1u64 << 50) as f64;

/// `value` as an integer count of `10^-decimals` units, or `None` when it is not finite or too
/// large for the count to survive a round trip (see [`MAX_SCALED`]); such values are kept as
/// they are.
pub(crate) fn scaled(value: f64, decimals: u8) -> Option<i64> {
    let k = (value * scale_factor(decimals)).round();
    // The cast is exact: k is an integer within ±2⁵⁰.
    (k.is_finite() && k.abs() <= MAX_SCALED).then_some(k as i64)
}

/// The inverse of [`scaled`]: dividing by a power of ten that `f64` holds exactly gives the
/// `f64` nearest to the decimal number `k·10^-decimals`.
pub(crate) fn unscale(k: i64, decimals: u8) -> f64 {
    k as f64 / scale_factor(decimals)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rounds_to_the_given_decimals() {
        assert_eq!(Precision::PERCENT.quantise(23.456_789), 23.46);
        assert_eq!(Precision::CELSIUS.quantise(47.25), 47.3);
        assert_eq!(Precision::CELSIUS.quantise(-3.04), -3.0);
        assert_eq!(Precision::WHOLE.quantise(1234.5), 1235.0);
        assert_eq!(Precision::Exact.quantise(0.1 + 0.2), 0.1 + 0.2);
    }

    #[test]
    fn leaves_what_it_cannot_scale_alone() {
        assert!(Precision::PERCENT.quantise(f64::NAN).is_nan());
        assert_eq!(Precision::PERCENT.quantise(f64::INFINITY), f64::INFINITY);
        assert_eq!(Precision::Decimals(9).quantise(1e10), 1e10);
    }

    #[test]
    fn a_count_near_the_limit_survives_quantising_twice() {
        // At 5 decimals this was a count of 4,094,653,339,068,092 units, where f64s are half a
        // unit apart: quantising again gave one unit less.
        let p = Precision::Decimals(5);
        let once = p.quantise(40_946_533_390.680_916);
        assert_eq!(p.quantise(once).to_bits(), once.to_bits());
        assert_eq!(scaled(1.0e15, 0), Some(1_000_000_000_000_000));
        assert_eq!(scaled(1.2e15, 0), None, "past 2^50 units: kept as it is");
    }

    #[test]
    fn header_byte_round_trips() {
        for p in [
            Precision::Exact,
            Precision::Decimals(0),
            Precision::Decimals(9),
        ] {
            assert_eq!(Precision::from_byte(p.to_byte()), Some(p));
        }
        assert_eq!(Precision::from_byte(10), None);
        assert_eq!(Precision::from_byte(0xFE), None);
    }

    proptest! {
        #[test]
        fn quantising_is_idempotent(
            v in prop_oneof![-1e6f64..1e6, any::<f64>(), -1e16f64..1e16],
            d in 0u8..=MAX_DECIMALS,
        ) {
            let p = Precision::Decimals(d);
            let once = p.quantise(v);
            prop_assert_eq!(p.quantise(once).to_bits(), once.to_bits());
        }

        #[test]
        fn quantising_loses_at_most_half_a_unit(v in -1e6f64..1e6, d in 0u8..=6) {
            let q = Precision::Decimals(d).quantise(v);
            let unit = 10f64.powi(-i32::from(d));
            // Half a unit, plus the f64 rounding of v·10^d and of the division back.
            let slack = (v.abs() + 1.0) * 1e-15;
            prop_assert!((q - v).abs() <= unit / 2.0 + slack, "{v} -> {q} at {d} decimals");
        }
    }
}
