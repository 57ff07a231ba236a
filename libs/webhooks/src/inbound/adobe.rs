//! Adobe Acrobat Sign: it signs no body. Every request (the verification-of-intent GET and each
//! event POST) carries `X-AdobeSign-ClientId`, the id of the application that registered the
//! webhook; the receiver checks it is its own and echoes it back in the same response header
//! (or as `xAdobeSignClientId` in a JSON body), or Adobe stops delivering. Where a deployment
//! configures an HMAC secret for Adobe, the specification's `X-Signature` applies as well
//! ([`super::SpecFormat`]).
use http::{HeaderMap, HeaderName, HeaderValue};

use super::{Verified, header};
use crate::{Secret, WebhookError};

pub const CLIENT_ID_HEADER: &str = "X-AdobeSign-ClientId";

#[derive(Debug, Clone)]
pub struct AdobeSign {
    client_id: Secret,
}

impl AdobeSign {
    pub fn new(client_id: Secret) -> Self {
        AdobeSign { client_id }
    }

    /// Checks the client id (constant time).
    pub fn verify(&self, headers: &HeaderMap) -> Result<Verified, WebhookError> {
        let given = header(headers, CLIENT_ID_HEADER)?;
        aws_lc_rs::constant_time::verify_slices_are_equal(
            given.as_bytes(),
            self.client_id.expose(),
        )
        .map_err(|_| WebhookError::BadSignature)?;
        Ok(Verified {
            source: "adobesign".into(),
            delivery_id: None,
        })
    }

    /// The header the answer must carry for Adobe to keep the webhook active.
    pub fn echo(&self) -> Result<(HeaderName, HeaderValue), WebhookError> {
        let value = HeaderValue::from_bytes(self.client_id.expose()).map_err(|_| {
            WebhookError::Config("the Adobe Sign client id is not a header value".into())
        })?;
        Ok((HeaderName::from_static("x-adobesign-clientid"), value))
    }
}
