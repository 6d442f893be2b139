//! Overlap scores of a predicted token sequence against a reference, as used to grade
//! summaries ([`KeySentences`](super::KeySentences)) and free-form answers: the unigram F1 of
//! SQuAD (Rajpurkar et al. 2016) and ROUGE-L (Lin 2004). Both lie in `[0, 1]`, are 1 for
//! identical non-empty sequences and 0 when the sequences share no token or either is empty.

use std::collections::HashMap;

/// Bag-of-tokens F1: with `common` the number of tokens the two share, counted with clipping
/// (a token occurring 3 times in `pred` and twice in `reference` counts twice), precision
/// `P = common / |pred|`, recall `R = common / |reference|` and `F1 = 2PR / (P + R)`.
///
/// As SQuAD's token F1, except that two empty sequences score 0 (SQuAD gives 1), like
/// [`rouge_l`]. O(|pred| + |reference|).
pub fn unigram_f1(pred: &[u32], reference: &[u32]) -> f64 {
    if pred.is_empty() || reference.is_empty() {
        return 0.0;
    }
    let mut counts: HashMap<u32, usize> = HashMap::new();
    for &t in reference {
        *counts.entry(t).or_default() += 1;
    }
    let mut common = 0usize;
    for t in pred {
        if let Some(c) = counts.get_mut(t).filter(|c| **c > 0) {
            *c -= 1;
            common += 1;
        }
    }
    f_measure(common, pred.len(), reference.len())
}

/// ROUGE-L: with `lcs` the length of the longest common subsequence of the two sequences
/// (in-order matches, gaps allowed), `P = lcs / |pred|`, `R = lcs / |reference|` and the
/// F-measure with β = 1, `F = 2PR / (P + R)`; 0 when either sequence is empty.
///
/// O(|pred| · |reference|) time, O(min(|pred|, |reference|)) memory.
pub fn rouge_l(pred: &[u32], reference: &[u32]) -> f64 {
    if pred.is_empty() || reference.is_empty() {
        return 0.0;
    }
    f_measure(lcs(pred, reference), pred.len(), reference.len())
}

/// Length of the longest common subsequence, one dynamic-programming row at a time.
fn lcs(a: &[u32], b: &[u32]) -> usize {
    let (long, short) = if a.len() >= b.len() { (a, b) } else { (b, a) };
    let mut prev = vec![0usize; short.len() + 1];
    let mut cur = vec![0usize; short.len() + 1];
    for &x in long {
        for (j, &y) in short.iter().enumerate() {
            cur[j + 1] = if x == y {
                prev[j] + 1
            } else {
                prev[j + 1].max(cur[j])
            };
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[short.len()]
}

/// `2PR / (P + R)` with `P = matched / predicted`, `R = matched / reference`; 0 when nothing matched.
fn f_measure(matched: usize, predicted: usize, reference: usize) -> f64 {
    if matched == 0 {
        return 0.0;
    }
    let p = matched as f64 / predicted as f64;
    let r = matched as f64 / reference as f64;
    2.0 * p * r / (p + r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn hand_computed_examples() {
        // LCS [1, 3, 4]: P = R = 3/4.
        assert!(close(rouge_l(&[1, 2, 3, 4], &[1, 3, 5, 4]), 0.75));
        // Shared tokens {1, 3, 4}: P = R = 3/4.
        assert!(close(unigram_f1(&[1, 2, 3, 4], &[1, 3, 5, 4]), 0.75));
        // Order matters to ROUGE-L only: LCS of [4, 3, 2, 1] and [1, 2, 3, 4] is 1.
        assert!(close(rouge_l(&[4, 3, 2, 1], &[1, 2, 3, 4]), 0.25));
        assert!(close(unigram_f1(&[4, 3, 2, 1], &[1, 2, 3, 4]), 1.0));
        // Clipped counts: pred [7, 7, 7] against ref [7, 8]: common 1, P = 1/3, R = 1/2, F = 0.4.
        assert!(close(unigram_f1(&[7, 7, 7], &[7, 8]), 0.4));
        assert!(close(unigram_f1(&[7, 8], &[7, 7, 7]), 0.4));
        // ROUGE-L with different lengths: pred [1, 2], ref [1, 9, 2, 9, 9, 9]: LCS 2,
        // P = 1, R = 1/3, F = 2 · 1/3 / (4/3) = 0.5.
        assert!(close(rouge_l(&[1, 2], &[1, 9, 2, 9, 9, 9]), 0.5));
        assert!(close(rouge_l(&[1, 9, 2, 9, 9, 9], &[1, 2]), 0.5));
    }

    #[test]
    fn identical_disjoint_and_empty() {
        let s = [5, 1, 5, 2, 9];
        assert!(close(rouge_l(&s, &s), 1.0));
        assert!(close(unigram_f1(&s, &s), 1.0));
        assert_eq!(rouge_l(&[1, 2], &[3, 4, 5]), 0.0);
        assert_eq!(unigram_f1(&[1, 2], &[3, 4, 5]), 0.0);
        for (a, b) in [
            (&[][..], &[1u32][..]),
            (&[1][..], &[][..]),
            (&[][..], &[][..]),
        ] {
            assert_eq!(rouge_l(a, b), 0.0);
            assert_eq!(unigram_f1(a, b), 0.0);
        }
    }

    #[test]
    fn lcs_matches_a_brute_force_on_small_cases() {
        // All subsequences of `a` (≤ 8 long), longest that is also a subsequence of `b`.
        fn is_subsequence(s: &[u32], b: &[u32]) -> bool {
            let mut it = b.iter();
            s.iter().all(|x| it.any(|y| y == x))
        }
        let cases: [(&[u32], &[u32]); 4] = [
            (&[1, 2, 3, 2, 1], &[2, 1, 2, 3, 1, 2]),
            (&[0, 0, 0], &[0, 1, 0]),
            (&[3, 1, 4, 1, 5, 9, 2, 6], &[2, 7, 1, 8, 2, 8, 1, 8]),
            (&[1], &[2, 3, 1]),
        ];
        for (a, b) in cases {
            let best = (0u32..1 << a.len())
                .filter_map(|m| {
                    let s: Vec<u32> = (0..a.len())
                        .filter(|i| m >> i & 1 == 1)
                        .map(|i| a[i])
                        .collect();
                    is_subsequence(&s, b).then_some(s.len())
                })
                .max()
                .unwrap();
            assert_eq!(lcs(a, b), best, "{a:?} {b:?}");
            assert_eq!(lcs(b, a), best);
        }
    }
}
