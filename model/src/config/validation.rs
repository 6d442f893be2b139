//! [`DmnConfig::validate`]: every field against the values it allows, as one table. A config a
//! user wrote gets an error naming the field, its value and what is allowed, never a panic.

use core::fmt;
use core::ops::RangeInclusive;
use thiserror::Error;

use super::DmnConfig;

/// A configuration value outside its allowed range.
#[derive(Debug, Clone, PartialEq, Error)]
#[error("config field `{field}` is {value}, but it must be {allowed}")]
pub struct ConfigError {
    /// Field name as written in the JSON config.
    pub field: &'static str,
    /// The offending value.
    pub value: String,
    /// What is allowed.
    pub allowed: String,
}

/// One row of [`DmnConfig::validate`]'s table: a field, its value, whether the value is allowed,
/// and what is.
struct Rule {
    field: &'static str,
    value: String,
    ok: bool,
    allowed: String,
}

impl Rule {
    fn new(
        field: &'static str,
        value: impl fmt::Display,
        ok: bool,
        allowed: impl Into<String>,
    ) -> Self {
        Self {
            field,
            value: value.to_string(),
            ok,
            allowed: allowed.into(),
        }
    }

    /// `value` in a fixed range.
    fn within(field: &'static str, value: usize, range: RangeInclusive<usize>) -> Self {
        let allowed = format!("in {}..={}", range.start(), range.end());
        Self::new(field, value, range.contains(&value), allowed)
    }

    /// `value` in `1..=bound`, where `bound` is the value of the field `bound_field`.
    fn up_to(field: &'static str, value: usize, bound_field: &str, bound: usize) -> Self {
        let allowed = format!("in 1..={bound_field} ({bound})");
        Self::new(field, value, (1..=bound).contains(&value), allowed)
    }

    /// A loss weight: finite and not negative.
    fn weight(field: &'static str, value: f64) -> Self {
        let ok = value.is_finite() && value >= 0.0;
        Self::new(field, value, ok, "a finite number ≥ 0")
    }
}

impl DmnConfig {
    /// Checks every field; the error names the first field that is out of range, its value and
    /// the allowed range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        const BIG: usize = 1 << 20;
        let w = &self.loss_weights;
        let rules = [
            Rule::within("vocab_size", self.vocab_size, 2..=BIG),
            Rule::within("d_model", self.d_model, 1..=16384),
            Rule::within("n_layers", self.n_layers, 1..=256),
            Rule::within("d_state", self.d_state, 1..=1024),
            Rule::within("expand", self.expand, 1..=16),
            Rule::within("d_conv", self.d_conv, 1..=64),
            Rule::new(
                "attn_heads",
                self.attn_heads,
                self.attn_heads >= 1 && self.d_model % self.attn_heads == 0,
                format!("at least 1 and a divisor of d_model ({})", self.d_model),
            ),
            Rule::within("attn_window", self.attn_window, 1..=65536),
            Rule::within("scan_chunk", self.scan_chunk, 1..=4096),
            Rule::within("wm_slots", self.wm_slots, 1..=65536),
            Rule::up_to("wm_heads", self.wm_heads, "wm_slots", self.wm_slots),
            Rule::up_to("wm_top_k", self.wm_top_k, "wm_slots", self.wm_slots),
            Rule::new(
                "wm_usage_decay",
                self.wm_usage_decay,
                self.wm_usage_decay > 0.0 && self.wm_usage_decay < 1.0,
                "strictly between 0 and 1",
            ),
            Rule::within("wm_bottleneck", self.wm_bottleneck, 1..=16384),
            Rule::new(
                "wm_gate_cut",
                self.wm_gate_cut,
                crate::working_memory::GATE_CUTS.contains(&self.wm_gate_cut),
                "at least 0 and below 1 (a gate is a sigmoid)",
            ),
            Rule::within("ltm_levels", self.ltm_levels, 1..=40),
            Rule::up_to(
                "ltm_entries_per_level",
                self.ltm_entries_per_level,
                "wm_slots",
                self.wm_slots,
            ),
            Rule::within("ltm_latent_dim", self.ltm_latent_dim, 1..=16384),
            Rule::within("segment_len", self.segment_len, 1..=BIG),
            Rule::within("credit_segments", self.credit_segments, 1..=BIG),
            Rule::up_to(
                "wm_update_interval",
                self.wm_update_interval,
                "segment_len",
                self.segment_len,
            ),
            Rule::new(
                "num_classes",
                self.num_classes,
                self.num_classes <= BIG,
                "at most 1048576",
            ),
            Rule::weight("loss_weights.utilization", w.utilization),
            Rule::weight("loss_weights.pressure", w.pressure),
            Rule::weight("loss_weights.read_sparsity", w.read_sparsity),
            Rule::weight("loss_weights.kl", w.kl),
            Rule::weight("loss_weights.reconstruction", w.reconstruction),
            // Long-term memory is filled from working memory, so it cannot run alone.
            Rule::new(
                "use_long_term_memory",
                self.use_long_term_memory,
                self.use_working_memory || !self.use_long_term_memory,
                "false when use_working_memory is false (long-term memory is filled from working memory)",
            ),
        ];
        match rules.into_iter().find(|rule| !rule.ok) {
            None => Ok(()),
            Some(rule) => Err(ConfigError {
                field: rule.field,
                value: rule.value,
                allowed: rule.allowed,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_term_memory_needs_working_memory() {
        let e = DmnConfig::tiny(64)
            .with_use_working_memory(false)
            .validate()
            .unwrap_err();
        assert_eq!(
            (e.field, e.value.as_str()),
            ("use_long_term_memory", "true")
        );
        DmnConfig::tiny(64)
            .with_use_working_memory(false)
            .with_use_long_term_memory(false)
            .validate()
            .unwrap();
    }

    #[test]
    fn errors_name_the_field_value_and_range() {
        let e = DmnConfig::tiny(64)
            .with_wm_top_k(99)
            .validate()
            .unwrap_err();
        assert_eq!(e.field, "wm_top_k");
        assert_eq!(e.value, "99");
        assert!(e.to_string().contains("1..=wm_slots (16)"), "{e}");

        let e = DmnConfig::tiny(64)
            .with_attn_heads(5)
            .validate()
            .unwrap_err();
        assert_eq!(e.field, "attn_heads");
        let e = DmnConfig::tiny(64)
            .with_wm_update_interval(0)
            .validate()
            .unwrap_err();
        assert_eq!(e.field, "wm_update_interval");
        let e = DmnConfig::tiny(64)
            .with_wm_usage_decay(1.0)
            .validate()
            .unwrap_err();
        assert_eq!(e.field, "wm_usage_decay");
        let e = DmnConfig::tiny(1).validate().unwrap_err();
        assert_eq!(e.field, "vocab_size");
        let mut c = DmnConfig::tiny(64);
        c.loss_weights.kl = f64::NAN;
        assert_eq!(c.validate().unwrap_err().field, "loss_weights.kl");
    }
}
