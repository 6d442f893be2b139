//! A tiny DMN learns needle retrieval at distance 64 on the CPU: the end-to-end check that
//! encoder, memory, losses and optimizer work together. It trains as `dmn train` does (step `s`
//! draws its batch and reseeds the device from `step_seed(seed, s)`), stops as soon as a held-out
//! batch of 256 samples reaches 93 % (about 350 steps, 2 CPU-minutes on two cores), and asserts
//! that the best held-out accuracy reached within 1,500 steps is at least 90 % (chance: 1/16).
//!
//! Then length extrapolation: the same model, which never saw a sequence longer than 74 tokens,
//! is asked 20,000 tokens after the needle (64 held-out sequences, a minute), and must recall at
//! least 90 %. Recall there rests on the memory's updates being exact no-ops where nothing is
//! written and on weak writes being unable to touch what a strong write stored (`hold` in
//! `dmn::ops::memory_write`); with decay and soft gates on every slot it fell to chance by 10K,
//! and with least-used allocation over all slots to 0.75–0.95.
//!
//! The outcome depends on the random numbers the run draws. The test holds the CPU backend's
//! generator for its whole run (other tests drawing from it in the middle change the outcome),
//! and `DMN_LEARN_SEED` runs it on another seed than 17. Measured at the commit that added
//! `hold`, best accuracy at 64 / recall at 20K by seed: 1.000 / 0.938 (17), 1.000 / 1.000 (1),
//! 0.887 / – (2: fails the first bar) and 1.000 / 1.000 (3); before it, 0.934, 0.938, 0.781 and
//! 0.883 at 64. So a change to the model's training dynamics is judged on several seeds, not by
//! whether seed 17 still passes:
//! `DMN_LEARN_SEED=2 cargo test -p dmn --test integration learning -- --nocapture`.

use burn::tensor::Device;
use dmn::DmnConfig;
use dmn::tasks::{EVAL_SEED, Needle, Task, step_seed};
use dmn::train::{OptimizerConfig, Trainer};
use rand::SeedableRng;
use rand::rngs::StdRng;

#[test]
fn tiny_model_learns_needle_retrieval_at_64_and_recalls_it_at_20000() {
    // Another seed (`DMN_LEARN_SEED`) measures how much an outcome owes to this one.
    let run_seed: u64 = env_or("DMN_LEARN_SEED", 17);
    // The run's random numbers are its own, so that it reaches the same accuracies every time.
    let _generator = dmn_test_support::cpu_random_numbers();
    let device = Device::flex().autodiff();
    device.seed(run_seed);
    let task = Needle::new(64, 16, 16, 8).unwrap();
    let config = DmnConfig::tiny(task.vocab_size());
    let model = config.init(&device).unwrap();
    let mut trainer = Trainer::new(model, config, OptimizerConfig::new(), device.clone());
    let steps: usize = env_or("DMN_LEARN_STEPS", 1500);
    let (mut accuracy, mut best) = (0.0, 0.0);
    for step in 1..=steps {
        let seed = step_seed(run_seed, step as u64);
        let batch = task.sample(&mut StdRng::seed_from_u64(seed), 32);
        device.seed(seed);
        let stats = trainer.step(&batch).read();
        if step % 50 == 0 {
            let eval = trainer
                .evaluate(&task.sample(&mut StdRng::seed_from_u64(EVAL_SEED), 256))
                .read();
            accuracy = eval.accuracy;
            best = f32::max(best, accuracy);
            eprintln!(
                "step {step}: train loss {:.3} acc {:.2} | held-out acc {:.3}",
                stats.loss, stats.accuracy, eval.accuracy
            );
            if best >= 0.93 {
                break;
            }
        }
    }
    // The best held-out accuracy the run reached (the model a run keeps is its best checkpoint).
    eprintln!("needle@64 held-out accuracy: best {best:.3}, last {accuracy:.3}");
    assert!(
        best >= 0.9,
        "needle retrieval at distance 64 reached only {best:.3}"
    );
    let far = Needle::new(20_000, 16, 16, 8).unwrap();
    let batch = far.sample(&mut StdRng::seed_from_u64(EVAL_SEED), 64);
    let recall = trainer.evaluate(&batch).read().accuracy;
    eprintln!("needle@20000 held-out accuracy of the model trained at 64: {recall:.3}");
    assert!(
        recall >= 0.9,
        "trained at distance 64, the model recalls only {recall:.3} at 20,000 (it reached \
         {accuracy:.3} at 64)"
    );
}

/// The environment variable `name` as a `T`, or `default` when unset or unreadable.
fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}
