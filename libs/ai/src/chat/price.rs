//! Per-model token prices, for the cost in [`Usage`](super::Usage).
//!
//! `FLEET_LLM_PRICES` lists them as `model=input/output,…` in US dollars per million tokens,
//! e.g. `gpt-4o-mini=0.15/0.60,gpt-4o=2.50/10.00`. A model without a price costs `None`, never
//! a made-up figure.
use std::collections::HashMap;

use super::error::ChatError;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Price {
    /// US dollars per million prompt tokens.
    pub input_per_million: f64,
    /// US dollars per million completion tokens.
    pub output_per_million: f64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Prices(HashMap<String, Price>);

impl Prices {
    /// Parses the `FLEET_LLM_PRICES` form; a bad entry is a configuration error naming it.
    pub fn parse(spec: &str) -> Result<Self, ChatError> {
        let mut prices = HashMap::new();
        for entry in spec.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let bad = || {
                ChatError::Config(format!(
                    "FLEET_LLM_PRICES: bad entry `{entry}` (want model=input/output)"
                ))
            };
            let (model, rates) = entry.split_once('=').ok_or_else(bad)?;
            let (input, output) = rates.split_once('/').ok_or_else(bad)?;
            let rate = |s: &str| {
                s.trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite() && *v >= 0.0)
                    .ok_or_else(bad)
            };
            prices.insert(
                model.trim().to_string(),
                Price {
                    input_per_million: rate(input)?,
                    output_per_million: rate(output)?,
                },
            );
        }
        Ok(Prices(prices))
    }

    pub fn from_env() -> Result<Self, ChatError> {
        match std::env::var("FLEET_LLM_PRICES") {
            Ok(spec) => Self::parse(&spec),
            Err(_) => Ok(Prices::default()),
        }
    }

    /// The cost of a call of `model`, when it has a price.
    pub fn cost(&self, model: &str, prompt_tokens: u32, completion_tokens: u32) -> Option<f64> {
        let p = self.0.get(model)?;
        Some(
            (f64::from(prompt_tokens) * p.input_per_million
                + f64::from(completion_tokens) * p.output_per_million)
                / 1_000_000.0,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_parse_and_cost_per_million_tokens() {
        let p = Prices::parse("gpt-4o-mini=0.15/0.60, other=1/2").expect("parses");
        let cost = p.cost("gpt-4o-mini", 1_000_000, 500_000).expect("priced");
        assert!((cost - 0.45).abs() < 1e-9);
        assert_eq!(p.cost("unpriced", 10, 10), None);
        assert!(Prices::parse("gpt=abc/1").is_err());
        assert!(Prices::parse("gpt=-1/1").is_err());
        assert!(Prices::parse("gpt").is_err());
    }
}
