//! The accounting intervals of a measurement: what the interval logs (`.hlog`), `throughput.csv`
//! and the over-time charts are made of.
//!
//! A measurement of `runtime_ns` is cut into one-second intervals from its start. Its end rarely
//! falls on a second: the tail after the last whole second is an interval of its own when it is
//! at least half a second long, and otherwise joins the second before it (so the last interval
//! is between 0.5 s and 1.5 s long, or the whole run when that is shorter than a second). Every
//! interval carries its true length, none is empty, and a rate computed over any of them is
//! over at least half a second: a run's last few microseconds never show as a cliff to zero
//! (or a spike) in a per-interval rate.

use hdrhistogram::Histogram;

use crate::recorder::{INTERVAL_NS, IntervalSample, OpRecord, new_histogram};

/// One interval: `[start_ns, start_ns + len_ns)` of the measurement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// Start, in nanoseconds since the measurement began (a whole number of seconds).
    pub start_ns: u64,
    /// Length in nanoseconds; never 0.
    pub len_ns: u64,
}

impl Span {
    /// The second the interval starts at (its index).
    pub fn second(&self) -> u64 {
        self.start_ns / INTERVAL_NS
    }

    /// End, in nanoseconds since the measurement began.
    pub fn end_ns(&self) -> u64 {
        self.start_ns + self.len_ns
    }
}

/// The intervals of a measurement of `runtime_ns` (at least one; a zero runtime counts as 1 ns).
pub fn spans(runtime_ns: u64) -> Vec<Span> {
    let runtime_ns = runtime_ns.max(1);
    let whole = runtime_ns / INTERVAL_NS;
    let tail = runtime_ns % INTERVAL_NS;
    let mut out: Vec<Span> = (0..whole).map(|s| Span { start_ns: s * INTERVAL_NS, len_ns: INTERVAL_NS }).collect();
    match out.last_mut() {
        None => out.push(Span { start_ns: 0, len_ns: runtime_ns }),
        Some(_) if tail == 0 => {}
        Some(last) if tail < INTERVAL_NS / 2 => last.len_ns += tail,
        Some(_) => out.push(Span { start_ns: whole * INTERVAL_NS, len_ns: tail }),
    }
    out
}

/// The samples of one op kind that fall in one interval.
#[derive(Debug, Clone)]
pub struct SpanSamples<'a> {
    /// The interval.
    pub span: Span,
    /// The per-second samples in it (none for an interval without ops; two when a short tail
    /// joined the second before it).
    pub samples: Vec<&'a IntervalSample>,
}

impl SpanSamples<'_> {
    /// Ops completed in the interval.
    pub fn ops(&self) -> u64 {
        self.samples.iter().map(|s| s.ops).sum()
    }

    /// Bytes moved in the interval.
    pub fn bytes(&self) -> u64 {
        self.samples.iter().map(|s| s.bytes).sum()
    }

    /// The interval's latencies.
    pub fn histogram(&self) -> Histogram<u64> {
        let mut h = new_histogram();
        for s in &self.samples {
            for &(value, count) in &s.latencies {
                h.saturating_record_n(value, count);
            }
        }
        h
    }
}

/// `record`'s samples grouped by the intervals of a measurement of `runtime_ns`: one entry per
/// interval, in order. A sample past the end (an op completing after the measured runtime was
/// taken) counts in the last interval.
pub fn by_span(record: &OpRecord, runtime_ns: u64) -> Vec<SpanSamples<'_>> {
    let spans = spans(runtime_ns);
    let last = spans.len() - 1;
    let mut out: Vec<SpanSamples<'_>> =
        spans.into_iter().map(|span| SpanSamples { span, samples: Vec::new() }).collect();
    for sample in &record.intervals {
        let index = usize::try_from(sample.second).unwrap_or(usize::MAX).min(last);
        out[index].samples.push(sample);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recorder::OpRecorder;

    const S: u64 = INTERVAL_NS;

    fn lens(runtime_ns: u64) -> Vec<(u64, u64)> {
        spans(runtime_ns).iter().map(|s| (s.start_ns, s.len_ns)).collect()
    }

    #[test]
    fn a_short_tail_joins_the_second_before_it() {
        assert_eq!(lens(3 * S), [(0, S), (S, S), (2 * S, S)]);
        assert_eq!(lens(3 * S + 300), [(0, S), (S, S), (2 * S, S + 300)]);
        assert_eq!(lens(3 * S + S / 2 - 1), [(0, S), (S, S), (2 * S, S + S / 2 - 1)]);
        assert_eq!(lens(3 * S + S / 2), [(0, S), (S, S), (2 * S, S), (3 * S, S / 2)]);
        assert_eq!(lens(S + 1), [(0, S + 1)]);
    }

    #[test]
    fn a_run_under_a_second_is_one_interval_of_its_length() {
        assert_eq!(lens(250_000), [(0, 250_000)]);
        assert_eq!(lens(0), [(0, 1)]);
        for runtime in [1, 999, S - 1, S, S + 1, 7 * S / 2, 1234 * S + 5] {
            let spans = spans(runtime);
            assert!(spans.iter().all(|s| s.len_ns > 0), "{runtime}");
            assert_eq!(spans.last().unwrap().end_ns(), runtime, "{runtime}");
        }
    }

    #[test]
    fn samples_of_a_folded_tail_count_in_the_last_interval() {
        let mut r = OpRecorder::new();
        r.record(10, 5, 1);
        r.record(S + 10, 6, 1);
        r.record(2 * S + 10, 7, 1);
        let rec = r.finish();
        let groups = by_span(&rec, 2 * S + 20);
        let shape: Vec<_> = groups.iter().map(|g| (g.span.second(), g.ops(), g.histogram().max())).collect();
        assert_eq!(shape, [(0, 1, 5), (1, 2, 7)]);
    }
}
