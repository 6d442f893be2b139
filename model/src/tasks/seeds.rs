//! Seeds of the data a run trains and is evaluated on. Every generator draws from a seeded
//! `StdRng`, so a step's batch and an evaluation's sequences are the same on every machine, in
//! the command line, the desktop trainer and the browser.

/// Seed of held-out data (evaluations, traced sequences). The data at a distance or length `d`
/// comes from `step_seed(EVAL_SEED, d)`, and step `n` of a run with seed `s` trains on
/// `step_seed(s, n)`: were this seed a training seed (runs use small ones), evaluating at
/// distance `d` would replay training step `d`, and a model would be scored on what it trained
/// on.
pub const EVAL_SEED: u64 = 1_000_003;

/// Mixes a seed with a step number (or a distance) into the seed of an independent stream.
pub fn step_seed(seed: u64, step: u64) -> u64 {
    // SplitMix64 finalizer: distinct, well-spread seeds for neighbouring steps.
    let mut z = seed ^ step.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neighbouring_steps_get_distinct_well_spread_seeds() {
        let seeds: Vec<u64> = (0..1000).map(|step| step_seed(0, step)).collect();
        let mut distinct = seeds.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), seeds.len());
        // Consecutive seeds differ in about half their bits.
        let flipped: u32 = seeds.windows(2).map(|w| (w[0] ^ w[1]).count_ones()).sum();
        let mean = f64::from(flipped) / 999.0;
        assert!(
            (28.0..36.0).contains(&mean),
            "{mean} bits differ on average"
        );
    }

    #[test]
    fn held_out_streams_are_not_training_streams() {
        // The first steps of runs with small seeds never draw an evaluation's data.
        let held_out: Vec<u64> = (1..=100_000)
            .step_by(97)
            .map(|d| step_seed(EVAL_SEED, d))
            .collect();
        for seed in 0..4 {
            for step in 1..=2000 {
                assert!(!held_out.contains(&step_seed(seed, step)));
            }
        }
    }

    #[test]
    fn the_mix_is_the_splitmix64_finalizer() {
        // SplitMix64's published output for state 0x9E3779B97F4A7C15 (its first step from 0).
        assert_eq!(step_seed(0, 1), 0xE220_A839_7B1D_CDAF);
    }
}
