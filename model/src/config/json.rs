//! Loading a [`DmnConfig`] from JSON. Runs keep their `config.json` for good, so a config written
//! before a field existed takes the field's default, and one that uses a field's old name
//! ([`RENAMED_FIELDS`]) loads under the new one.

use thiserror::Error;

use super::{ConfigError, DmnConfig};

/// Why a JSON config cannot be used.
#[derive(Debug, Error)]
pub enum ConfigParseError {
    /// Not JSON, or not the shape of a [`DmnConfig`].
    #[error("config is not valid DMN JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// Valid JSON with a value out of range.
    #[error(transparent)]
    Invalid(#[from] ConfigError),
    /// A field given under both its old and its new name: which one was meant is unclear.
    #[error("config has both `{old}` and `{new}`, the new name of `{old}`: keep only `{new}`")]
    Renamed {
        /// The old name.
        old: &'static str,
        /// The new name.
        new: &'static str,
    },
}

/// Fields renamed since configs were first written, `(old, new)`: a config that still uses an
/// old name loads as if it used the new one.
const RENAMED_FIELDS: [(&str, &str); 6] = [
    ("top_k", "wm_top_k"),
    ("usage_decay", "wm_usage_decay"),
    ("bottleneck", "wm_bottleneck"),
    ("memory_update_interval", "wm_update_interval"),
    ("latent_dim", "ltm_latent_dim"),
    ("compression", "ltm_compression"),
];

/// Gives every field of `defaults` that `fields` lacks its default, inside nested objects too
/// (a loss weight added later is missing from an older config's `loss_weights`).
fn fill_missing(
    fields: &mut serde_json::Map<String, serde_json::Value>,
    defaults: &serde_json::Value,
) {
    for (name, default) in defaults.as_object().into_iter().flatten() {
        match fields.get_mut(name) {
            Some(serde_json::Value::Object(inner)) if default.is_object() => {
                fill_missing(inner, default)
            }
            Some(_) => {}
            None => {
                fields.insert(name.clone(), default.clone());
            }
        }
    }
}

impl DmnConfig {
    /// Parses a JSON config and validates it.
    pub fn from_json(text: &str) -> Result<Self, ConfigParseError> {
        Self::from_value(serde_json::from_str(text)?)
    }

    /// A config from parsed JSON. A config written before some fields existed, or under their
    /// old names ([`RENAMED_FIELDS`]), still loads: renamed fields are read under their new
    /// names, and missing ones take their defaults.
    pub fn from_value(mut value: serde_json::Value) -> Result<Self, ConfigParseError> {
        if let Some(fields) = value.as_object_mut() {
            for (old, new) in RENAMED_FIELDS {
                if let Some(v) = fields.remove(old) {
                    if fields.contains_key(new) {
                        return Err(ConfigParseError::Renamed { old, new });
                    }
                    fields.insert(new.to_string(), v);
                }
            }
            let vocab = fields
                .get("vocab_size")
                .and_then(|v| v.as_u64())
                .unwrap_or(1);
            let defaults = serde_json::to_value(Self::new(vocab as usize))
                .expect("a config always serializes");
            fill_missing(fields, &defaults);
        }
        let config: Self = serde_json::from_value(value)?;
        config.validate()?;
        Ok(config)
    }

    /// Serializes to pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a config always serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{CompressionKind, EncoderKind, TransferPolicy};

    #[test]
    fn a_config_without_newer_fields_takes_their_defaults() {
        let mut value = serde_json::to_value(DmnConfig::small(300)).unwrap();
        let fields = value.as_object_mut().unwrap();
        fields.remove("transfer_policy");
        fields.remove("kernels");
        let weights = fields["loss_weights"].as_object_mut().unwrap();
        weights.remove("importance");
        weights.insert("kl".into(), serde_json::json!(0.5));
        let back = DmnConfig::from_value(value).unwrap();
        assert_eq!(back.transfer_policy, TransferPolicy::Importance);
        assert!(back.kernels);
        // Inside a nested object too, keeping what the config gives.
        assert_eq!(back.loss_weights.importance, 0.0);
        assert_eq!(back.loss_weights.kl, 0.5);
        assert_eq!(back.d_model, DmnConfig::small(300).d_model);
    }

    #[test]
    fn a_config_with_old_field_names_loads_under_the_new_ones() {
        let mut value = serde_json::to_value(DmnConfig::tiny(30)).unwrap();
        let fields = value.as_object_mut().unwrap();
        for (old, new) in RENAMED_FIELDS {
            let v = fields.remove(new).unwrap();
            fields.insert(old.to_string(), v);
        }
        fields.insert("top_k".into(), 3.into());
        fields.insert("compression".into(), "MeanPool".into());
        let back = DmnConfig::from_value(value).unwrap();
        assert_eq!(back.wm_top_k, 3);
        assert_eq!(back.ltm_compression, CompressionKind::MeanPool);
        assert_eq!(
            back.wm_update_interval,
            DmnConfig::tiny(30).wm_update_interval
        );
        assert_eq!(back.ltm_latent_dim, DmnConfig::tiny(30).ltm_latent_dim);

        let mut both = serde_json::to_value(DmnConfig::tiny(30)).unwrap();
        both["top_k"] = 3.into();
        let e = DmnConfig::from_value(both).unwrap_err().to_string();
        assert!(e.contains("`top_k` and `wm_top_k`"), "{e}");
    }

    #[test]
    fn json_round_trip_and_bad_json() {
        let c = DmnConfig::small(300).with_encoder(EncoderKind::LinearAttention);
        let back = DmnConfig::from_json(&c.to_json()).unwrap();
        assert_eq!(back.encoder, EncoderKind::LinearAttention);
        assert_eq!(back.wm_slots, c.wm_slots);
        assert!(
            DmnConfig::from_json("{ not json")
                .unwrap_err()
                .to_string()
                .contains("not valid DMN JSON")
        );
        let bad = c.with_ltm_entries_per_level(1000).to_json();
        assert!(
            DmnConfig::from_json(&bad)
                .unwrap_err()
                .to_string()
                .contains("ltm_entries_per_level")
        );
    }
}
