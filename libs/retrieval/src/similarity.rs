//! Exact cosine over a candidate set, and the vectors' storage form.
//!
//! Stored vectors are L2-normalised (the embedders promise it), so cosine is a dot product.
use crate::vector_cache::{Block, TenantVectors};

/// A vector as little-endian f32 bytes (the `embedding` column).
pub fn encode(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Dot product of `q` with the vector stored in `bytes`, without decoding it into a `Vec`;
/// `None` when the lengths disagree (a vector of another model).
pub fn dot_encoded(q: &[f32], bytes: &[u8]) -> Option<f32> {
    if bytes.len() != q.len() * 4 {
        return None;
    }
    let mut sum = 0f32;
    for (x, b) in q.iter().zip(bytes.chunks_exact(4)) {
        sum += x * f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    }
    Some(sum)
}

/// The `k` best of `scored` by score, best first (ties by the order given).
pub fn top_k<K>(mut scored: Vec<(K, f32)>, k: usize) -> Vec<(K, f32)> {
    if scored.len() > k {
        scored.select_nth_unstable_by(k, |a, b| b.1.total_cmp(&a.1));
        scored.truncate(k);
    }
    scored.sort_by(|a, b| b.1.total_cmp(&a.1));
    scored
}

/// Dot product of two equal-length slices, in eight independent lanes (so it vectorises);
/// exact cosine for unit vectors, up to float rounding.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            lanes[l] += x[l] * y[l];
        }
    }
    lanes.iter().sum::<f32>() + tail
}

/// A score with a total order (for the heap).
#[derive(Clone, Copy, PartialEq)]
struct Score(f32);
impl Eq for Score {}
impl PartialOrd for Score {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Score {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// The `k` rows of `vectors` most similar to `q`, best first, as (block, row, score); rows
/// `keep` refuses and rows of another dimension are skipped. A min-heap of `k` entries: no
/// allocation per row. Ties go to the earlier row.
pub fn top_k_rows(
    q: &[f32],
    vectors: &TenantVectors,
    k: usize,
    keep: impl Fn(&Block, usize) -> bool,
) -> Vec<(usize, usize, f32)> {
    use std::{cmp::Reverse, collections::BinaryHeap};
    // Reverse(score) with (block, row) ascending: the heap's top is the worst kept entry, and
    // among equal scores the later row, which is the one to give up first.
    let mut heap: BinaryHeap<(Reverse<Score>, usize, usize)> = BinaryHeap::with_capacity(k + 1);
    if k == 0 {
        return Vec::new();
    }
    for (bi, block) in vectors.blocks.iter().enumerate() {
        if block.dims != q.len() {
            continue;
        }
        for (row, v) in block.data.chunks_exact(block.dims).enumerate() {
            let s = Score(dot(q, v));
            if heap.len() == k && heap.peek().is_some_and(|w| s <= w.0.0) {
                continue;
            }
            if !keep(block, row) {
                continue;
            }
            heap.push((Reverse(s), bi, row));
            if heap.len() > k {
                heap.pop();
            }
        }
    }
    let mut out: Vec<(usize, usize, f32)> = heap
        .into_iter()
        .map(|(Reverse(s), b, r)| (b, r, s.0))
        .collect();
    out.sort_by(|a, b| b.2.total_cmp(&a.2).then((a.0, a.1).cmp(&(b.0, b.1))));
    out
}

/// Scales `v` to unit length (a zero vector stays zero).
pub fn normalise(v: &mut [f32]) {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if n > 0.0 {
        v.iter_mut().for_each(|x| *x /= n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_encoded_dot_product_equals_the_plain_one() {
        let a = [0.6f32, 0.8, 0.0];
        let b = [0.0f32, 0.6, 0.8];
        let plain: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert_eq!(dot_encoded(&a, &encode(&b)), Some(plain));
        assert!((plain - 0.48).abs() < 1e-6);
        assert_eq!(dot_encoded(&a, &encode(&[1.0, 0.0])), None);
    }

    #[test]
    fn the_laned_dot_product_equals_the_plain_one() {
        let a: Vec<f32> = (0..19).map(|i| i as f32 * 0.25 - 2.0).collect();
        let b: Vec<f32> = (0..19).map(|i| 1.5 - i as f32 * 0.125).collect();
        let plain: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!(
            (dot(&a, &b) - plain).abs() < 1e-4,
            "{} vs {plain}",
            dot(&a, &b)
        );
    }

    #[test]
    fn the_heap_keeps_the_best_allowed_rows_of_the_query_dimension() {
        let mut v = TenantVectors::new(1);
        let docs: Vec<uuid::Uuid> = (0..5).map(|_| uuid::Uuid::new_v4()).collect();
        for (i, x) in [0.1f32, 0.9, 0.5, 0.7, 0.95].iter().enumerate() {
            v.push(docs[i], i as i32, &encode(&[*x, (1.0 - x * x).sqrt()]));
        }
        v.push(docs[0], 9, &encode(&[1.0, 0.0, 0.0]));
        // Row 4 (the best) is filtered out; the 3-dimensional row never scores.
        let best = top_k_rows(&[1.0, 0.0], &v, 2, |b, r| b.documents[r] != docs[4]);
        let rows: Vec<usize> = best.iter().map(|x| x.1).collect();
        assert_eq!(rows, vec![1, 3]);
        assert!((best[0].2 - 0.9).abs() < 1e-6);
        assert_eq!(top_k_rows(&[1.0, 0.0], &v, 10, |_, _| true).len(), 5);
    }

    #[test]
    fn top_k_keeps_the_best_in_order() {
        let scored = vec![("a", 0.1), ("b", 0.9), ("c", 0.5), ("d", 0.7)];
        let keys: Vec<&str> = top_k(scored, 2).into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, vec!["b", "d"]);
    }
}
