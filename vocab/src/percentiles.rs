//! Latency percentiles: fio's `percentile_list`.

use std::fmt;
use std::str::FromStr;

use crate::error::ValueError;

/// fio's default `percentile_list`.
pub const FIO_PERCENTILES: [f64; 17] =
    [1.0, 5.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 95.0, 99.0, 99.5, 99.9, 99.95, 99.99];

/// The most entries fio takes in a `percentile_list` (`FIO_IO_U_LIST_MAX_LEN`).
pub const MAX_PERCENTILES: usize = 20;

/// Which latency percentiles to report, in increasing order without repeats (fio sorts the
/// list too). Reads and prints `p1:p2:...` (`50:99:99.9`), each above 0 and at most 100.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "Vec<f64>", into = "Vec<f64>")]
pub struct Percentiles(Vec<f64>);

impl TryFrom<Vec<f64>> for Percentiles {
    type Error = String;
    fn try_from(v: Vec<f64>) -> Result<Self, String> {
        Percentiles::new(&v).ok_or_else(|| format!("not a percentile list: {v:?}"))
    }
}

impl From<Percentiles> for Vec<f64> {
    fn from(p: Percentiles) -> Vec<f64> {
        p.0
    }
}

impl Percentiles {
    /// The percentiles, in increasing order.
    pub fn as_slice(&self) -> &[f64] {
        &self.0
    }

    /// A list of `values`, sorted and without repeats; `None` if one is out of (0, 100] or
    /// there are none or too many.
    pub fn new(values: &[f64]) -> Option<Percentiles> {
        let mut v: Vec<f64> = values.to_vec();
        if v.is_empty() || v.len() > MAX_PERCENTILES || v.iter().any(|p| !(*p > 0.0 && *p <= 100.0)) {
            return None;
        }
        v.sort_by(f64::total_cmp);
        v.dedup();
        Some(Percentiles(v))
    }
}

impl Default for Percentiles {
    /// fio's default list ([`FIO_PERCENTILES`]).
    fn default() -> Self {
        Percentiles(FIO_PERCENTILES.to_vec())
    }
}

impl FromStr for Percentiles {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, ValueError> {
        let expected = || {
            ValueError::new(format!(
                "expected up to {MAX_PERCENTILES} percentiles above 0 and up to 100 joined by ':', such as 50:99:99.9"
            ))
        };
        let values: Vec<f64> =
            s.split(':').map(|p| p.trim().parse::<f64>().map_err(|_| expected())).collect::<Result<_, _>>()?;
        Percentiles::new(&values).ok_or_else(expected)
    }
}

impl fmt::Display for Percentiles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

/// The quantile (0–1) of a percentile (0–100) such as `99.9`, rounded to the double nearest
/// the decimal, so that `99.9` gives exactly `0.999` (and `ceil(0.999 × 1000)` is 999, not 1000).
pub fn quantile_of(percentile: f64) -> f64 {
    (percentile * 1e6).round() / 1e8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_sort_and_print_back() {
        let p: Percentiles = "99.9:50:99:50".parse().unwrap();
        assert_eq!(p.as_slice(), [50.0, 99.0, 99.9]);
        assert_eq!(p.to_string(), "50:99:99.9");
        assert_eq!(p.to_string().parse::<Percentiles>(), Ok(p));
        assert_eq!(Percentiles::default().as_slice(), FIO_PERCENTILES);
        for bad in ["", "0", "101", "50:x", "nan", &["1"; 21].join(":")] {
            assert!(bad.parse::<Percentiles>().is_err(), "{bad}");
        }
        assert_eq!(quantile_of(99.9), 0.999);
    }
}
