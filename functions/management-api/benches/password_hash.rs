//! What one password costs the management function: argon2id with the
//! parameters the function uses (`PasswordHasher::default()`), hashed and
//! verified on one core, built as the function is (release).
//!
//! `cargo bench -p management-api --bench password_hash`
//!
//! Lambda gives a function CPU in proportion to its memory (one vCPU at
//! 1,769 MB), so a hash that takes `t` on a full core takes about
//! `t × 1769 / memory` below that: the estimates printed for the sizes
//! the template may use.

use std::time::{Duration, Instant};

use secure2fa_core::accounts::{Password, PasswordHasher};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let hasher = PasswordHasher::default();
    let password = Password::new("correct horse battery staple", &[]).expect("a valid password");
    // Warm up (page faults of the 19 MiB block, caches).
    let hash = hasher.hash_blocking(&password);
    let runs = 40;
    let mut hashing = Vec::with_capacity(runs);
    let mut verifying = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        std::hint::black_box(hasher.hash_blocking(&password));
        hashing.push(start.elapsed());
        let start = Instant::now();
        assert!(hasher.verify_blocking(&password, Some(&hash)));
        verifying.push(start.elapsed());
    }
    hashing.sort();
    verifying.sort();
    println!("argon2id m=19456 KiB, t=2, p=1 on one core, {runs} runs");
    for (what, d) in [("hash", &hashing), ("verify", &verifying)] {
        println!(
            "  {what:6} median {:>6.1} ms  p95 {:>6.1} ms  max {:>6.1} ms",
            percentile(d, 0.5).as_secs_f64() * 1e3,
            percentile(d, 0.95).as_secs_f64() * 1e3,
            d[d.len() - 1].as_secs_f64() * 1e3
        );
    }
    let median = percentile(&verifying, 0.5).as_secs_f64() * 1e3;
    for memory in [256.0, 512.0, 1024.0, 1769.0] {
        println!("  at {memory:>4} MB on Lambda: about {:>5.0} ms per sign-in", median * 1769.0 / memory);
    }
}
