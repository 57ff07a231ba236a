//! Encryption at rest: AES-256-GCM with a random nonce per object, the object's key as
//! associated data (so a sealed object copied under another tenant's key does not open).
use aws_lc_rs::aead::{AES_256_GCM, Aad, NONCE_LEN, Nonce, RandomizedNonceKey};

use crate::BlobError;

pub struct Sealer(RandomizedNonceKey);

impl Sealer {
    /// From the key file's content: 32 raw bytes, or their base64 (standard, padded).
    pub fn from_key_material(raw: &[u8]) -> Result<Self, BlobError> {
        use base64::Engine as _;
        let bytes = if raw.len() == 32 {
            raw.to_vec()
        } else {
            let text = std::str::from_utf8(raw).unwrap_or_default().trim();
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|_| {
                    BlobError::Config(
                        "FLEET_BLOBS_KEY_FILE must hold 32 bytes or their base64".into(),
                    )
                })?
        };
        if bytes.len() != 32 {
            return Err(BlobError::Config(
                "FLEET_BLOBS_KEY_FILE must hold a 32-byte key".into(),
            ));
        }
        RandomizedNonceKey::new(&AES_256_GCM, &bytes)
            .map(Sealer)
            .map_err(|_| BlobError::Config("unusable sealing key".into()))
    }

    /// nonce ‖ ciphertext ‖ tag.
    pub fn seal(&self, aad: &str, plain: &[u8]) -> Result<Vec<u8>, BlobError> {
        let mut buf = plain.to_vec();
        let nonce = self
            .0
            .seal_in_place_append_tag(Aad::from(aad.as_bytes()), &mut buf)
            .map_err(|_| BlobError::Config("sealing failed".into()))?;
        let mut out = Vec::with_capacity(NONCE_LEN + buf.len());
        out.extend_from_slice(nonce.as_ref());
        out.extend_from_slice(&buf);
        Ok(out)
    }

    pub fn open(&self, aad: &str, sealed: &[u8]) -> Result<Vec<u8>, BlobError> {
        if sealed.len() < NONCE_LEN + AES_256_GCM.tag_len() {
            return Err(BlobError::Corrupt);
        }
        let (nonce, rest) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| BlobError::Corrupt)?;
        let mut buf = rest.to_vec();
        let plain = self
            .0
            .open_in_place(nonce, Aad::from(aad.as_bytes()), &mut buf)
            .map_err(|_| BlobError::Corrupt)?;
        Ok(plain.to_vec())
    }
}
