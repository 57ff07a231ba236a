//! Unleash's bucketing: MurmurHash3 (x86, 32-bit) of `"{group}:{id}"`, so an organisation or
//! user lands in the same bucket here as in every Unleash SDK, across services and restarts.

/// MurmurHash3 x86_32 of `data` with `seed`.
pub fn murmur3_32(data: &[u8], seed: u32) -> u32 {
    const C1: u32 = 0xcc9e_2d51;
    const C2: u32 = 0x1b87_3593;
    let mut h = seed;
    let mut blocks = data.chunks_exact(4);
    for b in &mut blocks {
        let mut k = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        k = k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
        h ^= k;
        h = h.rotate_left(13).wrapping_mul(5).wrapping_add(0xe654_6b64);
    }
    let tail = blocks.remainder();
    if !tail.is_empty() {
        let mut k = 0u32;
        for (i, byte) in tail.iter().enumerate() {
            k |= u32::from(*byte) << (8 * i);
        }
        h ^= k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
    }
    // The length is mixed in modulo 2^32, as the reference implementation does.
    h ^= data.len() as u32;
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

/// Unleash's `normalizedValue(id, groupId, normalizer, seed)`:
/// `murmur3("{group}:{id}", seed) % normalizer + 1`, in `1..=normalizer`.
pub fn normalized(id: &str, group: &str, normalizer: u32, seed: u32) -> u32 {
    let mut key = String::with_capacity(group.len() + id.len() + 1);
    key.push_str(group);
    key.push(':');
    key.push_str(id);
    murmur3_32(key.as_bytes(), seed) % normalizer.max(1) + 1
}

/// The percentage bucket (1–100) of `id` in a flag's rollout, seed 0 as Unleash's
/// `flexibleRollout` uses it.
pub fn rollout_bucket(id: &str, flag: &str) -> u32 {
    normalized(id, flag, 100, 0)
}

/// The seed Unleash uses to pick a variant, so variant assignment is independent of the
/// rollout bucket.
pub const VARIANT_SEED: u32 = 86_028_157;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur3_matches_the_reference_vectors() {
        assert_eq!(murmur3_32(b"", 0), 0);
        assert_eq!(murmur3_32(b"", 1), 0x514e_28b7);
        assert_eq!(murmur3_32(b"Hello world", 0), 2_911_983_372);
        assert_eq!(
            murmur3_32(b"The quick brown fox jumps over the lazy dog", 0),
            0x2e4f_f723
        );
    }

    #[test]
    fn buckets_match_the_unleash_clients() {
        // unleash-client-node: "normalized values are the same across node, java, and go clients"
        assert_eq!(normalized("123", "gr1", 100, 0), 73);
        assert_eq!(normalized("999", "groupX", 100, 0), 25);
    }
}
