//! Adaptive compression of working-memory slots for long-term storage (§2.2.2):
//! `μ, σ = Encoder(w)`, `z = μ + ε ⊙ σ`, `l̃ = Decoder(z, I)`, with a bottleneck whose width
//! follows the importance score `I`: latent dimension `j` is kept with a soft mask
//! `σ(s · (I·Z − j − ½))`, so an important slot keeps more latent dimensions than an
//! unimportant one and the width stays differentiable in `I`.

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::sigmoid;
use burn::tensor::{Device, Distribution, Int, Tensor};

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
}

/// The VAE: a linear encoder to (μ, log σ²) and a linear decoder.
#[derive(Module, Debug)]
pub struct Compressor {
    /// `d → 2Z`
    encoder: Linear,
    /// `Z → d`
    decoder: Linear,
    latent_dim: usize,
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
        }
    }
}

impl Compressor {
    /// Latent width `Z`.
    pub fn latent_dim(&self) -> usize {
        self.latent_dim
    }

    /// Compresses slots; `sample` draws ε (training), otherwise z = μ.
    ///
    /// # Shapes
    /// - slots: `[B, m, d]`, importance: `[B, m]` in (0, 1)
    pub fn forward(&self, slots: Tensor<3>, importance: Tensor<2>, sample: bool) -> Compressed {
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
        let j = Tensor::<1, Int>::arange(0..z_dim as i64, &device)
            .float()
            .reshape([1, 1, z_dim]);
        let width = importance.unsqueeze_dim::<3>(2) * z_dim as f64;
        let mask = sigmoid((width - j - 0.5) * MASK_STEEPNESS); // [B, m, Z]
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
}
