//! Dot products in the widest f32 lanes the CPU has, chosen at run time: AVX-512F, then
//! AVX2 with FMA, then a portable loop the compiler vectorises for the baseline target.
//! One binary runs everywhere and uses what it finds; [`Kernel::detect`] says which it
//! took (the ANN bench prints it), and every kernel can be called by name where present
//! ([`Kernel::dot`]) so tests compare them with each other.
//!
//! The lanes change the order of the additions, so kernels agree to rounding (a few ulps
//! of the sum of |a_i b_i|), not bit for bit; a given machine always takes the same one.

use std::fmt;
use std::sync::OnceLock;

/// A dot-product implementation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    /// Eight independent accumulators in plain Rust (SSE2 on a baseline x86-64 build).
    Portable,
    /// 256-bit lanes, fused multiply-add, four accumulators (32 floats a step).
    Avx2Fma,
    /// 512-bit lanes, fused multiply-add, two accumulators (32 floats a step), the tail
    /// under a lane mask.
    Avx512,
}

impl fmt::Display for Kernel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Portable => "portable",
            Self::Avx2Fma => "avx2+fma",
            Self::Avx512 => "avx512f",
        })
    }
}

impl Kernel {
    /// Every kernel, widest first.
    pub const ALL: [Kernel; 3] = [Kernel::Avx512, Kernel::Avx2Fma, Kernel::Portable];

    /// Whether this CPU can run the kernel.
    pub fn available(self) -> bool {
        match self {
            Self::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Self::Avx2Fma => is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"),
            #[cfg(target_arch = "x86_64")]
            Self::Avx512 => is_x86_feature_detected!("avx512f"),
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// The widest available kernel, or the one `TUNECLIP_KERNEL` names (`portable`,
    /// `avx2+fma`, `avx512f`) when it is available: for benchmarks and for machines
    /// where the widest lanes lower the clock. Detected once per process.
    pub fn detect() -> Kernel {
        static CHOSEN: OnceLock<Kernel> = OnceLock::new();
        *CHOSEN.get_or_init(|| {
            let asked = std::env::var("TUNECLIP_KERNEL").ok();
            let named = Self::ALL.into_iter().find(|k| asked.as_deref() == Some(&k.to_string()));
            match named {
                Some(k) if k.available() => k,
                _ => Self::ALL.into_iter().find(|k| k.available()).unwrap_or(Self::Portable),
            }
        })
    }

    /// The dot product of `a` and `b` over their common length with this kernel (the
    /// portable one when the CPU lacks it). Checks the CPU on every call: hot loops take
    /// [`dot_fn`](Self::dot_fn) once instead.
    pub fn dot(self, a: &[f32], b: &[f32]) -> f32 {
        self.dot_fn()(a, b)
    }

    /// This kernel as a plain function (the portable one when the CPU lacks it): what an
    /// index keeps and calls per distance, with no check per call.
    pub fn dot_fn(self) -> DotFn {
        match self {
            #[cfg(target_arch = "x86_64")]
            Self::Avx512 if self.available() => x86::dot_avx512_checked,
            #[cfg(target_arch = "x86_64")]
            Self::Avx2Fma if self.available() => x86::dot_avx2_checked,
            _ => dot_portable,
        }
    }
}

/// A dot product over the common length of two slices.
pub type DotFn = fn(&[f32], &[f32]) -> f32;

/// A dot product of `f32` weights with `u8` codes over their common length: the score
/// of a query against a scalar-quantised row (`tuneclip-ann`'s 8-bit codes), the query
/// already scaled per dimension so that no code is decoded on the way.
pub type DotU8Fn = fn(&[f32], &[u8]) -> f32;

impl Kernel {
    /// This kernel's `f32` x `u8` dot product (the portable one when the CPU lacks it):
    /// the codes are widened to `f32` in the lanes (8 a step with AVX2, 16 with
    /// AVX-512) and multiplied in with FMA.
    pub fn dot_u8_fn(self) -> DotU8Fn {
        match self {
            #[cfg(target_arch = "x86_64")]
            Self::Avx512 if self.available() => x86::dot_u8_avx512_checked,
            #[cfg(target_arch = "x86_64")]
            Self::Avx2Fma if self.available() => x86::dot_u8_avx2_checked,
            _ => dot_u8_portable,
        }
    }
}

/// [`kernel_for`]'s `f32` x `u8` dot product for rows of `dim` codes.
pub fn dot_u8_for(dim: usize) -> DotU8Fn {
    kernel_for(dim).dot_u8_fn()
}

/// Eight accumulators, as [`dot_portable`].
#[inline]
pub fn dot_u8_portable(w: &[f32], codes: &[u8]) -> f32 {
    let n = w.len().min(codes.len());
    let (w, codes) = (&w[..n], &codes[..n]);
    let mut acc = [0f32; 8];
    let (cw, cc) = (w.chunks_exact(8), codes.chunks_exact(8));
    let tail: f32 = cw.remainder().iter().zip(cc.remainder()).map(|(x, &c)| x * f32::from(c)).sum();
    for (x, c) in cw.zip(cc) {
        for i in 0..8 {
            acc[i] += x[i] * f32::from(c[i]);
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// [`Kernel::detect`]'s kernel as a function, looked up once per process.
pub fn best_dot() -> DotFn {
    static BEST: OnceLock<DotFn> = OnceLock::new();
    *BEST.get_or_init(|| Kernel::detect().dot_fn())
}

/// The kernel for many dot products of `dim` floats: [`Kernel::detect`]'s, except that
/// AVX-512 gives way to AVX2+FMA below 128 floats, where its longer final reduction
/// costs more than its wider lanes save (ANN bench, 200k vectors at 32 dims: AVX-512 at
/// 0.89-0.96x of AVX2's queries/s; `BENCHMARKS.md`). `TUNECLIP_KERNEL` still wins.
pub fn kernel_for(dim: usize) -> Kernel {
    // Read once per process: a search calls this per query.
    static FORCED: OnceLock<bool> = OnceLock::new();
    let forced = *FORCED.get_or_init(|| std::env::var_os("TUNECLIP_KERNEL").is_some());
    let k = Kernel::detect();
    if k == Kernel::Avx512 && dim < 128 && !forced && Kernel::Avx2Fma.available() { Kernel::Avx2Fma } else { k }
}

/// [`kernel_for`] as a function: what a search over `dim`-float rows calls per row.
pub fn dot_for(dim: usize) -> DotFn {
    kernel_for(dim).dot_fn()
}

/// Eight independent accumulators so the compiler can vectorise (a plain iterator sum
/// must keep the sequential float order and cannot).
#[inline]
pub fn dot_portable(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod x86 {
    use std::arch::x86_64::*;

    /// Sum of the eight lanes.
    #[target_feature(enable = "avx2,fma")]
    fn hsum256(v: __m256) -> f32 {
        let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_shuffle_ps::<0b01>(s, s));
        _mm_cvtss_f32(s)
    }

    /// Reached only through [`super::Kernel::dot_fn`] after the CPU was found to have
    /// AVX2 and FMA.
    pub(super) fn dot_avx2_checked(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        // SAFETY: the features were checked before this function was handed out; the
        // slices are cut to one length.
        unsafe { dot_avx2(&a[..n], &b[..n]) }
    }

    /// Reached only through [`super::Kernel::dot_fn`] after the CPU was found to have
    /// AVX-512F.
    pub(super) fn dot_avx512_checked(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        // SAFETY: as above, for AVX-512F.
        unsafe { dot_avx512(&a[..n], &b[..n]) }
    }

    /// Reached only through [`super::Kernel::dot_u8_fn`] after the CPU was found to
    /// have AVX2 and FMA.
    pub(super) fn dot_u8_avx2_checked(w: &[f32], codes: &[u8]) -> f32 {
        let n = w.len().min(codes.len());
        // SAFETY: the features were checked before this function was handed out; the
        // slices are cut to one length.
        unsafe { dot_u8_avx2(&w[..n], &codes[..n]) }
    }

    /// Reached only through [`super::Kernel::dot_u8_fn`] after the CPU was found to
    /// have AVX-512F.
    pub(super) fn dot_u8_avx512_checked(w: &[f32], codes: &[u8]) -> f32 {
        let n = w.len().min(codes.len());
        // SAFETY: as above, for AVX-512F.
        unsafe { dot_u8_avx512(&w[..n], &codes[..n]) }
    }

    /// # Safety
    /// The CPU must have AVX2 and FMA; `w` and `c` must have equal lengths.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn dot_u8_avx2(w: &[f32], c: &[u8]) -> f32 {
        let n = w.len();
        let (pw, pc) = (w.as_ptr(), c.as_ptr());
        let (mut acc0, mut acc1) = (_mm256_setzero_ps(), _mm256_setzero_ps());
        let mut i = 0;
        // SAFETY (every load): i + 16 <= n (8 codes and 8 floats from i and from i + 8).
        while i + 16 <= n {
            unsafe {
                let c0 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64(pc.add(i).cast())));
                let c1 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64(pc.add(i + 8).cast())));
                acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(pw.add(i)), c0, acc0);
                acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(pw.add(i + 8)), c1, acc1);
            }
            i += 16;
        }
        if i + 8 <= n {
            unsafe {
                let c0 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64(pc.add(i).cast())));
                acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(pw.add(i)), c0, acc0);
            }
            i += 8;
        }
        let tail: f32 = w[i..].iter().zip(&c[i..]).map(|(x, &k)| x * f32::from(k)).sum();
        hsum256(_mm256_add_ps(acc0, acc1)) + tail
    }

    /// # Safety
    /// The CPU must have AVX-512F; `w` and `c` must have equal lengths.
    #[target_feature(enable = "avx512f")]
    unsafe fn dot_u8_avx512(w: &[f32], c: &[u8]) -> f32 {
        let n = w.len();
        let (pw, pc) = (w.as_ptr(), c.as_ptr());
        let (mut acc0, mut acc1) = (_mm512_setzero_ps(), _mm512_setzero_ps());
        let mut i = 0;
        // SAFETY (every load): i + 32 <= n (16 codes and 16 floats from i and i + 16).
        while i + 32 <= n {
            unsafe {
                let c0 = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128(pc.add(i).cast())));
                let c1 = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128(pc.add(i + 16).cast())));
                acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(pw.add(i)), c0, acc0);
                acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(pw.add(i + 16)), c1, acc1);
            }
            i += 32;
        }
        if i + 16 <= n {
            unsafe {
                let c0 = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128(pc.add(i).cast())));
                acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(pw.add(i)), c0, acc0);
            }
            i += 16;
        }
        let tail: f32 = w[i..].iter().zip(&c[i..]).map(|(x, &k)| x * f32::from(k)).sum();
        _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1)) + tail
    }

    /// # Safety
    /// The CPU must have AVX2 and FMA; `a` and `b` must have equal lengths.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len();
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut acc = [_mm256_setzero_ps(); 4];
        let mut i = 0;
        // SAFETY (every load): i + 8 (k + 1) <= n = len(a) = len(b).
        while i + 32 <= n {
            for (k, acc) in acc.iter_mut().enumerate() {
                let (x, y) = unsafe { (_mm256_loadu_ps(pa.add(i + 8 * k)), _mm256_loadu_ps(pb.add(i + 8 * k))) };
                *acc = _mm256_fmadd_ps(x, y, *acc);
            }
            i += 32;
        }
        while i + 8 <= n {
            let (x, y) = unsafe { (_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i))) };
            acc[0] = _mm256_fmadd_ps(x, y, acc[0]);
            i += 8;
        }
        let sum = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
        let tail: f32 = a[i..].iter().zip(&b[i..]).map(|(x, y)| x * y).sum();
        hsum256(sum) + tail
    }

    /// # Safety
    /// The CPU must have AVX-512F; `a` and `b` must have equal lengths.
    #[target_feature(enable = "avx512f")]
    unsafe fn dot_avx512(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len();
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let (mut acc0, mut acc1) = (_mm512_setzero_ps(), _mm512_setzero_ps());
        let mut i = 0;
        // SAFETY (every load): i + 16 (k + 1) <= n = len(a) = len(b).
        while i + 32 <= n {
            unsafe {
                acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(pa.add(i)), _mm512_loadu_ps(pb.add(i)), acc0);
                acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(pa.add(i + 16)), _mm512_loadu_ps(pb.add(i + 16)), acc1);
            }
            i += 32;
        }
        if i + 16 <= n {
            unsafe {
                acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(pa.add(i)), _mm512_loadu_ps(pb.add(i)), acc0);
            }
            i += 16;
        }
        if i < n {
            // The last 1..15 floats under a mask: masked-off lanes are neither read nor
            // faulted on.
            let mask: __mmask16 = (1u16 << (n - i)) - 1;
            unsafe {
                let x = _mm512_maskz_loadu_ps(mask, pa.add(i));
                let y = _mm512_maskz_loadu_ps(mask, pb.add(i));
                acc1 = _mm512_fmadd_ps(x, y, acc1);
            }
        }
        _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SplitMix64;

    #[test]
    fn every_available_kernel_agrees_with_a_double_precision_sum_at_every_length() {
        let mut rng = SplitMix64(7);
        let mut ran = Vec::new();
        for kernel in Kernel::ALL {
            if !kernel.available() {
                continue;
            }
            ran.push(kernel);
            for n in (0..=70).chain([127, 128, 129, 255, 256, 257, 1000]) {
                let a: Vec<f32> = (0..n).map(|_| rng.uniform() as f32 * 2.0 - 1.0).collect();
                let b: Vec<f32> = (0..n).map(|_| rng.uniform() as f32 * 2.0 - 1.0).collect();
                let exact: f64 = a.iter().zip(&b).map(|(x, y)| f64::from(*x) * f64::from(*y)).sum();
                let scale: f64 = a.iter().zip(&b).map(|(x, y)| f64::from((x * y).abs())).sum::<f64>().max(1.0);
                let got = kernel.dot(&a, &b);
                assert!(
                    (f64::from(got) - exact).abs() <= 1e-6 * scale,
                    "{kernel} at length {n}: {got} against {exact}"
                );
                // A longer second slice: only the common length counts.
                let mut longer = b.clone();
                longer.push(1e9);
                assert_eq!(kernel.dot(&a, &longer), got, "{kernel} at length {n}");
            }
        }
        assert!(ran.contains(&Kernel::Portable));
        assert!(Kernel::detect().available());
        assert_eq!(crate::dot(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]), 32.0);
    }

    #[test]
    fn every_available_u8_kernel_agrees_with_a_double_precision_sum_at_every_length() {
        let mut rng = SplitMix64(11);
        for kernel in Kernel::ALL.into_iter().filter(|k| k.available()) {
            for n in (0..=70).chain([127, 128, 129, 255, 256, 257, 1000]) {
                let w: Vec<f32> = (0..n).map(|_| rng.uniform() as f32 * 2.0 - 1.0).collect();
                let c: Vec<u8> = (0..n).map(|_| (rng.uniform() * 256.0) as u8).collect();
                let exact: f64 = w.iter().zip(&c).map(|(x, &k)| f64::from(*x) * f64::from(k)).sum();
                let scale: f64 =
                    w.iter().zip(&c).map(|(x, &k)| f64::from(x.abs()) * f64::from(k)).sum::<f64>().max(1.0);
                let got = kernel.dot_u8_fn()(&w, &c);
                assert!(
                    (f64::from(got) - exact).abs() <= 1e-6 * scale,
                    "{kernel} at length {n}: {got} against {exact}"
                );
                // Codes 255 (the top of the range) are read unsigned.
                let top = vec![255u8; n];
                let sum: f64 = w.iter().map(|x| f64::from(*x) * 255.0).sum();
                assert!((f64::from(kernel.dot_u8_fn()(&w, &top)) - sum).abs() <= 1e-6 * 255.0 * n.max(1) as f64);
            }
        }
    }

    #[test]
    fn a_kernel_the_cpu_lacks_falls_back_to_the_portable_loop() {
        let (a, b) = ([0.5f32; 19], [2.0f32; 19]);
        for kernel in Kernel::ALL {
            assert_eq!(kernel.dot(&a, &b), 19.0, "{kernel}");
        }
    }
}
