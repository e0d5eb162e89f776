//! Shared by the benchmarks: a small concurrent load driver and the table.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{
    future::Future,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

pub struct Figures {
    pub requests: usize,
    pub errors: usize,
    pub elapsed: Duration,
    pub sorted: Vec<Duration>,
}

impl Figures {
    pub fn per_second(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }
    pub fn percentile(&self, p: f64) -> Duration {
        percentile(&self.sorted, p)
    }
}

/// The `p` quantile (0..1) of sorted samples.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx]
}

pub fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

pub fn header() {
    println!("| scenario | clients | requests | per second | p50 | p99 | errors |");
    println!("|---|---|---|---|---|---|---|");
}

pub fn row(name: &str, clients: usize, f: &Figures) {
    println!(
        "| {name} | {clients} | {} | {:.0} | {} | {} | {} |",
        f.requests,
        f.per_second(),
        ms(f.percentile(0.5)),
        ms(f.percentile(0.99)),
        f.errors
    );
}

/// Runs `total` calls of `one` spread over `clients` concurrent tasks; a call
/// returns whether it succeeded.
pub async fn drive<F, Fut>(clients: usize, total: usize, one: F) -> Figures
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = bool> + Send,
{
    let one = Arc::new(one);
    let next = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let one = one.clone();
        let next = next.clone();
        let errors = errors.clone();
        tasks.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    break;
                }
                let t = Instant::now();
                if !one(i).await {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
                samples.push(t.elapsed());
            }
            samples
        }));
    }
    let mut sorted = Vec::with_capacity(total);
    for t in tasks {
        sorted.extend(t.await.unwrap());
    }
    let elapsed = started.elapsed();
    sorted.sort();
    Figures {
        requests: sorted.len(),
        errors: errors.load(Ordering::Relaxed),
        elapsed,
        sorted,
    }
}
