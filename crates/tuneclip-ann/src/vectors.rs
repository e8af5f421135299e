//! [`Vectors`]: `n` row-major `f32` vectors of one dimension, cache-line aligned, and
//! their small binary file format (little-endian, header with count and dimension).

use crate::{AnnError, NONE, Result, io_err};
use std::fs;
use std::io::{BufWriter, Write};
use std::path::Path;

/// `n` vectors of `dim` floats, row-major. The first row starts on a 64-byte cache
/// line (the buffer is over-allocated and the rows placed at the first aligned
/// float), so a 32-dimensional row is exactly two cache lines, never three: a graph
/// search reads rows at random, one memory fetch per line.
#[derive(Debug, Clone)]
pub struct Vectors {
    dim: usize,
    /// Floats before the first row (0..16), there only for the alignment.
    offset: usize,
    data: Vec<f32>,
}

impl PartialEq for Vectors {
    fn eq(&self, other: &Self) -> bool {
        self.dim == other.dim && self.as_slice() == other.as_slice()
    }
}

/// A buffer for `len` floats, filled by `fill`, whose float at the returned offset
/// starts a cache line.
fn cache_aligned(len: usize, fill: impl FnOnce(&mut Vec<f32>)) -> (usize, Vec<f32>) {
    let mut data: Vec<f32> = Vec::with_capacity(len + 16);
    // Filled within this capacity the buffer never moves, so its address is final.
    let offset = (64 - data.as_ptr() as usize % 64) % 64 / std::mem::size_of::<f32>();
    data.resize(offset, 0.0);
    fill(&mut data);
    (offset, data)
}

const VECTORS_MAGIC: &[u8; 8] = b"TCVEC001";

impl Vectors {
    pub fn new(dim: usize, data: Vec<f32>) -> Result<Self> {
        let (offset, data) = cache_aligned(data.len(), |d| d.extend_from_slice(&data));
        Self::checked(dim, offset, data)
    }

    /// Rows at `data[offset..]`, checked: whole rows, u32-addressable, all finite.
    fn checked(dim: usize, offset: usize, data: Vec<f32>) -> Result<Self> {
        if dim == 0 {
            return Err(AnnError::Invalid("dimension 0".into()));
        }
        let rows = &data[offset.min(data.len())..];
        if !rows.len().is_multiple_of(dim) {
            return Err(AnnError::Invalid(format!("{} floats is not a whole number of {dim}-vectors", rows.len())));
        }
        if rows.len() / dim >= NONE as usize {
            return Err(AnnError::Invalid(format!("{} vectors (at most {} fit u32 ids)", rows.len() / dim, NONE - 1)));
        }
        if let Some(i) = rows.iter().position(|x| !x.is_finite()) {
            return Err(AnnError::Invalid(format!("vector {} holds a non-finite value", i / dim)));
        }
        Ok(Self { dim, offset, data })
    }

    pub fn from_rows<'a>(dim: usize, rows: impl IntoIterator<Item = &'a [f32]>) -> Result<Self> {
        let mut data = Vec::new();
        for (i, r) in rows.into_iter().enumerate() {
            if r.len() != dim {
                return Err(AnnError::Invalid(format!("vector {i} has {} dimensions, expected {dim}", r.len())));
            }
            data.extend_from_slice(r);
        }
        Self::new(dim, data)
    }

    pub fn dim(&self) -> usize {
        self.dim
    }
    pub fn len(&self) -> usize {
        self.as_slice().len() / self.dim
    }
    pub fn is_empty(&self) -> bool {
        self.as_slice().is_empty()
    }
    pub fn row(&self, i: usize) -> &[f32] {
        let at = self.offset + i * self.dim;
        &self.data[at..at + self.dim]
    }
    pub fn as_slice(&self) -> &[f32] {
        &self.data[self.offset..]
    }
    /// Bytes held.
    pub fn memory_bytes(&self) -> usize {
        self.data.len() * 4
    }

    /// Write to `path` (header `TCVEC001`, u64 count, u32 dimension, u32 0, then the
    /// floats, all little-endian) and fsync it.
    pub fn write(&self, path: &Path) -> Result<()> {
        let f = fs::File::create(path).map_err(io_err(path))?;
        let mut w = BufWriter::with_capacity(1 << 20, f);
        let mut put = |b: &[u8]| w.write_all(b).map_err(io_err(path));
        put(VECTORS_MAGIC)?;
        put(&(self.len() as u64).to_le_bytes())?;
        put(&(self.dim as u32).to_le_bytes())?;
        put(&0u32.to_le_bytes())?;
        for x in self.as_slice() {
            put(&x.to_le_bytes())?;
        }
        let f = w.into_inner().map_err(|e| AnnError::Io { path: path.to_path_buf(), source: e.into_error() })?;
        f.sync_all().map_err(io_err(path))
    }

    pub fn read(path: &Path) -> Result<Self> {
        let bytes = fs::read(path).map_err(io_err(path))?;
        let bad = |reason: String| AnnError::Format { path: path.to_path_buf(), reason };
        let mut r = Reader { bytes: &bytes, at: 0 };
        if r.take(8).ok_or_else(|| bad("shorter than its header".into()))? != VECTORS_MAGIC {
            return Err(bad("not a tuneclip vector file (bad magic)".into()));
        }
        let n = r.u64().ok_or_else(|| bad("shorter than its header".into()))? as usize;
        let dim = r.u32().ok_or_else(|| bad("shorter than its header".into()))? as usize;
        r.u32();
        let want = n.checked_mul(dim).and_then(|x| x.checked_mul(4)).ok_or_else(|| bad("absurd size".into()))?;
        if r.rest() != want {
            return Err(bad(format!("{n} vectors of {dim} need {want} bytes of data, found {}", r.rest())));
        }
        // Decoded straight into the aligned buffer (a 1M-vector file is 128 MB).
        let (offset, data) = cache_aligned(n * dim, |d| {
            d.extend(bytes[r.at..].chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])))
        });
        Self::checked(dim, offset, data).map_err(|e| bad(e.to_string()))
    }
}

/// Little-endian cursor over a byte slice.
pub(crate) struct Reader<'a> {
    pub(crate) bytes: &'a [u8],
    pub(crate) at: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.bytes.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(s)
    }
    pub(crate) fn u32(&mut self) -> Option<u32> {
        self.take(4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    pub(crate) fn u64(&mut self) -> Option<u64> {
        let b = self.take(8)?;
        Some(u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
    }
    pub(crate) fn u32s(&mut self, n: usize) -> Option<Vec<u32>> {
        let b = self.take(n.checked_mul(4)?)?;
        Some(b.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
    }
    pub(crate) fn rest(&self) -> usize {
        self.bytes.len() - self.at
    }
}
