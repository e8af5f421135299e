//! What tuneclip keeps in Milvus and under which names. A rebuild writes a new
//! *generation*: one collection per kind, `{prefix}_{kind}_{generation}`; the alias
//! `{prefix}_{kind}` names the published one. Shards upsert into the same generation by
//! key, so a shard run twice stores its rows once; only the publish step moves the alias,
//! so queries never see a half-written generation.

use crate::client::ScalarType;
use crate::{MilvusError, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CollectionKind {
    Segments,
    Songs,
}

impl CollectionKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Segments => "segments",
            Self::Songs => "songs",
        }
    }

    /// The scalar fields stored beside each vector (what filters need).
    pub fn scalars(self) -> &'static [(&'static str, ScalarType)] {
        match self {
            Self::Segments => &[
                ("video", ScalarType::VarChar(64)),
                ("ordinal", ScalarType::Int64),
                ("duration_s", ScalarType::Float),
                ("blank", ScalarType::Bool),
                ("subtitled", ScalarType::Bool),
                ("logo", ScalarType::Bool),
                ("model", ScalarType::VarChar(160)),
            ],
            Self::Songs => &[
                ("song", ScalarType::VarChar(64)),
                ("duration_s", ScalarType::Float),
                ("model", ScalarType::VarChar(160)),
            ],
        }
    }
}

/// One generation of the catalogue in Milvus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generation {
    pub prefix: String,
    pub name: String,
}

/// Milvus names: letters, digits and `_`, not starting with a digit, at most 255 bytes.
fn check_name(what: &str, s: &str) -> Result<()> {
    let ok = !s.is_empty()
        && s.len() <= 100
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !s.starts_with(|c: char| c.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(MilvusError::Invalid(format!(
            "{what} {s:?}: expected 1-100 letters, digits or _, not starting with a digit"
        )))
    }
}

impl Generation {
    /// `name` is made a Milvus name: anything but letters and digits becomes `_`.
    pub fn new(prefix: &str, name: &str) -> Result<Self> {
        check_name("prefix", prefix)?;
        let name: String = name.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
        let name = if name.starts_with(|c: char| c.is_ascii_digit()) { format!("g{name}") } else { name };
        check_name("generation", &name)?;
        Ok(Self { prefix: prefix.into(), name })
    }

    pub fn collection(&self, kind: CollectionKind) -> String {
        format!("{}_{}_{}", self.prefix, kind.name(), self.name)
    }

    /// The alias naming the published generation of `kind`.
    pub fn alias(prefix: &str, kind: CollectionKind) -> String {
        format!("{prefix}_{}", kind.name())
    }

    /// The generation a collection name belongs to, if it is one of `prefix`'s.
    pub fn of_collection(prefix: &str, kind: CollectionKind, collection: &str) -> Option<String> {
        collection.strip_prefix(&format!("{prefix}_{}_", kind.name())).map(str::to_string)
    }
}

pub use tuneclip_core::shard::key_of;

pub fn segment_key(video_id: &str, ordinal: u32) -> i64 {
    key_of(&["segment", video_id, &ordinal.to_string()])
}

pub fn song_key(song_id: &str) -> i64 {
    key_of(&["song", song_id])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_milvus_names_and_keys_are_stable() {
        let g = Generation::new("tuneclip", "20261126T120000-ab12").expect("generation");
        assert_eq!(g.collection(CollectionKind::Segments), "tuneclip_segments_g20261126T120000_ab12");
        assert_eq!(
            Generation::of_collection("tuneclip", CollectionKind::Segments, &g.collection(CollectionKind::Segments)),
            Some(g.name.clone())
        );
        assert!(Generation::new("bad-prefix", "x").is_err());
        assert_eq!(segment_key("abc", 1), segment_key("abc", 1));
        assert_ne!(segment_key("abc", 1), segment_key("abc", 2));
        assert!(segment_key("abc", 1) >= 0 && song_key("abc") != segment_key("abc", 0));
    }
}
