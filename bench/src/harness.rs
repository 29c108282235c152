//! Interleaved runs: every variant of a case is calibrated once, then run A B C A B C ...
//! so that drift on a shared machine touches every variant alike.

use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug)]
pub struct Settings {
    pub runs: usize,
    pub run_time: Duration,
}

/// Median, minimum and maximum of a set of runs.
#[derive(Clone, Debug)]
pub struct Summary {
    pub name: String,
    /// One figure per run (ns per operation, or ns of latency).
    pub runs: Vec<f64>,
}

impl Summary {
    pub fn median(&self) -> f64 {
        median(&self.runs)
    }
    pub fn min(&self) -> f64 {
        self.runs.iter().copied().fold(f64::INFINITY, f64::min)
    }
    pub fn max(&self) -> f64 {
        self.runs.iter().copied().fold(f64::NEG_INFINITY, f64::max)
    }
}

pub fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// The `q` quantile (0..=1) of samples, nearest rank.
pub fn quantile(sorted: &[u64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1] as f64
}

/// A throughput variant: `run(n)` does `n` operations and returns the time they took.
pub struct Variant<'a> {
    pub name: String,
    pub run: Box<dyn FnMut(u64) -> Duration + 'a>,
}

impl<'a> Variant<'a> {
    pub fn new(name: impl Into<String>, run: impl FnMut(u64) -> Duration + 'a) -> Variant<'a> {
        Variant { name: name.into(), run: Box::new(run) }
    }
}

/// Time `n` calls of `op` on this thread.
pub fn timed(n: u64, mut op: impl FnMut()) -> Duration {
    let start = Instant::now();
    for _ in 0..n {
        op();
    }
    start.elapsed()
}

/// The operation count that makes one run last about `target`; the calibration runs double as
/// warm-up.
fn calibrate(run: &mut dyn FnMut(u64) -> Duration, target: Duration) -> u64 {
    let mut n = 8u64;
    loop {
        let took = run(n).max(Duration::from_nanos(1));
        if took >= target / 8 || n >= 1 << 34 {
            return ((n as f64 * target.as_secs_f64() / took.as_secs_f64()).ceil() as u64).max(1);
        }
        n *= 4;
    }
}

/// Run every variant `settings.runs` times, interleaved; figures are ns per operation.
pub fn measure(settings: Settings, mut variants: Vec<Variant<'_>>) -> Vec<Summary> {
    let counts: Vec<u64> = variants.iter_mut().map(|v| calibrate(&mut v.run, settings.run_time)).collect();
    let mut out: Vec<Summary> = variants.iter().map(|v| Summary { name: v.name.clone(), runs: vec![] }).collect();
    for _ in 0..settings.runs {
        for ((v, &n), s) in variants.iter_mut().zip(&counts).zip(&mut out) {
            let took = (v.run)(n);
            s.runs.push(took.as_nanos() as f64 / n as f64);
        }
    }
    out
}

/// A latency variant: `run(n)` makes `n` hand-offs and returns each one's latency in ns.
pub struct LatencyVariant<'a> {
    pub name: String,
    pub run: Box<dyn FnMut(u64) -> Vec<u64> + 'a>,
}

impl<'a> LatencyVariant<'a> {
    pub fn new(name: impl Into<String>, run: impl FnMut(u64) -> Vec<u64> + 'a) -> LatencyVariant<'a> {
        LatencyVariant { name: name.into(), run: Box::new(run) }
    }
}

/// p50 and p99 per run, summarised over the runs.
pub struct LatencySummary {
    pub p50: Summary,
    pub p99: Summary,
}

/// Run every latency variant `settings.runs` times, interleaved.
pub fn measure_latency(settings: Settings, mut variants: Vec<LatencyVariant<'_>>) -> Vec<LatencySummary> {
    let counts: Vec<u64> = variants
        .iter_mut()
        .map(|v| {
            calibrate(
                &mut |n| {
                    let start = Instant::now();
                    (v.run)(n);
                    start.elapsed()
                },
                settings.run_time,
            )
        })
        .collect();
    let mut out: Vec<LatencySummary> = variants
        .iter()
        .map(|v| LatencySummary {
            p50: Summary { name: v.name.clone(), runs: vec![] },
            p99: Summary { name: v.name.clone(), runs: vec![] },
        })
        .collect();
    for _ in 0..settings.runs {
        for ((v, &n), s) in variants.iter_mut().zip(&counts).zip(&mut out) {
            let mut samples = (v.run)(n);
            samples.sort_unstable();
            s.p50.runs.push(quantile(&samples, 0.50));
            s.p99.runs.push(quantile(&samples, 0.99));
        }
    }
    out
}
