//! Deterministic clustered unit vectors for benchmarks (the ANN bench, the vector
//! backends bench): shaped like segment embeddings of many videos.

/// The benches' generator (SplitMix64, with uniform and Gaussian draws).
pub use tuneclip_core::SplitMix64 as Rng;

fn unit(mut v: Vec<f32>) -> Vec<f32> {
    tuneclip_core::l2_normalize(&mut v);
    v
}

/// `count` random unit centres of `dim`.
pub fn centres(count: usize, dim: usize, rng: &mut Rng) -> Vec<Vec<f32>> {
    (0..count).map(|_| unit((0..dim).map(|_| rng.gauss()).collect())).collect()
}

/// `n` unit vectors (flat), each a random centre plus Gaussian noise of norm ~0.8,
/// normalised.
pub fn clustered(centres: &[Vec<f32>], n: usize, dim: usize, rng: &mut Rng) -> Vec<f32> {
    let spread = 0.8 / (dim as f32).sqrt();
    let mut out = Vec::with_capacity(n * dim);
    for _ in 0..n {
        let c = &centres[(rng.next_u64() % centres.len() as u64) as usize];
        out.extend(unit(c.iter().map(|x| x + spread * rng.gauss()).collect()));
    }
    out
}
