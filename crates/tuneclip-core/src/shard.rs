//! [`Shard`]: one of K deterministic shares of a job's items, for splitting work over
//! machines (Milvus upserts, production runs).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Share `index` of `count` (from 0), written `i/K`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    /// Everything: share 0 of 1.
    pub fn all() -> Self {
        Self { index: 0, count: 1 }
    }

    /// Whether the item under the integer `key` is this shard's (the key modulo K).
    pub fn owns(&self, key: i64) -> bool {
        key.rem_euclid(i64::from(self.count)) == i64::from(self.index)
    }

    /// Whether the item named `id` is this shard's: FNV-1a (64-bit) of the id modulo K,
    /// so the split depends on nothing but the ids and the count.
    pub fn holds(&self, id: &str) -> bool {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in id.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        h % u64::from(self.count) == u64::from(self.index)
    }
}

/// A row key from stable ids: the first 63 bits of a SHA-256. Milvus rows are keyed by it
/// (collisions are caught by its publish: the stored count must equal the catalogue's),
/// and files are sharded by it ([`Shard::owns`] of `key_of(&["file", name])`).
pub fn key_of(parts: &[&str]) -> i64 {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0u8]);
    }
    let d = h.finalize();
    (u64::from_be_bytes(d[..8].try_into().expect("8 bytes")) >> 1) as i64
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl std::str::FromStr for Shard {
    type Err = String;
    /// `i/K` with `0 <= i < K`.
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("shard {s:?}: expected i/K with 0 <= i < K, e.g. 0/4");
        let (i, k) = s.split_once('/').ok_or_else(bad)?;
        let (index, count): (u32, u32) = (i.trim().parse().map_err(|_| bad())?, k.trim().parse().map_err(|_| bad())?);
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Self { index, count })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_split_ids_deterministically_and_parse_strictly() {
        let ids: Vec<String> = (0..400).map(|i| format!("{:016x}", i * 2_654_435_761u64)).collect();
        let shards: Vec<Shard> = (0..4).map(|index| Shard { index, count: 4 }).collect();
        // Every id in exactly one shard, each shard a fair share.
        for id in &ids {
            assert_eq!(shards.iter().filter(|s| s.holds(id)).count(), 1);
        }
        for s in &shards {
            let n = ids.iter().filter(|id| s.holds(id)).count();
            assert!((60..=140).contains(&n), "shard {s} holds {n} of 400");
        }
        assert!(Shard::all().holds("anything") && Shard::all().owns(-7));
        assert_eq!("1/4".parse::<Shard>(), Ok(Shard { index: 1, count: 4 }));
        assert_eq!(Shard { index: 1, count: 4 }.to_string(), "1/4");
        for bad in ["4/4", "1/0", "1", "a/4", "-1/4", ""] {
            assert!(bad.parse::<Shard>().is_err_and(|e| e.contains("expected i/K")), "{bad}");
        }
    }
}
