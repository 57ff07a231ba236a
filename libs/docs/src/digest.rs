//! A rendered file with its SHA-256, computed once where it is produced.
use sha2::{Digest, Sha256};

/// The bytes of a rendered document, what they are, and their SHA-256 (hex, lower case).
#[derive(Clone, PartialEq, Eq)]
pub struct Rendered {
    pub bytes: Vec<u8>,
    pub media_type: &'static str,
    pub sha256: String,
    /// Page count where the format has fixed pages (PDF).
    pub pages: Option<usize>,
}

impl Rendered {
    pub fn new(bytes: Vec<u8>, media_type: &'static str, pages: Option<usize>) -> Self {
        let sha256 = hex::encode(Sha256::digest(&bytes));
        Rendered {
            bytes,
            media_type,
            sha256,
            pages,
        }
    }
}

impl std::fmt::Debug for Rendered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rendered")
            .field("media_type", &self.media_type)
            .field("bytes", &self.bytes.len())
            .field("sha256", &self.sha256)
            .field("pages", &self.pages)
            .finish()
    }
}
