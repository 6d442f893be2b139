//! Adaptive compression of working-memory slots for long-term storage (§2.2.2):
//! `μ, σ = Encoder(w)`, `z = μ + ε ⊙ σ`, `l̃ = Decoder(z, I)`, with a bottleneck whose width
//! follows the importance score `I`: latent dimension `j` is kept with a soft mask
//! `σ(s · (I·Z − j − ½))`, so an important slot keeps more latent dimensions than an
//! unimportant one and the width stays differentiable in `I`.
//!
//! Two ablations replace the VAE ([`CompressionKind`]): a fixed mean-pool over `Z` channel
//! groups with the same importance-set width, and no compression at all (all `d` channels).

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::sigmoid;
use burn::tensor::{Device, Distribution, Int, Tensor, TensorData};

use crate::config::CompressionKind;

/// Steepness of the soft width mask: one latent dimension goes from 12 % to 88 % kept over a
/// step of half an importance quantum.
const MASK_STEEPNESS: f64 = 4.0;

/// Configuration of the [`Compressor`].
#[derive(Config, Debug)]
pub struct CompressorConfig {
    /// Slot width `d`.
    pub d_model: usize,
    /// Latent width `Z`.
    pub latent_dim: usize,
    /// VAE, mean-pool or none.
    #[config(default = "CompressionKind::Vae")]
    pub kind: CompressionKind,
}

/// The VAE: a linear encoder to (μ, log σ²) and a linear decoder. The two ablation kinds keep
/// the layers (so every kind's checkpoints have one layout) but never use them.
#[derive(Module, Debug)]
pub struct Compressor {
    /// `d → 2Z`
    encoder: Linear,
    /// `Z → d`
    decoder: Linear,
    latent_dim: usize,
    #[module(skip)]
    kind: CompressionKind,
}

/// Output of one compression.
#[derive(Debug, Clone)]
pub struct Compressed {
    /// What long-term memory stores: the decoded slot, `[B, m, d]`.
    pub decoded: Tensor<3>,
    /// KL(q(z|w) ‖ N(0, I)) over the kept dimensions, averaged over entries, `[1]`.
    pub kl: Tensor<1>,
    /// Mean squared reconstruction error against the (detached) slot, `[1]`.
    pub reconstruction: Tensor<1>,
    /// Latent dimensions kept per entry (the soft mask's sum), `[B, m]`.
    pub width: Tensor<2>,
}

impl CompressorConfig {
    /// Initializes the VAE.
    pub fn init(&self, device: &Device) -> Compressor {
        Compressor {
            encoder: LinearConfig::new(self.d_model, 2 * self.latent_dim).init(device),
            decoder: LinearConfig::new(self.latent_dim, self.d_model).init(device),
            latent_dim: self.latent_dim,
            kind: self.kind,
        }
    }
}

impl Compressor {
    /// Width of a stored entry when all of it is kept: `Z`, or `d` uncompressed.
    pub fn latent_dim(&self) -> usize {
        match self.kind {
            CompressionKind::Uncompressed => self.decoder.weight.dims()[1],
            CompressionKind::Vae | CompressionKind::MeanPool => self.latent_dim,
        }
    }

    /// The soft width mask `σ(s · (I·Z − j − ½))` over `z_dim` dimensions, `[B, m, z_dim]`.
    fn width_mask(importance: Tensor<2>, z_dim: usize) -> Tensor<3> {
        let device = importance.device();
        let j = Tensor::<1, Int>::arange(0..z_dim as i64, &device)
            .float()
            .reshape([1, 1, z_dim]);
        let width = importance.unsqueeze_dim::<3>(2) * z_dim as f64;
        sigmoid((width - j - 0.5) * MASK_STEEPNESS)
    }

    /// `[d, Z]` averaging over `Z` groups of adjacent channels (group `j` is channels
    /// `⌊j·d/Z⌋ .. ⌊(j+1)·d/Z⌋`), and `[Z, d]` spreading each group's mean back over it.
    fn pooling(d: usize, z: usize, device: &Device) -> (Tensor<2>, Tensor<2>) {
        let mut pool = vec![0.0f32; d * z];
        let mut spread = vec![0.0f32; z * d];
        for j in 0..z {
            let (lo, hi) = (j * d / z, ((j + 1) * d / z).max(j * d / z + 1).min(d));
            for i in lo..hi {
                pool[i * z + j] = 1.0 / (hi - lo) as f32;
                spread[j * d + i] = 1.0;
            }
        }
        (
            Tensor::from_data(TensorData::new(pool, [d, z]), device),
            Tensor::from_data(TensorData::new(spread, [z, d]), device),
        )
    }

    /// Compresses slots; `sample` draws ε (training), otherwise z = μ.
    ///
    /// # Shapes
    /// - slots: `[B, m, d]`, importance: `[B, m]` in (0, 1)
    pub fn forward(&self, slots: Tensor<3>, importance: Tensor<2>, sample: bool) -> Compressed {
        match self.kind {
            CompressionKind::Vae => self.vae(slots, importance, sample),
            CompressionKind::MeanPool => Self::mean_pool(slots, importance, self.latent_dim),
            CompressionKind::Uncompressed => {
                let [b, m, d] = slots.dims();
                let device = slots.device();
                Compressed {
                    decoded: slots,
                    kl: Tensor::zeros([1], &device),
                    reconstruction: Tensor::zeros([1], &device),
                    width: Tensor::full([b, m], d as f32, &device),
                }
            }
        }
    }

    /// Mean-pool compression: no parameters, so nothing to learn and no KL.
    fn mean_pool(slots: Tensor<3>, importance: Tensor<2>, z_dim: usize) -> Compressed {
        let [b, m, d] = slots.dims();
        let z_dim = z_dim.min(d);
        let device = slots.device();
        let (pool, spread) = Self::pooling(d, z_dim, &device);
        let pooled = slots.clone().matmul(pool.unsqueeze::<3>());
        let mask = Self::width_mask(importance, z_dim);
        let decoded = (pooled * mask.clone()).matmul(spread.unsqueeze::<3>());
        let reconstruction = (decoded.clone() - slots.detach()).powi_scalar(2).mean();
        Compressed {
            decoded,
            kl: Tensor::zeros([1], &device),
            reconstruction,
            width: mask.sum_dim(2).reshape([b, m]),
        }
    }

    /// The VAE.
    fn vae(&self, slots: Tensor<3>, importance: Tensor<2>, sample: bool) -> Compressed {
        let [b, m, _] = slots.dims();
        let z_dim = self.latent_dim;
        let device = slots.device();
        let stats = self.encoder.forward(slots.clone());
        let mu = stats.clone().narrow(2, 0, z_dim);
        let logvar = stats.narrow(2, z_dim, z_dim).clamp(-10.0, 10.0);
        let z = if sample {
            mu.clone()
                + Tensor::random([b, m, z_dim], Distribution::Normal(0.0, 1.0), &device)
                    * (logvar.clone() * 0.5).exp()
        } else {
            mu.clone()
        };
        let mask = Self::width_mask(importance, z_dim); // [B, m, Z]
        let decoded = self.decoder.forward(z * mask.clone());
        let kl_per_dim = (mu.powi_scalar(2) + logvar.clone().exp() - logvar - 1.0) * 0.5;
        let kl = (kl_per_dim * mask.clone()).sum_dim(2).mean();
        let reconstruction = (decoded.clone() - slots.detach()).powi_scalar(2).mean();
        Compressed {
            decoded,
            kl,
            reconstruction,
            width: mask.sum_dim(2).reshape([b, m]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn importance_sets_the_kept_width() {
        let device = Device::flex();
        let c = CompressorConfig::new(8, 16).init(&device);
        let slots = Tensor::<3>::random([1, 3, 8], Distribution::Normal(0.0, 1.0), &device);
        let imp = Tensor::<2>::from_data(
            burn::tensor::TensorData::new(vec![0.0f32, 0.5, 1.0], [1, 3]),
            &device,
        );
        let out = c.forward(slots, imp, false);
        let w = out.width.into_data().try_to_vec::<f32>().unwrap();
        assert!(
            w[0] < 0.5 && (w[1] - 8.0).abs() < 0.6 && (w[2] - 16.0).abs() < 0.6,
            "{w:?}"
        );
        assert_eq!(out.decoded.dims(), [1, 3, 8]);
        assert!(out.kl.into_scalar::<f32>() >= 0.0);
    }

    #[test]
    fn mean_pool_averages_channel_groups_and_uncompressed_keeps_the_slot() {
        let device = Device::flex();
        let slots = Tensor::<3>::from_data(
            burn::tensor::TensorData::new(vec![1.0f32, 3.0, 5.0, 7.0, 2.0, 2.0], [1, 1, 6]),
            &device,
        );
        let full = Tensor::<2>::ones([1, 1], &device);
        let pool = CompressorConfig::new(6, 3)
            .with_kind(CompressionKind::MeanPool)
            .init(&device);
        let out = pool.forward(slots.clone(), full.clone(), false);
        let decoded = out.decoded.into_data().try_to_vec::<f32>().unwrap();
        // Groups {1,3}, {5,7}, {2,2}, kept with the soft mask σ(4·(I·Z − j − ½)) at I = 1.
        let kept = |j: f32| 1.0 / (1.0 + (-4.0 * (3.0 - j - 0.5)).exp());
        let want = [2.0, 2.0, 6.0, 6.0, 2.0, 2.0];
        for (i, (a, b)) in decoded.iter().zip(want).enumerate() {
            let b = b * kept((i / 2) as f32);
            assert!((a - b).abs() < 1e-4, "{decoded:?}");
        }
        let width = kept(0.0) + kept(1.0) + kept(2.0);
        assert!((out.width.into_scalar::<f32>() - width).abs() < 1e-4);
        assert_eq!(pool.latent_dim(), 3);

        let none = CompressorConfig::new(6, 3)
            .with_kind(CompressionKind::Uncompressed)
            .init(&device);
        let out = none.forward(slots.clone(), full.zeros_like(), true);
        assert_eq!(
            out.decoded.into_data().try_to_vec::<f32>().unwrap(),
            slots.into_data().try_to_vec::<f32>().unwrap()
        );
        assert_eq!(out.width.into_scalar::<f32>(), 6.0);
        assert_eq!(none.latent_dim(), 6);
    }
}
