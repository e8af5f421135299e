//! Deterministic clustered unit vectors for benchmarks (the ANN bench, the vector
//! backends bench): shaped like segment embeddings of many videos.

/// SplitMix64, with uniform and Gaussian draws.
#[derive(Debug, Clone)]
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn gauss(&mut self) -> f32 {
        let (u, v) = (self.uniform().max(1e-300), self.uniform());
        ((-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()) as f32
    }
}

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
