//! The base sequence encoder `H = BaseEncoder(X)` (§2.1.1): a stack of selective-SSM blocks or of
//! linear-attention blocks, with its state carried across segments — or, for the evaluation's
//! baselines, of LSTM, GRU or sliding-window Transformer blocks.

mod attention;
mod linear_attention;
mod recurrent;
mod selective_ssm;
mod sliding_window;

pub use linear_attention::{
    LinearAttentionBlock, LinearAttentionBlockConfig, LinearAttentionState,
};
pub use recurrent::{RecurrentBlock, RecurrentBlockConfig, RecurrentCell, RecurrentState};
pub use selective_ssm::{SelectiveSsmBlock, SelectiveSsmBlockConfig, SsmState};
pub use sliding_window::{SlidingWindowBlock, SlidingWindowBlockConfig, SlidingWindowState};

use burn::config::Config;
use burn::module::Module;
use burn::nn::{LayerNorm, LayerNormConfig};
use burn::tensor::{Device, Tensor};

use crate::config::EncoderKind;
use crate::state_map::{Detach, Name, TensorMap};

/// One encoder block of either kind.
#[derive(Module, Debug)]
pub enum EncoderBlock {
    /// Selective SSM (Mamba).
    Ssm(SelectiveSsmBlock),
    /// Linear-attention transformer.
    LinearAttention(LinearAttentionBlock),
    /// LSTM or GRU.
    Recurrent(RecurrentBlock),
    /// Sliding-window softmax-attention transformer.
    SlidingWindow(SlidingWindowBlock),
}

/// The state of one block.
#[derive(Debug, Clone)]
pub enum BlockState {
    /// See [`SsmState`].
    Ssm(SsmState),
    /// See [`LinearAttentionState`].
    LinearAttention(LinearAttentionState),
    /// See [`RecurrentState`].
    Recurrent(RecurrentState),
    /// See [`SlidingWindowState`].
    SlidingWindow(SlidingWindowState),
}

/// The encoder's state: one entry per block.
#[derive(Debug, Clone)]
pub struct EncoderState {
    /// Per block, in order.
    pub blocks: Vec<BlockState>,
}

impl EncoderState {
    /// Cuts the autodiff graph at a segment boundary.
    pub fn detach(self) -> Self {
        self.map_tensors(Name::ROOT, &mut Detach)
    }

    /// Applies `f` to each block's tensors, named `blocks.{i}.{field}` under `prefix`.
    pub fn map_tensors(self, prefix: Name<'_>, f: &mut impl TensorMap) -> Self {
        let list = prefix.field("blocks");
        let blocks = self
            .blocks
            .into_iter()
            .enumerate()
            .map(|(i, s)| {
                let name = list.index(i);
                match s {
                    BlockState::Ssm(s) => BlockState::Ssm(s.map_tensors(name, f)),
                    BlockState::LinearAttention(s) => {
                        BlockState::LinearAttention(s.map_tensors(name, f))
                    }
                    BlockState::Recurrent(s) => BlockState::Recurrent(s.map_tensors(name, f)),
                    BlockState::SlidingWindow(s) => {
                        BlockState::SlidingWindow(s.map_tensors(name, f))
                    }
                }
            })
            .collect();
        Self { blocks }
    }

    /// Each row's state handed to the next row (the last row's to the first). After the
    /// hand-off a row's encoder knows nothing of that row's past — as after a gap far beyond
    /// the encoder's memory — yet its state is one that real inputs produce (another row's),
    /// holding another row's past as a distractor. Training with a hand-off at segment
    /// boundaries ([`crate::train::Trainer::simulate_gaps`]) leaves the memories as the only
    /// way across a boundary, which is what they must be after 100K tokens.
    pub fn handed_on(self) -> Self {
        self.map_tensors(Name::ROOT, &mut NextRow)
    }
}

/// Row `b` of each tensor becomes row `b + 1` of it (the last is the first); one row stays.
struct NextRow;

impl TensorMap for NextRow {
    fn map<const D: usize>(&mut self, _: Name<'_>, t: Tensor<D>) -> Tensor<D> {
        let rows = t.dims()[0];
        if rows < 2 {
            return t;
        }
        Tensor::cat(vec![t.clone().narrow(0, 1, rows - 1), t.narrow(0, 0, 1)], 0)
    }
}

/// Configuration of the [`BaseEncoder`]: the block family and every block's sizes. The
/// defaults are the associated constants below, which [`crate::DmnConfig`]'s flat encoder
/// fields take as theirs too (one place for each default).
#[derive(Config, Debug)]
pub struct EncoderConfig {
    /// Block family.
    pub kind: EncoderKind,
    /// Width `D`.
    pub d_model: usize,
    /// Blocks in the stack.
    pub n_layers: usize,
    /// SSM state size `N`.
    #[config(default = "EncoderConfig::D_STATE")]
    pub d_state: usize,
    /// SSM inner width is `expand · D`.
    #[config(default = "EncoderConfig::EXPAND")]
    pub expand: usize,
    /// Width of the SSM's causal convolution.
    #[config(default = "EncoderConfig::D_CONV")]
    pub d_conv: usize,
    /// Rank of the SSM's Δ projection.
    #[config(default = 4)]
    pub dt_rank: usize,
    /// Heads of the attention blocks.
    #[config(default = "EncoderConfig::ATTN_HEADS")]
    pub attn_heads: usize,
    /// Tokens the sliding-window Transformer sees.
    #[config(default = "EncoderConfig::ATTN_WINDOW")]
    pub attn_window: usize,
    /// Time chunk of the reference scan and of linear attention.
    #[config(default = "EncoderConfig::SCAN_CHUNK")]
    pub scan_chunk: usize,
    /// Run the scan as its WGSL kernel on wgpu devices.
    #[config(default = true)]
    pub kernels: bool,
}

impl EncoderConfig {
    /// Default SSM state size (Mamba's `d_state`).
    pub const D_STATE: usize = 16;
    /// Default SSM expansion (Mamba uses 2).
    pub const EXPAND: usize = 2;
    /// Default causal-convolution width.
    pub const D_CONV: usize = 4;
    /// Default attention heads.
    pub const ATTN_HEADS: usize = 4;
    /// Default sliding-window length.
    pub const ATTN_WINDOW: usize = 128;
    /// Default scan chunk: on a CPU, chunks of 4–8 are fastest (see `DmnConfig::scan_chunk`).
    pub const SCAN_CHUNK: usize = 8;
}

/// The stack of blocks and a final norm.
#[derive(Module, Debug)]
pub struct BaseEncoder {
    blocks: Vec<EncoderBlock>,
    norm: LayerNorm,
}

impl EncoderConfig {
    /// Initializes `n_layers` blocks of the configured kind.
    pub fn init(&self, device: &Device) -> BaseEncoder {
        let blocks = (0..self.n_layers).map(|_| self.block(device)).collect();
        BaseEncoder {
            blocks,
            norm: LayerNormConfig::new(self.d_model).init(device),
        }
    }

    fn block(&self, device: &Device) -> EncoderBlock {
        let d = self.d_model;
        match self.kind {
            EncoderKind::Ssm => EncoderBlock::Ssm(
                SelectiveSsmBlockConfig::new(
                    d,
                    self.d_state,
                    self.expand,
                    self.d_conv,
                    self.dt_rank,
                    self.scan_chunk,
                )
                .with_kernels(self.kernels)
                .init(device),
            ),
            EncoderKind::LinearAttention => EncoderBlock::LinearAttention(
                LinearAttentionBlockConfig::new(d, self.attn_heads, self.scan_chunk).init(device),
            ),
            EncoderKind::Lstm => EncoderBlock::Recurrent(
                RecurrentBlockConfig::new(d, RecurrentCell::Lstm).init(device),
            ),
            EncoderKind::Gru => EncoderBlock::Recurrent(
                RecurrentBlockConfig::new(d, RecurrentCell::Gru).init(device),
            ),
            EncoderKind::Transformer => EncoderBlock::SlidingWindow(
                SlidingWindowBlockConfig::new(d, self.attn_heads, self.attn_window).init(device),
            ),
        }
    }
}

impl BaseEncoder {
    /// A zero state for a batch.
    pub fn init_state(&self, batch: usize, device: &Device) -> EncoderState {
        let blocks = self
            .blocks
            .iter()
            .map(|b| match b {
                EncoderBlock::Ssm(b) => BlockState::Ssm(b.init_state(batch, device)),
                EncoderBlock::LinearAttention(b) => {
                    BlockState::LinearAttention(b.init_state(batch, device))
                }
                EncoderBlock::Recurrent(b) => BlockState::Recurrent(b.init_state(batch, device)),
                EncoderBlock::SlidingWindow(b) => {
                    BlockState::SlidingWindow(b.init_state(batch, device))
                }
            })
            .collect();
        EncoderState { blocks }
    }

    /// # Shapes
    /// - x: `[B, L, D]` (embedded tokens) → h: `[B, L, D]`
    pub fn forward(&self, mut x: Tensor<3>, state: EncoderState) -> (Tensor<3>, EncoderState) {
        assert_eq!(
            state.blocks.len(),
            self.blocks.len(),
            "encoder state has the wrong number of blocks"
        );
        let mut next = Vec::with_capacity(self.blocks.len());
        for (block, st) in self.blocks.iter().zip(state.blocks) {
            let s = match (block, st) {
                (EncoderBlock::Ssm(b), BlockState::Ssm(s)) => {
                    let (y, s) = b.forward(x, s);
                    x = y;
                    BlockState::Ssm(s)
                }
                (EncoderBlock::LinearAttention(b), BlockState::LinearAttention(s)) => {
                    let (y, s) = b.forward(x, s);
                    x = y;
                    BlockState::LinearAttention(s)
                }
                (EncoderBlock::Recurrent(b), BlockState::Recurrent(s)) => {
                    let (y, s) = b.forward(x, s);
                    x = y;
                    BlockState::Recurrent(s)
                }
                (EncoderBlock::SlidingWindow(b), BlockState::SlidingWindow(s)) => {
                    let (y, s) = b.forward(x, s);
                    x = y;
                    BlockState::SlidingWindow(s)
                }
                _ => panic!("encoder state does not match the encoder kind"),
            };
            next.push(s);
        }
        (self.norm.forward(x), EncoderState { blocks: next })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hand_off_gives_each_row_the_next_rows_state() {
        let device = Device::flex();
        let h = Tensor::<3>::from_floats([[[0.0]], [[1.0]], [[2.0]]], &device);
        let cell = Tensor::<2>::from_floats([[10.0], [11.0], [12.0]], &device);
        let state = EncoderState {
            blocks: vec![
                BlockState::Ssm(SsmState { conv: None, h }),
                BlockState::Recurrent(RecurrentState {
                    hidden: cell.clone(),
                    cell: Some(cell),
                }),
            ],
        };
        let rows = |t: Tensor<1>| t.into_data().try_to_vec::<f32>().unwrap();
        let handed = state.handed_on();
        let BlockState::Ssm(ssm) = &handed.blocks[0] else {
            panic!("the block kinds stay")
        };
        assert_eq!(rows(ssm.h.clone().reshape([3])), [1.0, 2.0, 0.0]);
        let BlockState::Recurrent(rec) = &handed.blocks[1] else {
            panic!("the block kinds stay")
        };
        assert_eq!(rows(rec.hidden.clone().reshape([3])), [11.0, 12.0, 10.0]);
        assert_eq!(
            rows(rec.cell.clone().unwrap().reshape([3])),
            [11.0, 12.0, 10.0]
        );
    }
}
