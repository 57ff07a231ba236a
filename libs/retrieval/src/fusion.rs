//! Reciprocal rank fusion (Cormack, Clarke and Büttcher, 2009): each list contributes
//! `1 / (k + rank)` (rank from 1) to an item's score; k = 60 as in the paper.
use std::{collections::HashMap, hash::Hash};

pub const RRF_K: f64 = 60.0;

/// One fused item: its score and its rank (from 1) in each input list, if present.
#[derive(Debug, Clone, PartialEq)]
pub struct Fused<K> {
    pub key: K,
    pub score: f64,
    pub ranks: Vec<Option<usize>>,
}

/// Fuses ranked lists (best first), best fused first; ties keep the first list's order.
pub fn rrf<K: Clone + Eq + Hash>(lists: &[Vec<K>], limit: usize) -> Vec<Fused<K>> {
    let mut by_key: HashMap<K, usize> = HashMap::new();
    let mut out: Vec<Fused<K>> = Vec::new();
    for (l, list) in lists.iter().enumerate() {
        for (r, key) in list.iter().enumerate() {
            let slot = *by_key.entry(key.clone()).or_insert_with(|| {
                out.push(Fused {
                    key: key.clone(),
                    score: 0.0,
                    ranks: vec![None; lists.len()],
                });
                out.len() - 1
            });
            let item = &mut out[slot];
            if item.ranks[l].is_none() {
                item.ranks[l] = Some(r + 1);
                item.score += 1.0 / (RRF_K + (r + 1) as f64);
            }
        }
    }
    // Stable sort: equal scores keep their first appearance's order.
    out.sort_by(|a, b| b.score.total_cmp(&a.score));
    out.truncate(limit);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_item_high_in_both_lists_beats_one_first_in_a_single_list() {
        let vector = vec!["a", "b", "c"];
        let text = vec!["b", "d", "a"];
        let fused = rrf(&[vector, text], 10);
        let keys: Vec<&str> = fused.iter().map(|f| f.key).collect();
        assert_eq!(keys, vec!["b", "a", "d", "c"]);
        assert_eq!(fused[0].ranks, vec![Some(2), Some(1)]);
        let expected = 1.0 / 62.0 + 1.0 / 61.0;
        assert!((fused[0].score - expected).abs() < 1e-12);
    }

    #[test]
    fn the_limit_cuts_the_fused_list() {
        assert_eq!(rrf(&[vec![1, 2, 3]], 2).len(), 2);
        assert!(rrf::<u8>(&[vec![], vec![]], 5).is_empty());
    }
}
