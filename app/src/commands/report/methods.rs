//! The methods a report compares: DMN, its ablations and the baselines, each as the `dmn train`
//! options that build it (or, for a read ablation, the `dmn eval` option that cuts a memory's
//! reads from a trained run).

use crate::commands::eval::MemoryRead;

/// One method: an encoder, its memories, its transfer policy and the ablation knobs.
#[derive(Debug, Clone, Copy)]
pub(super) struct Method {
    /// As the tables and plots name it.
    pub name: &'static str,
    /// `dmn train --encoder`.
    pub encoder: &'static str,
    /// `dmn train --memory`.
    pub memory: &'static str,
    /// `dmn train --policy`.
    pub policy: &'static str,
    /// `dmn train --wm-slots`; the preset's when `None`.
    pub wm_slots: Option<usize>,
    /// `dmn train --compression`; the preset's when `None`.
    pub compression: Option<&'static str>,
    /// `dmn train --ltm`; the preset's when `None`.
    pub ltm: Option<&'static str>,
    /// `dmn eval --without-read`: a memory whose reads the evaluation cuts.
    pub unread: Option<MemoryRead>,
    /// The method whose run this one evaluates (`None`: its own). A read ablation trains
    /// nothing: it measures what a memory's reads do in the model that was trained with them.
    pub run_of: Option<&'static str>,
}

pub(super) const DMN: Method = Method {
    name: "DMN",
    encoder: "ssm",
    memory: "full",
    policy: "importance",
    wm_slots: None,
    compression: None,
    ltm: None,
    unread: None,
    run_of: None,
};
pub(super) const PPO: Method = Method {
    name: "DMN, PPO policy",
    policy: "ppo",
    ..DMN
};
pub(super) const DQN: Method = Method {
    name: "DMN, DQN policy",
    policy: "dqn",
    ..DMN
};
pub(super) const LRU: Method = Method {
    name: "DMN, LRU transfers",
    policy: "lru",
    ..DMN
};
/// DMN's run evaluated with its long-term reads cut from the output.
pub(super) const LTM_UNREAD: Method = Method {
    name: "DMN, long-term memory unread",
    unread: Some(MemoryRead::LongTerm),
    run_of: Some(DMN.name),
    ..DMN
};
pub(super) const NO_LTM: Method = Method {
    name: "DMN without LTM",
    memory: "working",
    ..DMN
};
pub(super) const MAMBA: Method = Method {
    name: "Mamba only",
    memory: "none",
    ..DMN
};
pub(super) const LSTM: Method = Method {
    name: "LSTM",
    encoder: "lstm",
    memory: "none",
    ..DMN
};
pub(super) const GRU: Method = Method {
    name: "GRU",
    encoder: "gru",
    ..LSTM
};
pub(super) const TRANSFORMER: Method = Method {
    name: "Transformer (window 128)",
    encoder: "transformer",
    ..LSTM
};
pub(super) const MEAN_POOL: Method = Method {
    name: "mean-pool compression",
    compression: Some("mean-pool"),
    ..DMN
};
pub(super) const UNCOMPRESSED: Method = Method {
    name: "no compression",
    compression: Some("none"),
    ..DMN
};
pub(super) const FLAT: Method = Method {
    name: "flat LTM",
    ltm: Some("flat"),
    ..DMN
};
/// The hierarchical layout, where a task's DMN keeps a flat store.
pub(super) const HIERARCHICAL: Method = Method {
    name: "hierarchical LTM",
    ltm: Some("hierarchical"),
    ..DMN
};
/// VAE compression, where a task's DMN stores entries whole.
pub(super) const VAE: Method = Method {
    name: "VAE compression",
    compression: Some("vae"),
    ..DMN
};

/// A working-memory size ablation.
pub(super) const fn slots(name: &'static str, k: usize) -> Method {
    Method {
        name,
        wm_slots: Some(k),
        ..DMN
    }
}

/// The needle section's methods: DMN variants, then the ablation and the baselines.
pub(super) const METHODS: [Method; 8] = [DMN, PPO, LRU, NO_LTM, MAMBA, LSTM, GRU, TRANSFORMER];

impl Method {
    /// Its name as a file-system name: lower-case words joined by `-`.
    pub fn slug(&self) -> String {
        slug(self.name)
    }

    /// The folder name of the run it evaluates: its own, or the trained method's.
    pub fn run_slug(&self) -> String {
        slug(self.run_of.unwrap_or(self.name))
    }
}

/// `name` as a file-system name.
fn slug(name: &str) -> String {
    name.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|s| !s.is_empty())
        .map(str::to_ascii_lowercase)
        .collect::<Vec<_>>()
        .join("-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_lower_case_words_joined_by_dashes() {
        assert_eq!(DMN.slug(), "dmn");
        assert_eq!(PPO.slug(), "dmn-ppo-policy");
        assert_eq!(TRANSFORMER.slug(), "transformer-window-128");
        assert_eq!(slots("WM 64 slots", 64).slug(), "wm-64-slots");
    }

    #[test]
    fn a_read_ablation_evaluates_the_run_of_the_method_it_names() {
        assert_eq!(LTM_UNREAD.run_slug(), DMN.slug());
        assert_eq!(PPO.run_slug(), PPO.slug());
    }

    #[test]
    fn every_needle_method_has_its_own_run_directory() {
        let mut slugs: Vec<String> = METHODS.iter().map(Method::slug).collect();
        slugs.sort();
        slugs.dedup();
        assert_eq!(slugs.len(), METHODS.len());
    }
}
