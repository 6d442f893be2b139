//! Memory snapshots (`dmn stream --save-state / --load-state`): the whole streaming state — scan
//! state, working memory, long-term levels, counters — in one safetensors file. Its tensors are
//! the state's under their names ([`dmn::snapshot`]); its metadata holds a JSON header under
//! `dmn_state` (format, run, config hash, token position, tokens read but not yet run, counters)
//! and, under `sha256`, a checksum of the header and every tensor. A changed byte is an error
//! naming the file; a state from another model is refused before it is used. [`to_bytes`] and
//! [`from_bytes`] need no file system, so the same bytes open natively and in the browser.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use burn::tensor::Device;
use dmn::snapshot::{NamedTensor, StateSnapshot};
use dmn::{Dmn, DmnConfig, DmnState};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The `format` every snapshot's header names.
pub const FORMAT: &str = "dmn-state";
/// The header's version; a newer one is refused with a message to update.
pub const VERSION: u32 = 1;
const HEADER_KEY: &str = "dmn_state";
const CHECKSUM_KEY: &str = "sha256";

/// A streaming state with what identifies it.
#[derive(Debug, Clone, PartialEq)]
pub struct StateFile {
    /// The run whose model streamed it (shown in messages).
    pub run: String,
    /// [`config_sha256`] of that model: the state loads only into a model with the same config.
    pub config_sha256: String,
    /// Tokens read so far, `pending` included.
    pub position: u64,
    /// Tokens read but not yet run (less than a segment, or a whole segment waiting for the
    /// token that scores its last one): the next stream runs them first, so a stream split
    /// anywhere runs exactly the segments of the unbroken one.
    pub pending: Vec<u32>,
    /// The state's tensors and counters.
    pub snapshot: StateSnapshot,
}

/// The header as stored (the counters ride in it; the tensors are the file's own).
#[derive(Debug, Serialize, Deserialize)]
struct Header {
    format: String,
    version: u32,
    run: String,
    config_sha256: String,
    position: u64,
    #[serde(default)]
    pending: Vec<u32>,
    counters: BTreeMap<String, u64>,
}

/// SHA-256 of a model config's JSON, hex.
pub fn config_sha256(config: &DmnConfig) -> String {
    hex(Sha256::digest(config.to_json().as_bytes()).as_slice())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The checksum over the header's JSON and every tensor's name, shape and values, in name order.
fn checksum(header: &str, tensors: &BTreeMap<String, NamedTensor>) -> String {
    let mut h = Sha256::new();
    h.update(header.as_bytes());
    for (name, t) in tensors {
        h.update(name.as_bytes());
        for d in &t.shape {
            h.update((*d as u64).to_le_bytes());
        }
        for v in &t.values {
            h.update(v.to_le_bytes());
        }
    }
    hex(h.finalize().as_slice())
}

/// The snapshot file's bytes.
pub fn to_bytes(file: &StateFile) -> Result<Vec<u8>> {
    let header = serde_json::to_string(&Header {
        format: FORMAT.into(),
        version: VERSION,
        run: file.run.clone(),
        config_sha256: file.config_sha256.clone(),
        position: file.position,
        pending: file.pending.clone(),
        counters: file.snapshot.counters.clone(),
    })?;
    let tensors = &file.snapshot.tensors;
    let metadata = HashMap::from([
        (CHECKSUM_KEY.to_string(), checksum(&header, tensors)),
        (HEADER_KEY.to_string(), header),
    ]);
    let bytes: Vec<(&String, Vec<u8>)> = tensors
        .iter()
        .map(|(name, t)| {
            (
                name,
                t.values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            )
        })
        .collect();
    let views = bytes
        .iter()
        .map(|(name, data)| {
            let view = TensorView::new(Dtype::F32, tensors[*name].shape.clone(), data)?;
            Ok((name.as_str(), view))
        })
        .collect::<Result<Vec<_>, safetensors::SafeTensorError>>()
        .map_err(|e| anyhow!("cannot write the state as safetensors: {e}"))?;
    safetensors::serialize(views, Some(metadata))
        .map_err(|e| anyhow!("cannot write the state as safetensors: {e}"))
}

/// The snapshot in `bytes`; errors read after the file's name (`state.safetensors is …`).
pub fn from_bytes(bytes: &[u8]) -> Result<StateFile> {
    let not_a_state = |why: String| anyhow!("is not a DMN state snapshot ({why})");
    // The header is parsed (and checked against the file's length) once; the tensors are read
    // from their offsets in the data that follows it.
    let (header_len, metadata) =
        SafeTensors::read_metadata(bytes).map_err(|e| not_a_state(e.to_string()))?;
    let data = &bytes[8 + header_len..];
    let no_meta = HashMap::new();
    let meta = metadata.metadata().as_ref().unwrap_or(&no_meta);
    let Some(text) = meta.get(HEADER_KEY) else {
        return Err(not_a_state(format!("no `{HEADER_KEY}` header")));
    };
    let header: Header =
        serde_json::from_str(text).map_err(|e| not_a_state(format!("its header: {e}")))?;
    if header.format != FORMAT {
        return Err(not_a_state(format!("format `{}`", header.format)));
    }
    if header.version > VERSION {
        bail!(
            "is a version {} state snapshot; this build reads version {VERSION}: update dmn",
            header.version
        );
    }
    let mut tensors = BTreeMap::new();
    for (name, info) in metadata.tensors() {
        if info.dtype != Dtype::F32 {
            return Err(not_a_state(format!(
                "`{name}` is {:?}, not F32",
                info.dtype
            )));
        }
        // `read_metadata` checked that the offsets lie inside the data and match the shape.
        let (start, end) = info.data_offsets;
        let values = data[start..end]
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        let shape = info.shape.clone();
        tensors.insert(name, NamedTensor { shape, values });
    }
    if meta.get(CHECKSUM_KEY) != Some(&checksum(text, &tensors)) {
        bail!(
            "is corrupt: its contents do not match the checksum it carries (the file was \
             changed or damaged)"
        );
    }
    Ok(StateFile {
        run: header.run,
        config_sha256: header.config_sha256,
        position: header.position,
        pending: header.pending,
        snapshot: StateSnapshot {
            tensors,
            counters: header.counters,
        },
    })
}

/// The state a snapshot holds, restored into `model` (whose config is `config`) on `device`;
/// `name` is the snapshot's name in messages. A snapshot of a model with another config is
/// refused, naming the run it came from.
pub fn restore(
    name: &str,
    file: StateFile,
    config: &DmnConfig,
    model: &Dmn,
    device: &Device,
) -> Result<DmnState> {
    if file.config_sha256 != config_sha256(config) {
        bail!(
            "{name} holds the state of another model (run {}, config {}…); this model's config \
             is {}…: load a state into the run that saved it",
            file.run,
            &file.config_sha256[..file.config_sha256.len().min(12)],
            &config_sha256(config)[..12]
        );
    }
    model
        .restore_state(file.snapshot, device)
        .map_err(|e| anyhow!("{name} {e}"))
}

/// Writes `file` to `path` atomically.
pub fn save(path: &Path, file: &StateFile) -> Result<()> {
    crate::run_dir::write_atomic(path, &to_bytes(file)?)
}

/// Reads the snapshot at `path`.
pub fn load(path: &Path) -> Result<StateFile> {
    let shown = path.display();
    let bytes = std::fs::read(path).with_context(|| format!("cannot read the state {shown}"))?;
    from_bytes(&bytes).map_err(|e| anyhow!("{shown} {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Int, Tensor, TensorData};
    use dmn::ForwardOptions;

    fn streamed(model: &Dmn, device: &Device) -> DmnState {
        let seg = model.segment_len();
        let mut state = model.init_state(1, device);
        for s in 0..3 {
            let tokens: Vec<i64> = (0..seg as i64).map(|t| (t * 3 + s) % 20).collect();
            let input = Tensor::<2, Int>::from_data(TensorData::new(tokens, [1, seg]), device);
            state = model
                .forward_segment(state, input, ForwardOptions::default())
                .1;
        }
        state
    }

    #[test]
    fn a_state_round_trips_and_damage_or_another_model_is_a_clear_error() {
        let device = Device::flex();
        let config = DmnConfig::tiny(20);
        let model = config.init(&device).unwrap();
        let state = streamed(&model, &device);
        let file = StateFile {
            run: "runs/a".into(),
            config_sha256: config_sha256(&config),
            position: 3 * model.segment_len() as u64 + 2,
            pending: vec![4, 5],
            snapshot: state.snapshot(),
        };
        let bytes = to_bytes(&file).unwrap();
        let read = from_bytes(&bytes).unwrap();
        assert_eq!(read, file);
        let restored = restore("s", read.clone(), &config, &model, &device).unwrap();
        assert_eq!(restored.snapshot(), state.snapshot());

        // A flipped bit in the last tensor value.
        let mut flipped = bytes.clone();
        *flipped.last_mut().unwrap() ^= 1;
        let e = from_bytes(&flipped).unwrap_err().to_string();
        assert!(e.contains("is corrupt"), "{e}");

        // Truncated.
        let e = from_bytes(&bytes[..bytes.len() / 2])
            .unwrap_err()
            .to_string();
        assert!(e.contains("is not a DMN state snapshot"), "{e}");

        // Another model's config.
        let other = DmnConfig::tiny(20).with_wm_slots(config.wm_slots * 2);
        let other_model = other.init(&device).unwrap();
        let e = restore("s", read, &other, &other_model, &device)
            .unwrap_err()
            .to_string();
        assert!(e.contains("another model") && e.contains("runs/a"), "{e}");
    }
}
