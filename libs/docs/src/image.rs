//! PNG images carried by a document: checked before any renderer sees them.
use base64::Engine as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

use crate::error::DocError;

const SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];
/// The largest side accepted, in pixels (a decoder allocates width × height × 4 bytes).
pub const MAX_SIDE_PX: u32 = 8_000;

/// PNG bytes; serialised as base64.
#[derive(Clone, PartialEq, Eq)]
pub struct Png(pub Vec<u8>);

impl std::fmt::Debug for Png {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Png({} bytes)", self.0.len())
    }
}

impl Png {
    /// Width and height in pixels, read from the IHDR chunk, or why the bytes are not a PNG this
    /// library draws.
    pub fn dimensions(&self) -> Result<(u32, u32), DocError> {
        let b = &self.0;
        let bad = |reason: &str| DocError::InvalidImage {
            reason: reason.to_string(),
        };
        if b.len() < 33 || b[..8] != SIGNATURE {
            return Err(bad("not a PNG file (signature missing)"));
        }
        if &b[12..16] != b"IHDR" {
            return Err(bad("the first chunk is not IHDR"));
        }
        let w = u32::from_be_bytes([b[16], b[17], b[18], b[19]]);
        let h = u32::from_be_bytes([b[20], b[21], b[22], b[23]]);
        if w == 0 || h == 0 {
            return Err(bad("zero width or height"));
        }
        if w > MAX_SIDE_PX || h > MAX_SIDE_PX {
            return Err(bad(&format!(
                "{w}×{h} px is larger than {MAX_SIDE_PX} px on a side"
            )));
        }
        Ok((w, h))
    }

    /// SHA-256 of the bytes (hex).
    pub fn sha256(&self) -> String {
        hex::encode(Sha256::digest(&self.0))
    }
}

impl Serialize for Png {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Png {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(text.as_bytes())
            .map(Png)
            .map_err(|e| serde::de::Error::custom(format!("image is not base64: {e}")))
    }
}
