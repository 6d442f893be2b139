//! Weights as safetensors (`dmn export`, `dmn train --weights`): every parameter of a model under
//! its module path (`embedding.weight`, `encoder.blocks.0.Ssm.in_proj.weight`, …; the README
//! lists them), the model's config in the file's metadata under `dmn_config`, and the file's
//! SHA-256 beside it in `FILE.sha256`, which loading checks when it is there.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use burn::store::{ModuleSnapshot, SafetensorsStore};
use dmn::{Dmn, DmnConfig};

use crate::checkpoint::sha256_hex;
use crate::run_dir::write_atomic;

/// The metadata key holding the model's config (its `config.json` model section).
pub const CONFIG_KEY: &str = "dmn_config";

/// The checksum file written beside `path`.
pub fn checksum_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".sha256");
    path.with_file_name(name)
}

/// `model`'s weights as the bytes of a safetensors file, `config` in its metadata.
pub fn to_bytes(model: &Dmn, config: &DmnConfig) -> Result<Vec<u8>> {
    let mut store = SafetensorsStore::from_bytes(None).metadata(CONFIG_KEY, config.to_json());
    model
        .save_into(&mut store)
        .map_err(|e| anyhow!("cannot write the weights as safetensors: {e}"))?;
    store
        .get_bytes()
        .map_err(|e| anyhow!("cannot write the weights as safetensors: {e}"))
}

/// Writes `model`'s weights to `path` and their checksum to [`checksum_path`], each atomically.
pub fn save(path: &Path, model: &Dmn, config: &DmnConfig) -> Result<()> {
    let bytes = to_bytes(model, config)?;
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    write_atomic(path, &bytes)?;
    let line = format!("{}  {name}\n", sha256_hex(&bytes));
    write_atomic(&checksum_path(path), line.as_bytes())
}

/// Loads the safetensors weights at `path` into `model`. A file that fails its checksum, lacks
/// one of the model's parameters, holds a tensor the model does not have, or has one of another
/// shape is an error naming the file.
pub fn load(path: &Path, model: Dmn) -> Result<Dmn> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).with_context(|| format!("cannot read the weights {shown}"))?;
    let sums = checksum_path(path);
    if let Ok(line) = std::fs::read_to_string(&sums) {
        check_sha256(&bytes, &line, &shown, &sums.display().to_string())?;
    }
    from_bytes(bytes, &shown, model)
}

/// Checks `bytes`, read from `name`, against the checksum `line` read from `checksum_name`
/// (the first word of a `sha256sum` line).
pub fn check_sha256(bytes: &[u8], line: &str, name: &str, checksum_name: &str) -> Result<()> {
    let expected = line.split_whitespace().next().unwrap_or_default();
    if expected != sha256_hex(bytes) {
        bail!(
            "{name} is corrupt: it does not match its checksum in {checksum_name} (the file was \
             changed or damaged)"
        );
    }
    Ok(())
}

/// Loads the safetensors file `bytes`, read from `name`, into `model` (errors as [`load`]).
/// The browser fetches the bytes itself.
pub fn from_bytes(bytes: Vec<u8>, name: &str, model: Dmn) -> Result<Dmn> {
    let mut store = SafetensorsStore::from_bytes(Some(bytes))
        .validate(true)
        .allow_partial(false);
    let mut model = model;
    let applied = model
        .load_from(&mut store)
        .map_err(|e| anyhow!("{name} does not hold weights of this model ({e})"))?;
    if !applied.unused.is_empty() {
        bail!(
            "{name} holds tensors this model does not have ({}); it was written for another \
             model config",
            applied.unused.join(", ")
        );
    }
    Ok(model)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::Module;
    use burn::tensor::{Device, Int, Tensor};
    use dmn::ForwardOptions;

    /// The model's logits on a fixed input: equal weights give equal logits, bit for bit.
    fn logits(model: &Dmn) -> Vec<f32> {
        let device = Device::flex();
        let tokens = Tensor::<1, Int>::arange(0..20, &device).reshape([1, 20]);
        let state = model.init_state(1, &device);
        let (out, _) = model.forward_segment(state, tokens, ForwardOptions::default());
        out.logits.into_data().try_to_vec::<f32>().unwrap()
    }

    #[test]
    fn weights_round_trip_and_a_changed_byte_or_another_config_is_refused() {
        let device = Device::flex();
        let config = DmnConfig::tiny(20);
        let model = config.init(&device).unwrap();
        let model = model.clone().load_record(model.into_record());
        let dir = std::env::temp_dir().join(format!("dmn-weights-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("model.safetensors");
        save(&path, &model, &config).unwrap();
        let fresh = config.init(&device).unwrap();
        let loaded = load(&path, fresh).unwrap();
        assert_eq!(logits(&loaded), logits(&model));

        let other = DmnConfig::small(20).init(&device).unwrap();
        let e = load(&path, other).unwrap_err().to_string();
        assert!(e.contains("model.safetensors"), "{e}");

        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&path, bytes).unwrap();
        let e = load(&path, config.init(&device).unwrap())
            .unwrap_err()
            .to_string();
        assert!(e.contains("does not match its checksum"), "{e}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
