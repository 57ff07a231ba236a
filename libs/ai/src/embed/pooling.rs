//! Sentence-transformers' pooling for all-MiniLM-L6-v2: the mean of the token vectors over the
//! attention mask (`pooling_mode_mean_tokens`), then L2 normalisation (its `Normalize` module).
use candle_core::{DType, Tensor};

/// `hidden` is (batch, tokens, dims); `mask` is (batch, tokens) with 1 for real tokens.
pub fn mean_normalised(hidden: &Tensor, mask: &Tensor) -> candle_core::Result<Vec<Vec<f32>>> {
    let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
    let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
    // As sentence-transformers: the token count is clamped to 1e-9, the norm to 1e-12.
    let counts = mask.sum(1)?.clamp(1e-9f32, f32::MAX)?;
    let mean = summed.broadcast_div(&counts)?;
    let norm = mean
        .sqr()?
        .sum_keepdim(1)?
        .sqrt()?
        .clamp(1e-12f32, f32::MAX)?;
    mean.broadcast_div(&norm)?.to_vec2::<f32>()
}

#[cfg(test)]
mod tests {
    use candle_core::Device;

    use super::*;

    #[test]
    fn padding_is_left_out_of_the_mean_and_the_result_has_unit_length() -> candle_core::Result<()> {
        // One sequence of two real tokens and one padding token whose vector is huge.
        let hidden = Tensor::new(&[[[1f32, 0.], [3., 4.], [100., 100.]]], &Device::Cpu)?;
        let mask = Tensor::new(&[[1u32, 1, 0]], &Device::Cpu)?;
        let out = mean_normalised(&hidden, &mask)?;
        // mean = (2, 2) → normalised (0.7071, 0.7071)
        let v = &out[0];
        assert!(
            (v[0] - std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-6,
            "{v:?}"
        );
        assert!(
            (v[1] - std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-6,
            "{v:?}"
        );
        Ok(())
    }
}
