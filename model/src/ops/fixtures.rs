//! Each op at a chosen size on random inputs, as the kernel parity tests
//! (`tests/integration/kernels.rs`) and `dmn bench kernels` run it: an [`OpCase`] holds the
//! inputs as data and runs the op on them, by the WGSL kernels or by the reference
//! ([`super::auto`]).
//!
//! Inputs are rank-3 arrays (lower ranks stored as `[1, …]` and reshaped when run), so that one
//! harness can put any op's inputs on a device, mark some for gradients and collect them.

use burn::tensor::{Distribution, Tensor, TensorData};
use rand::Rng;

use super::{ScanInputs, WriteRequest, auto};

/// Runs an op on its rank-3 inputs: the kernels when asked (where they run), else the reference.
pub type Run = Box<dyn Fn(&[Tensor<3>], bool) -> Vec<Tensor<3>>>;

/// One op at one size.
pub struct OpCase {
    /// The inputs, rank 3 each, in the order `run` takes them.
    pub inputs: Vec<TensorData>,
    /// The inputs' names, in the same order.
    pub input_names: Vec<&'static str>,
    /// Which inputs are differentiable (the others are constants or statistics).
    pub grad: Vec<bool>,
    /// Names of the outputs `run` returns, in order.
    pub output_names: Vec<&'static str>,
    /// The op, through [`auto`]: `run(inputs, true)` takes the kernels.
    pub run: Run,
}

impl OpCase {
    /// What a parity check compares, by name: the outputs, then the gradient of each input
    /// marked in `grad` (`d` and the input's name).
    pub fn compared(&self) -> Vec<String> {
        let outputs = self.output_names.iter().map(|name| name.to_string());
        let grads = (self.input_names.iter().zip(&self.grad))
            .filter(|(_, grad)| **grad)
            .map(|(name, _)| format!("d{name}"));
        outputs.chain(grads).collect()
    }
}

/// Random data of `shape` from `rng`.
pub fn random(rng: &mut impl Rng, shape: [usize; 3], distribution: Distribution) -> TensorData {
    TensorData::random::<f32, _, _>(shape, distribution, rng)
}

const NORMAL: Distribution = Distribution::Normal(0.0, 1.0);
const UNIT: Distribution = Distribution::Uniform(0.0, 1.0);

/// A scan over `[B, L, E, N]`; the reference runs in time chunks of `chunk`. Inputs: x, Δ, a_log,
/// B, C, D, h0.
pub fn scan(rng: &mut impl Rng, [bs, l, e, n]: [usize; 4], chunk: usize) -> OpCase {
    OpCase {
        inputs: vec![
            random(rng, [bs, l, e], NORMAL),
            random(rng, [bs, l, e], Distribution::Uniform(0.01, 0.5)),
            random(rng, [1, e, n], Distribution::Uniform(-1.0, 1.0)),
            random(rng, [bs, l, n], NORMAL),
            random(rng, [bs, l, n], NORMAL),
            random(rng, [1, 1, e], NORMAL),
            random(rng, [bs, e, n], NORMAL),
        ],
        input_names: vec!["x", "Δ", "a_log", "B", "C", "D", "h0"],
        grad: vec![true; 7],
        output_names: vec!["y", "h_last"],
        run: Box::new(move |t, kernels| {
            let inputs = ScanInputs {
                x: t[0].clone(),
                delta: t[1].clone(),
                a_log: t[2].clone().reshape([e, n]),
                b: t[3].clone(),
                c: t[4].clone(),
                d_skip: t[5].clone().reshape([e]),
                h0: t[6].clone(),
            };
            let out = auto::scan(kernels, inputs, chunk);
            vec![out.y, out.h_last]
        }),
    }
}

/// A read of `R` query rows from `K` slots of width `d`, `[B, R, d, K]`. Inputs: query, strength,
/// slots.
pub fn memory_read(rng: &mut impl Rng, [b, r, d, k]: [usize; 4], top_k: usize) -> OpCase {
    OpCase {
        inputs: vec![
            random(rng, [b, r, d], NORMAL),
            random(rng, [b, r, 1], Distribution::Uniform(1.0, 6.0)),
            random(rng, [b, k, d], NORMAL),
        ],
        input_names: vec!["query", "strength", "slots"],
        grad: vec![true; 3],
        output_names: vec!["read", "weights"],
        run: Box::new(move |t, kernels| {
            let strength = t[1].clone().reshape([b, r]);
            let out = auto::memory_read(kernels, t[0].clone(), strength, t[2].clone(), top_k);
            vec![out.read, out.weights]
        }),
    }
}

/// A write of `H` heads into `K` slots of width `d`, `[B, K, d, H]`; `empty`: zero slots, age,
/// usage and hold (a fresh memory, where every score and every usage ties). Inputs: slots, age,
/// usage, hold, then the request's key, strength, erase, add, write gate, allocation gate and
/// decay. Age, usage and hold are statistics and get no gradient. Holds and gates are both
/// uniform in [0, 1], so some slots are closed to some writes. The first row's write gates are
/// exactly 0 (an update that writes nothing) when `B > 1`.
pub fn memory_write(
    rng: &mut impl Rng,
    [b, k, d, h]: [usize; 4],
    top_k: usize,
    usage_decay: f32,
    empty: bool,
) -> OpCase {
    let zeros = |shape: [usize; 3]| TensorData::zeros::<f32, _>(shape);
    let memory = if empty {
        vec![
            zeros([b, k, d]),
            zeros([b, k, 1]),
            zeros([b, k, 1]),
            zeros([b, k, 1]),
        ]
    } else {
        vec![
            random(rng, [b, k, d], NORMAL),
            random(rng, [b, k, 1], Distribution::Uniform(0.0, 20.0)),
            random(rng, [b, k, 1], Distribution::Uniform(0.0, 3.0)),
            random(rng, [b, k, 1], UNIT),
        ]
    };
    let request = [
        random(rng, [b, h, d], NORMAL),
        random(rng, [b, h, 1], Distribution::Uniform(1.0, 6.0)),
        random(rng, [b, h, d], UNIT),
        random(rng, [b, h, d], NORMAL),
        closed_first_row(random(rng, [b, h, 1], UNIT), h),
        random(rng, [b, h, 1], UNIT),
        random(rng, [b, k, 1], Distribution::Uniform(0.0, 0.3)),
    ];
    OpCase {
        inputs: memory.into_iter().chain(request).collect(),
        input_names: vec![
            "slots",
            "age",
            "usage",
            "hold",
            "key",
            "strength",
            "erase",
            "add",
            "write_gate",
            "alloc_gate",
            "decay",
        ],
        grad: vec![
            true, false, false, false, true, true, true, true, true, true, true,
        ],
        output_names: vec!["slots", "write_weights", "age", "usage", "hold"],
        run: Box::new(move |t, kernels| {
            let per_slot = |i: usize| t[i].clone().reshape([b, k]);
            let per_head = |i: usize| t[i].clone().reshape([b, h]);
            let request = WriteRequest {
                key: t[4].clone(),
                strength: per_head(5),
                erase: t[6].clone(),
                add: t[7].clone(),
                write_gate: per_head(8),
                alloc_gate: per_head(9),
                decay: per_slot(10),
            };
            let (age, usage, hold) = (per_slot(1), per_slot(2), per_slot(3));
            let out = auto::memory_write(
                kernels,
                t[0].clone(),
                age,
                usage,
                hold,
                request,
                top_k,
                usage_decay,
            );
            vec![
                out.slots,
                out.write_weights,
                out.age.reshape([b, k, 1]),
                out.usage.reshape([b, k, 1]),
                out.hold.reshape([b, k, 1]),
            ]
        }),
    }
}

/// `gates` `[B, H, 1]` with the first row's `H` gates set to 0, when there is another row.
fn closed_first_row(gates: TensorData, h: usize) -> TensorData {
    let shape = gates.shape().clone();
    let mut v = gates.try_to_vec::<f32>().expect("f32 gates");
    if v.len() > h {
        v[..h].fill(0.0);
    }
    TensorData::new(v, shape)
}

/// Retrieval of `L` query rows from `M` levels of `m` entries of width `d`, `[B, L, d, M, m]`;
/// about 60 % of the entries are valid, the first always. Inputs: query, entries, level bias,
/// validity (1 or 0, a constant).
pub fn retrieve(rng: &mut impl Rng, [b, l, d, m, per]: [usize; 5]) -> OpCase {
    let e = m * per;
    let query = random(rng, [b, l, d], NORMAL);
    let ltm = random(rng, [b, e, d], NORMAL);
    let bias = random(rng, [1, 1, m], NORMAL);
    let mut valid: Vec<f32> = random(rng, [b, e, 1], UNIT)
        .iter::<f32>()
        .map(|v| if v < 0.6 { 1.0 } else { 0.0 })
        .collect();
    valid[0] = 1.0;
    OpCase {
        inputs: vec![query, ltm, bias, TensorData::new(valid, [b, e, 1])],
        input_names: vec!["query", "ltm", "level_bias", "valid"],
        grad: vec![true, true, true, false],
        output_names: vec!["context", "weights"],
        run: Box::new(move |t, kernels| {
            let valid = t[3].clone().reshape([b, e]).greater_elem(0.5);
            let bias = t[2].clone().reshape([m]);
            let out = auto::retrieve(kernels, t[0].clone(), t[1].clone(), bias, valid);
            vec![out.context, out.weights]
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    /// Each case's inputs have the shapes its `run` takes, and it names every input and
    /// output.
    #[test]
    fn cases_run_on_their_inputs_and_name_everything() {
        let mut rng = StdRng::seed_from_u64(0);
        let device = Device::flex();
        for case in [
            scan(&mut rng, [2, 5, 3, 2], 4),
            memory_read(&mut rng, [2, 3, 4, 5], 2),
            memory_write(&mut rng, [2, 5, 4, 2], 2, 0.9, false),
            memory_write(&mut rng, [1, 3, 2, 1], 1, 0.9, true),
            retrieve(&mut rng, [2, 3, 4, 2, 3]),
        ] {
            let inputs: Vec<Tensor<3>> = case
                .inputs
                .iter()
                .map(|data| Tensor::from_data(data.clone(), &device))
                .collect();
            let outputs = (case.run)(&inputs, false);
            assert_eq!(case.input_names.len(), case.inputs.len());
            assert_eq!(case.grad.len(), case.inputs.len());
            assert_eq!(case.output_names.len(), outputs.len());
        }
    }

    #[test]
    fn compared_names_the_outputs_then_the_marked_gradients() {
        let mut case = memory_read(&mut StdRng::seed_from_u64(0), [1, 2, 3, 4], 2);
        case.grad[1] = false;
        assert_eq!(case.compared(), ["read", "weights", "dquery", "dslots"]);
    }

    #[test]
    fn the_same_seed_draws_the_same_inputs() {
        let draw = || scan(&mut StdRng::seed_from_u64(7), [1, 4, 2, 2], 4).inputs;
        assert_eq!(draw(), draw());
    }
}
