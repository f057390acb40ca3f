//! Which latencies a job records and reports: fio's `disable_slat`, `disable_clat`,
//! `disable_lat`, `gtod_reduce`, `clat_percentiles`, `lat_percentiles` and `percentile_list`.

use serde::{Deserialize, Serialize};

use crate::Percentiles;

/// fio's latency switches of one job (`struct thread_options`: `disable_*`,
/// `*_percentiles`, `percentile_list`), with fio's defaults and its rule that a disabled
/// latency has no percentiles (`fixup_options`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Latencies {
    /// Submission latency (queued I/Os): not `disable_slat`.
    pub slat: bool,
    /// Completion latency: not `disable_clat`.
    pub clat: bool,
    /// Total latency: not `disable_lat`.
    pub lat: bool,
    /// `clat_percentiles` (fio's default on).
    pub clat_percentiles: bool,
    /// `lat_percentiles` (fio's default off).
    pub lat_percentiles: bool,
    /// `percentile_list`.
    pub percentile_list: Percentiles,
}

impl Default for Latencies {
    fn default() -> Self {
        Latencies {
            slat: true,
            clat: true,
            lat: true,
            clat_percentiles: true,
            lat_percentiles: false,
            percentile_list: Percentiles::default(),
        }
    }
}

impl Latencies {
    /// `gtod_reduce`: no latency at all (fio's `str_gtod_reduce_cb`), only I/O counts and
    /// bandwidth.
    pub fn gtod_reduce(&mut self) {
        self.slat = false;
        self.clat = false;
        self.lat = false;
        self.clat_percentiles = false;
        self.lat_percentiles = false;
    }

    /// Whether the percentiles reported are of clat (`clat_percentiles` without
    /// `lat_percentiles`, the latency enabled), of lat, or of neither (`None`); fio prints
    /// lat's when both are asked.
    pub fn percentiles_of(&self) -> Option<LatencyKind> {
        if self.lat_percentiles && self.lat {
            Some(LatencyKind::Lat)
        } else if self.clat_percentiles && self.clat {
            Some(LatencyKind::Clat)
        } else {
            None
        }
    }
}

/// One of fio's three latencies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LatencyKind {
    /// Issue to submission.
    Slat,
    /// Submission to completion.
    Clat,
    /// Issue to completion.
    Lat,
}

impl LatencyKind {
    /// fio's name for it.
    pub fn name(self) -> &'static str {
        match self {
            LatencyKind::Slat => "slat",
            LatencyKind::Clat => "clat",
            LatencyKind::Lat => "lat",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_follow_fio_rules() {
        let mut l = Latencies::default();
        assert_eq!(l.percentiles_of(), Some(LatencyKind::Clat));
        l.lat_percentiles = true;
        assert_eq!(l.percentiles_of(), Some(LatencyKind::Lat));
        l.lat = false;
        assert_eq!(l.percentiles_of(), Some(LatencyKind::Clat), "disable_lat drops lat_percentiles");
        l.gtod_reduce();
        assert_eq!(l.percentiles_of(), None);
    }
}
