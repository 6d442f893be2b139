//! Recurrent baseline blocks: an LSTM (Hochreiter & Schmidhuber 1997) or a GRU (Cho et al. 2014)
//! layer, pre-norm with a residual like the other blocks, its hidden (and cell) state carried
//! across segments. With both memories off they are the LSTM and GRU baselines of the
//! evaluation; the recurrence is burn-nn's, stepped token by token.

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Gru, GruConfig, LayerNorm, LayerNormConfig, Lstm, LstmConfig, LstmState};
use burn::tensor::{Device, Tensor};

use crate::state_map::{Name, TensorMap};

/// Which recurrent cell.
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum RecurrentCell {
    /// Long short-term memory: hidden and cell state.
    Lstm,
    /// Gated recurrent unit: hidden state only.
    Gru,
}

/// Configuration of one [`RecurrentBlock`].
#[derive(Config, Debug)]
pub struct RecurrentBlockConfig {
    /// Model width `D` (= hidden width).
    pub d_model: usize,
    /// The cell.
    pub cell: RecurrentCell,
}

/// The cell's parameters.
#[derive(Module, Debug)]
pub enum Cell {
    /// See [`RecurrentCell::Lstm`].
    Lstm(Lstm),
    /// See [`RecurrentCell::Gru`].
    Gru(Gru),
}

/// `y = x + RNN(LN(x))`.
#[derive(Module, Debug)]
pub struct RecurrentBlock {
    norm: LayerNorm,
    cell: Cell,
    d_model: usize,
}

/// State carried across segments.
#[derive(Debug, Clone)]
pub struct RecurrentState {
    /// Hidden state, `[B, D]`.
    pub hidden: Tensor<2>,
    /// Cell state, `[B, D]` (LSTM only).
    pub cell: Option<Tensor<2>>,
}

impl RecurrentState {
    /// Applies `f` to each tensor (see [`TensorMap`]).
    pub fn map_tensors(self, prefix: Name<'_>, f: &mut impl TensorMap) -> Self {
        Self {
            hidden: f.map(prefix.field("hidden"), self.hidden),
            cell: self.cell.map(|c| f.map(prefix.field("cell"), c)),
        }
    }
}

impl RecurrentBlockConfig {
    /// Initializes the block.
    pub fn init(&self, device: &Device) -> RecurrentBlock {
        let d = self.d_model;
        RecurrentBlock {
            norm: LayerNormConfig::new(d).init(device),
            cell: match self.cell {
                RecurrentCell::Lstm => Cell::Lstm(LstmConfig::new(d, d, true).init(device)),
                RecurrentCell::Gru => Cell::Gru(GruConfig::new(d, d, true).init(device)),
            },
            d_model: d,
        }
    }
}

impl RecurrentBlock {
    /// A zero state for a batch.
    pub fn init_state(&self, batch: usize, device: &Device) -> RecurrentState {
        let d = self.d_model;
        RecurrentState {
            hidden: Tensor::zeros([batch, d], device),
            cell: matches!(self.cell, Cell::Lstm(_)).then(|| Tensor::zeros([batch, d], device)),
        }
    }

    /// # Shapes
    /// - x: `[B, L, D]` → `[B, L, D]`
    pub fn forward(&self, x: Tensor<3>, state: RecurrentState) -> (Tensor<3>, RecurrentState) {
        let [b, l, d] = x.dims();
        let input = self.norm.forward(x.clone());
        let (y, next) = match &self.cell {
            Cell::Lstm(lstm) => {
                let cell = state.cell.expect("an LSTM block's state has a cell state");
                let (y, s) = lstm.forward(input, Some(LstmState::new(cell, state.hidden)));
                (
                    y,
                    RecurrentState {
                        hidden: s.hidden,
                        cell: Some(s.cell),
                    },
                )
            }
            Cell::Gru(gru) => {
                let y = gru.forward(input, Some(state.hidden));
                let hidden = y.clone().narrow(1, l - 1, 1).reshape([b, d]);
                (y, RecurrentState { hidden, cell: None })
            }
        };
        (x + y, next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Distribution, Tolerance};

    #[test]
    fn streaming_in_two_calls_equals_one_call() {
        let device = Device::flex();
        for cell in [RecurrentCell::Lstm, RecurrentCell::Gru] {
            let block = RecurrentBlockConfig::new(6, cell).init(&device);
            let x = Tensor::<3>::random([2, 9, 6], Distribution::Normal(0.0, 1.0), &device);
            let (whole, s_whole) = block.forward(x.clone(), block.init_state(2, &device));
            let (a, s) = block.forward(x.clone().narrow(1, 0, 4), block.init_state(2, &device));
            let (b, s_split) = block.forward(x.narrow(1, 4, 5), s);
            let split = Tensor::cat(vec![a, b], 1);
            whole
                .into_data()
                .assert_approx_eq::<f32>(&split.into_data(), Tolerance::absolute(1e-5));
            s_whole
                .hidden
                .into_data()
                .assert_approx_eq::<f32>(&s_split.hidden.into_data(), Tolerance::absolute(1e-5));
        }
    }
}
