//! [`Sq8`]: 8-bit scalar-quantised copies of [`Vectors`] (one byte per dimension, an
//! affine map per dimension from the data's own range), searched in place of the
//! `f32` rows by a graph walk and followed by an exact re-ranking on the `f32` rows.
//!
//! A graph search at 128 dims and more waits on memory, not arithmetic: each visited
//! row is 8-16 cache lines of floats, 2-4 of codes. The score of a query `q` against a
//! row coded `c` is `sum_d q_d (lo_d + step_d c_d) = q.lo + sum_d (q_d step_d) c_d`: the
//! query is scaled once per search ([`Sq8::prepare`]), so a row's score is one `f32` x
//! `u8` dot product ([`tuneclip_core::kernels::DotU8Fn`]) and nothing is decoded. The
//! codes steer the walk only; every returned score is the exact `f32` dot product.

use crate::Vectors;

/// Bytes of a row of `dim` codes: a divisor of a cache line up to 64 dims, whole lines
/// above, so that no row straddles two lines more than its size needs.
fn stride_for(dim: usize) -> usize {
    if dim <= 64 { dim.next_power_of_two() } else { dim.next_multiple_of(64) }
}

/// `n` rows of `dim` one-byte codes, each dimension mapped from `[lo_d, lo_d + 255
/// step_d]` (the data's min and max) onto `0..=255`.
#[derive(Debug, Clone)]
pub struct Sq8 {
    dim: usize,
    stride: usize,
    /// Bytes before the first row (0..64), there only for the alignment.
    offset: usize,
    codes: Vec<u8>,
    lo: Vec<f32>,
    step: Vec<f32>,
}

impl Sq8 {
    /// Code every row of `vectors` (one pass for the ranges, one for the codes).
    pub fn encode(vectors: &Vectors) -> Self {
        let (dim, n) = (vectors.dim(), vectors.len());
        let mut lo = vec![f32::INFINITY; dim];
        let mut hi = vec![f32::NEG_INFINITY; dim];
        for i in 0..n {
            for ((l, h), &x) in lo.iter_mut().zip(hi.iter_mut()).zip(vectors.row(i)) {
                *l = l.min(x);
                *h = h.max(x);
            }
        }
        if n == 0 {
            lo.fill(0.0);
            hi.fill(0.0);
        }
        let step: Vec<f32> = lo.iter().zip(&hi).map(|(l, h)| (h - l) / 255.0).collect();
        let stride = stride_for(dim);
        let mut codes: Vec<u8> = Vec::with_capacity(n * stride + 64);
        // Filled within this capacity the buffer never moves, so its address is final.
        let offset = (64 - codes.as_ptr() as usize % 64) % 64;
        codes.resize(offset + n * stride, 0);
        for i in 0..n {
            let row = &mut codes[offset + i * stride..offset + i * stride + dim];
            for (d, (c, &x)) in row.iter_mut().zip(vectors.row(i)).enumerate() {
                *c = if step[d] > 0.0 { ((x - lo[d]) / step[d]).round().clamp(0.0, 255.0) as u8 } else { 0 };
            }
        }
        Self { dim, stride, offset, codes, lo, step }
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Row `i`'s `dim` codes.
    pub fn row(&self, i: usize) -> &[u8] {
        let at = self.offset + i * self.stride;
        &self.codes[at..at + self.dim]
    }

    /// Bytes of one row as laid out (what a fetch of the row reads).
    pub fn stride(&self) -> usize {
        self.stride
    }

    /// The per-dimension weights a row's codes are multiplied by for `query` (into
    /// `weights`), and the constant added to every row's score.
    pub fn prepare(&self, query: &[f32], weights: &mut Vec<f32>) -> f32 {
        weights.clear();
        weights.extend(query.iter().zip(&self.step).map(|(q, s)| q * s));
        query.iter().zip(&self.lo).map(|(q, l)| q * l).sum()
    }

    /// Row `i` decoded (tests and diagnostics; a search never decodes).
    pub fn decode(&self, i: usize) -> Vec<f32> {
        self.row(i).iter().zip(self.lo.iter().zip(&self.step)).map(|(&c, (l, s))| l + s * f32::from(c)).collect()
    }

    /// The largest error a coded value can carry in each dimension (half a step).
    pub fn max_error(&self, d: usize) -> f32 {
        self.step[d] / 2.0
    }

    /// Bytes held.
    pub fn memory_bytes(&self) -> usize {
        self.codes.len() + (self.lo.len() + self.step.len()) * 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tuneclip_core::kernels::Kernel;

    fn unit_rows(n: usize, dim: usize, seed: u64) -> Vectors {
        let mut rng = crate::synthetic::Rng(seed);
        let centres = crate::synthetic::centres(4, dim, &mut rng);
        Vectors::new(dim, crate::synthetic::clustered(&centres, n, dim, &mut rng)).expect("vectors")
    }

    #[test]
    fn codes_decode_within_half_a_step_and_rows_are_aligned() {
        for dim in [1, 7, 32, 33, 64, 100, 128, 257] {
            let v = unit_rows(300, dim, dim as u64);
            let q = Sq8::encode(&v);
            assert_eq!(q.row(0).as_ptr() as usize % 64, 0, "dim {dim}");
            assert!(q.stride() >= dim && (64 % q.stride() == 0 || q.stride().is_multiple_of(64)), "dim {dim}");
            for i in 0..v.len() {
                for (d, (x, y)) in v.row(i).iter().zip(q.decode(i)).enumerate() {
                    assert!((x - y).abs() <= q.max_error(d) * 1.0001 + 1e-7, "dim {dim} row {i} d {d}: {x} vs {y}");
                }
            }
        }
    }

    #[test]
    fn a_coded_score_is_the_dot_product_with_the_decoded_row_with_every_kernel() {
        let (dim, n) = (129, 50);
        let v = unit_rows(n, dim, 3);
        let q = Sq8::encode(&v);
        let query = unit_rows(1, dim, 4);
        let mut w = Vec::new();
        let c = q.prepare(query.row(0), &mut w);
        for kernel in Kernel::ALL.into_iter().filter(|k| k.available()) {
            for i in 0..n {
                let want: f32 = query.row(0).iter().zip(q.decode(i)).map(|(a, b)| a * b).sum();
                let got = c + kernel.dot_u8_fn()(&w, q.row(i));
                assert!((got - want).abs() < 1e-4, "{kernel} row {i}: {got} vs {want}");
            }
        }
    }

    #[test]
    fn a_constant_dimension_codes_to_zero_and_decodes_exactly() {
        let v = Vectors::new(2, vec![0.6, 0.8, 0.6, -0.8, 0.6, 0.0]).expect("vectors");
        let q = Sq8::encode(&v);
        assert_eq!(q.row(1)[0], 0);
        assert_eq!(q.decode(2)[0], 0.6);
        assert_eq!((q.row(1)[1], q.row(0)[1]), (0, 255));
    }
}
