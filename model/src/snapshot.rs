//! The streaming state as plain data: every tensor of a [`DmnState`] under its name
//! ([`crate::state_map`]) with its host-side counters, and back. A state restored from its
//! snapshot continues a stream bit for bit as the original would have; the file format around
//! it (safetensors with a JSON header) belongs to the application.

use std::collections::BTreeMap;

use burn::tensor::{Device, Tensor, TensorData};

use crate::long_term_memory::LevelBlock;
use crate::model::{Dmn, DmnState};
use crate::state_map::{Name, TensorMap};

/// One tensor as shape and values (row-major).
#[derive(Debug, Clone, PartialEq)]
pub struct NamedTensor {
    /// Dimensions.
    pub shape: Vec<usize>,
    /// `shape.iter().product()` values.
    pub values: Vec<f32>,
}

/// A state's tensors and counters by name, in name order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StateSnapshot {
    /// `encoder.blocks.0.h`, `working.slots`, `long_term.levels.3.entries`, …
    pub tensors: BTreeMap<String, NamedTensor>,
    /// `segments`, `long_term.levels.3.span`, …
    pub counters: BTreeMap<String, u64>,
}

/// Why a snapshot does not fit a model. Messages read after the snapshot's name.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SnapshotError {
    /// A tensor or counter of the model's state is absent.
    #[error("lacks `{0}`, which this model's state has")]
    Missing(String),
    /// A tensor has another shape than the model's.
    #[error("holds `{name}` of shape {found:?} where this model's state has {expected:?}")]
    Shape {
        /// Tensor name.
        name: String,
        /// The model's shape.
        expected: Vec<usize>,
        /// The snapshot's shape.
        found: Vec<usize>,
    },
    /// A tensor's values do not fill its shape.
    #[error("holds `{name}` with {found} values for a shape of {expected}")]
    Size {
        /// Tensor name.
        name: String,
        /// Elements of the shape.
        expected: usize,
        /// Values present.
        found: usize,
    },
    /// Tensors or counters the model's state does not have.
    #[error("holds what this model's state does not have ({0})")]
    Unused(String),
}

impl DmnState {
    /// The state's tensors (read back to the host) and counters.
    pub fn snapshot(&self) -> StateSnapshot {
        let mut collect = Collect::default();
        self.clone().map_tensors(&mut collect);
        collect.0
    }
}

impl Dmn {
    /// The state that `snapshot` describes, on `device`, checked against this model's own
    /// state of the same batch: every tensor present with this model's shape, nothing extra.
    pub fn restore_state(
        &self,
        mut snapshot: StateSnapshot,
        device: &Device,
    ) -> Result<DmnState, SnapshotError> {
        let batch = snapshot
            .tensors
            .values()
            .find_map(|t| t.shape.first().copied())
            .unwrap_or(1);
        let mut template = self.init_state(batch, device);
        // Which levels are occupied is data, not shape: the template holds a zero block
        // wherever the snapshot has one, which the restore then overwrites and checks.
        if let (Some(ltm), Some(state)) = (self.long_term_memory(), template.long_term.as_mut()) {
            for (i, level) in state.levels.iter_mut().enumerate() {
                if snapshot
                    .counters
                    .contains_key(&format!("long_term.levels.{i}.span"))
                {
                    *level = Some(LevelBlock::zeros(
                        batch,
                        ltm.per_level(),
                        self.d_model(),
                        device,
                    ));
                }
            }
        }
        let mut restore = Restore {
            snapshot: &mut snapshot,
            device,
            error: None,
        };
        let state = template.map_tensors(&mut restore);
        if let Some(e) = restore.error {
            return Err(e);
        }
        let unused: Vec<String> = snapshot
            .tensors
            .keys()
            .chain(snapshot.counters.keys())
            .cloned()
            .collect();
        if !unused.is_empty() {
            return Err(SnapshotError::Unused(unused.join(", ")));
        }
        Ok(state)
    }
}

/// Records every tensor and counter.
#[derive(Default)]
struct Collect(StateSnapshot);

impl TensorMap for Collect {
    fn map<const D: usize>(&mut self, name: Name<'_>, t: Tensor<D>) -> Tensor<D> {
        let data = t.to_data().convert::<f32>();
        let values = data.try_to_vec::<f32>().expect("converted to f32 above");
        let shape = t.dims().to_vec();
        self.0
            .tensors
            .insert(name.to_string(), NamedTensor { shape, values });
        t
    }

    fn count(&mut self, name: Name<'_>, value: u64) -> u64 {
        self.0.counters.insert(name.to_string(), value);
        value
    }
}

/// Replaces each tensor and counter of a template by the snapshot's, keeping the first error.
struct Restore<'a> {
    snapshot: &'a mut StateSnapshot,
    device: &'a Device,
    error: Option<SnapshotError>,
}

impl Restore<'_> {
    fn fail(&mut self, e: SnapshotError) {
        self.error.get_or_insert(e);
    }
}

impl TensorMap for Restore<'_> {
    fn map<const D: usize>(&mut self, name: Name<'_>, t: Tensor<D>) -> Tensor<D> {
        let name = name.to_string();
        let Some(found) = self.snapshot.tensors.remove(&name) else {
            self.fail(SnapshotError::Missing(name));
            return t;
        };
        let expected = t.dims().to_vec();
        if found.shape != expected {
            self.fail(SnapshotError::Shape {
                name,
                expected,
                found: found.shape,
            });
            return t;
        }
        let elements = expected.iter().product();
        if found.values.len() != elements {
            self.fail(SnapshotError::Size {
                name,
                expected: elements,
                found: found.values.len(),
            });
            return t;
        }
        Tensor::from_data(TensorData::new(found.values, expected), self.device)
    }

    fn count(&mut self, name: Name<'_>, value: u64) -> u64 {
        let name = name.to_string();
        match self.snapshot.counters.remove(&name) {
            Some(v) => v,
            None => {
                self.fail(SnapshotError::Missing(name));
                value
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DmnConfig, ForwardOptions};
    use burn::tensor::Int;

    fn tokens(seed: i64, len: usize, device: &Device) -> Tensor<2, Int> {
        let values: Vec<i64> = (0..len as i64).map(|t| (t * 7 + seed) % 20).collect();
        Tensor::from_data(TensorData::new(values, [1, len]), device)
    }

    /// A stream split at a snapshot continues bit for bit as the unbroken stream.
    #[test]
    fn a_restored_state_continues_the_stream_bit_for_bit() {
        let device = Device::flex();
        let model = DmnConfig::tiny(20).init(&device).unwrap();
        let seg = model.segment_len();
        let mut state = model.init_state(1, &device);
        // Enough segments for long-term levels to fill.
        for s in 0..6 {
            state = model
                .forward_segment(state, tokens(s, seg, &device), ForwardOptions::default())
                .1;
        }
        let snapshot = state.snapshot();
        assert!(
            snapshot
                .tensors
                .keys()
                .any(|k| k.starts_with("long_term.levels"))
        );
        assert!(snapshot.tensors.contains_key("working.slots"));
        assert_eq!(snapshot.counters["segments"], 6);
        let restored = model.restore_state(snapshot.clone(), &device).unwrap();
        assert_eq!(restored.snapshot(), snapshot);

        let next = |state| {
            let (out, state) =
                model.forward_segment(state, tokens(9, seg, &device), ForwardOptions::default());
            (out.logits.into_data().try_to_vec::<f32>().unwrap(), state)
        };
        let (a, a_state) = next(state);
        let (b, b_state) = next(restored);
        assert_eq!(a, b);
        assert_eq!(a_state.snapshot(), b_state.snapshot());
    }

    #[test]
    fn a_snapshot_of_another_model_is_refused_naming_what_differs() {
        let device = Device::flex();
        let model = DmnConfig::tiny(20).init(&device).unwrap();
        let snapshot = model.init_state(1, &device).snapshot();

        let other = DmnConfig::small(20).init(&device).unwrap();
        let e = other.restore_state(snapshot.clone(), &device).unwrap_err();
        assert!(matches!(e, SnapshotError::Shape { .. }), "{e}");

        let mut missing = snapshot.clone();
        missing.tensors.remove("working.slots");
        let e = model.restore_state(missing, &device).unwrap_err();
        assert_eq!(e, SnapshotError::Missing("working.slots".into()));

        let mut extra = snapshot.clone();
        extra.counters.insert("stray".into(), 1);
        let e = model.restore_state(extra, &device).unwrap_err();
        assert_eq!(e, SnapshotError::Unused("stray".into()));

        let mut short = snapshot;
        short.tensors.get_mut("working.age").unwrap().values.pop();
        let e = model.restore_state(short, &device).unwrap_err();
        assert!(matches!(e, SnapshotError::Size { .. }), "{e}");
    }
}
