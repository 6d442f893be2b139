//! Data-parallel training over two devices computes the same update as one device with the whole
//! batch. Burn has a single CPU device, so both workers run on it: this checks the sharding, the
//! loss weighting and the multi-device optimizer step, which are the same on several GPUs.

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{Device, Tensor, Tolerance};
use dmn::DmnConfig;
use dmn::tasks::{Needle, Task};
use dmn::train::{OptimizerConfig, Trainer};
use rand::SeedableRng;
use rand::rngs::StdRng;

struct Collect(Vec<Tensor<1>>);
impl ModuleVisitor for Collect {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let v = param.val();
        let n = v.shape().num_elements();
        self.0.push(v.reshape([n]));
    }
}

fn params(model: &impl Module) -> Tensor<1> {
    let mut c = Collect(Vec::new());
    model.visit(&mut c);
    Tensor::cat(c.0, 0)
}

#[test]
fn two_shards_update_like_one_device() {
    let _generator = dmn_test_support::cpu_random_numbers();
    let device = Device::flex().autodiff();
    device.seed(3);
    let task = Needle::new(20, 8, 8, 4).unwrap();
    // Off: the VAE terms (their ε is drawn per shard) and slot utilization (the entropy of a
    // batch mean is not the mean of the shards' entropies). Every other term is a per-row mean.
    let mut config = DmnConfig::tiny(task.vocab_size());
    config.loss_weights.utilization = 0.0;
    config.loss_weights.kl = 0.0;
    config.loss_weights.reconstruction = 0.0;
    let model = config.init(&device).unwrap();
    let mut single = Trainer::new(
        model.clone(),
        config.clone(),
        OptimizerConfig::new(),
        device.clone(),
    );
    let mut parallel = Trainer::data_parallel(
        model,
        config,
        OptimizerConfig::new(),
        vec![device.clone(), device.clone()],
    );
    for step in 0..2 {
        let batch = task.sample(&mut StdRng::seed_from_u64(step), 6);
        let a = single.step(&batch).read();
        let b = parallel.step(&batch).read();
        assert!(
            (a.loss - b.loss).abs() < 1e-4,
            "step {step}: {} vs {}",
            a.loss,
            b.loss
        );
        assert_eq!(a.accuracy, b.accuracy);
    }
    params(&parallel.model).into_data().assert_approx_eq::<f32>(
        &params(&single.model).into_data(),
        Tolerance::rel_abs(1e-3, 1e-5),
    );
}
