//! Identity for every service: RS256 JWTs with `kid` and a JWKS document (org-auth issues, all
//! verify), the [`Principal`] a request acts as, and its axum extractors.
//!
//! org-auth is the only issuer (ARCHITECTURE §7). Kong verifies tokens at the edge; every
//! service verifies them again (defence in depth) with a [`Verifier`] that either holds static
//! public keys or caches org-auth's JWKS and refreshes it when a token names an unknown `kid`.

mod claims;
pub mod edge;
mod keys;
mod principal;
mod revoked;
mod verify;

pub use claims::{Claims, UserType};
pub use edge::{Attested, EdgeKey};
pub use keys::{Signer, SigningKey};
pub use principal::{AgentInfo, OptionalPrincipal, Permissions, Principal};
pub use revoked::{Revocation, Revoked};
pub use verify::{AuthError, JwksSource, Verifier, VerifierConfig, VerifyKey};

pub use jsonwebtoken::jwk::JwkSet;
