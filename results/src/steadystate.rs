//! What fio's steady-state detection found for one report (its `thread_stat`'s `ss_*`
//! fields): the criterion and limit, whether steady state was attained, the last value judged,
//! and the window's samples — fio.json's `steadystate` object (`stat.c`, `show_thread_status_json`)
//! and fio's `steadystate  :` text line (`show_ss_normal`).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::units;

/// One report's steady-state outcome.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SteadyStateStats {
    /// fio's criterion name: `iops`, `iops_slope`, `bw`, `bw_slope`, `lat`, `lat_slope`.
    pub criterion_name: String,
    /// The limit: percent of the window's mean when `percent`, else in the metric's unit
    /// (I/Os per second, bytes per second, ns).
    pub limit: f64,
    /// The limit and the criterion are percentages of the mean (fio's `FIO_SS_PCT`).
    pub percent: bool,
    /// The window, whole seconds (fio's `ss_dur`).
    pub duration_s: u64,
    /// The criterion fell under the limit: the jobs ended there.
    pub attained: bool,
    /// The last value judged: the largest deviation from the mean, or the slope (signed; its
    /// size is what is compared), in percent of the mean when `percent`.
    pub criterion: f64,
    /// The largest distance of a sample from the window's mean (deviation criteria; else 0).
    pub max_deviation: f64,
    /// The least-squares slope of the samples per interval (slope criteria; else 0).
    pub slope: f64,
    /// I/Os per second of each sample, oldest first; zeros for the samples not taken yet.
    pub iops: Vec<u64>,
    /// Bytes per second of each sample, as `iops`.
    pub bw: Vec<u64>,
    /// Mean completion latency of each sample, ns, as `iops`.
    pub lat_ns: Vec<u64>,
}

impl SteadyStateStats {
    /// Whether the criterion watches latency (fio then reports the latency samples too).
    pub fn is_lat(&self) -> bool {
        self.criterion_name.starts_with("lat")
    }

    /// fio's `"ss"`: `iops:10.000000%` (the limit printed as a C float).
    pub fn ss_text(&self) -> String {
        format!("{}:{:.6}{}", self.criterion_name, f64::from(self.limit as f32), self.pct())
    }

    fn pct(&self) -> &'static str {
        if self.percent { "%" } else { "" }
    }

    /// fio.json's `steadystate` object.
    pub fn fio_json(&self) -> Value {
        let mut data = serde_json::Map::new();
        data.insert("bw_mean".into(), json!(data_mean(&self.bw)));
        data.insert("iops_mean".into(), json!(data_mean(&self.iops)));
        if self.is_lat() {
            data.insert("lat_mean".into(), json!(data_mean(&self.lat_ns)));
            data.insert("lat_ns".into(), json!(self.lat_ns));
        }
        data.insert("iops".into(), json!(self.iops));
        data.insert("bw".into(), json!(self.bw));
        json!({
            "ss": self.ss_text(),
            "duration": self.duration_s,
            "attained": u8::from(self.attained),
            "criterion": format!("{:.6}{}", f64::from(self.criterion as f32), self.pct()),
            "max_deviation": self.max_deviation,
            "slope": self.slope,
            "data": data,
        })
    }

    /// fio's text line: `attained=yes, bw=20.8 GiB/s, iops=5.46M, iops mean dev=16.353%`.
    pub fn line(&self) -> String {
        let lat = if self.is_lat() {
            format!(", lat={}", units::latency(data_mean(&self.lat_ns) as f64))
        } else {
            String::new()
        };
        let metric = self.criterion_name.trim_end_matches("_slope");
        let how = if self.criterion_name.ends_with("_slope") { "slope" } else { "mean dev" };
        format!(
            "attained={}, bw={}/s, iops={}{lat}, {metric} {how}={:.3}{}",
            if self.attained { "yes" } else { "no" },
            units::iec_bytes(data_mean(&self.bw) as f64),
            units::si(data_mean(&self.iops) as f64),
            self.criterion,
            self.pct()
        )
    }
}

/// The mean of a window's samples, the samples not taken yet counting as zeros, in whole
/// units (fio's `steadystate_data_mean`).
fn data_mean(data: &[u64]) -> u64 {
    if data.is_empty() {
        return 0;
    }
    data.iter().sum::<u64>() / data.len() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fio_json_is_fios() {
        let s = SteadyStateStats {
            criterion_name: "iops".into(),
            limit: 50.0,
            percent: true,
            duration_s: 2,
            attained: true,
            criterion: 4.146852,
            max_deviation: 193055.5,
            slope: 0.0,
            iops: vec![4462415, 4848526],
            bw: vec![18278053541, 19859562496],
            lat_ns: vec![200, 210],
        };
        // fio 3.33's own output for these samples (ioengine=null, ss=iops:50%, ss_dur=2).
        let fio = json!({
            "ss": "iops:50.000000%",
            "duration": 2,
            "attained": 1,
            "criterion": "4.146852%",
            "max_deviation": 193055.5,
            "slope": 0.0,
            "data": {"bw_mean": 19068808018u64, "iops_mean": 4655470, "iops": [4462415, 4848526],
                     "bw": [18278053541u64, 19859562496u64]},
        });
        assert_eq!(s.fio_json(), fio);
        assert_eq!(s.line(), "attained=yes, bw=17.8 GiB/s, iops=4.66M, iops mean dev=4.147%");
        let lat = SteadyStateStats { criterion_name: "lat_slope".into(), percent: false, limit: 0.01, ..s };
        let j = lat.fio_json();
        assert_eq!(j["ss"], "lat_slope:0.010000");
        assert_eq!(j["data"]["lat_ns"], json!([200, 210]));
        assert_eq!(j["data"]["lat_mean"], 205);
        assert!(lat.line().contains(", lat=205ns, lat slope=4.147"), "{}", lat.line());
    }
}
