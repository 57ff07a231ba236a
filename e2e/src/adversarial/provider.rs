//! A local stand-in for Google's OAuth endpoints (wiremock), answering as Google does: the fleet
//! is started with `OAUTH_GOOGLE_*` pointing at it. Each consent is one person signed in at the
//! provider: a single-use code whose exchange (this client's credentials and a PKCE verifier)
//! yields an access token whose `userinfo` names them with a verified address.
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{body_string_contains, header, method, path},
};

/// The `redirect_uri` the sign-ins use (allow-listed by [`Provider::env`]).
pub const REDIRECT: &str = "http://localhost:3000/auth/callback";

pub struct Provider {
    server: MockServer,
    client_id: String,
    client_secret: String,
}

impl Provider {
    /// Starts the mock on a free loopback port, with credentials of its own.
    pub async fn start() -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string();
        Provider {
            server: MockServer::start().await,
            client_id: format!("{id}.apps.googleusercontent.com"),
            client_secret: format!("GOCSPX-{}", &id[..24]),
        }
    }

    /// The settings that make org-auth use this provider as Google.
    pub fn env(&self) -> Vec<(String, String)> {
        let base = self.server.uri();
        [
            ("OAUTH_GOOGLE_CLIENT_ID", self.client_id.clone()),
            ("OAUTH_GOOGLE_CLIENT_SECRET", self.client_secret.clone()),
            ("OAUTH_GOOGLE_AUTH_URL", format!("{base}/o/oauth2/v2/auth")),
            ("OAUTH_GOOGLE_TOKEN_URL", format!("{base}/token")),
            ("OAUTH_GOOGLE_USERINFO_URL", format!("{base}/v1/userinfo")),
            ("OAUTH_REDIRECT_URIS", REDIRECT.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// `email` (named `name`) signs in at the provider and consents: the code the provider
    /// sends the browser back with.
    pub async fn consent(&self, email: &str, name: &str) -> String {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let code = format!("4-0Ad{id}");
        let access = format!("ya29.a0{id}");
        let token = serde_json::json!({
            "access_token": access,
            "expires_in": 3599,
            "scope": "openid https://www.googleapis.com/auth/userinfo.email https://www.googleapis.com/auth/userinfo.profile",
            "token_type": "Bearer",
        });
        // Google's codes are single use, and exchanged only with the client's secret and the
        // PKCE verifier.
        Mock::given(method("POST"))
            .and(path("/token"))
            .and(body_string_contains(format!("code={code}")))
            .and(body_string_contains(format!(
                "client_secret={}",
                self.client_secret
            )))
            .and(body_string_contains("code_verifier="))
            .respond_with(ResponseTemplate::new(200).set_body_json(token))
            .up_to_n_times(1)
            .mount(&self.server)
            .await;
        let domain = email.split('@').nth(1).unwrap_or_default();
        let profile = serde_json::json!({
            "sub": format!("1{}", &id.bytes().map(|b| (b % 10).to_string()).collect::<String>()[..20]),
            "name": name,
            "given_name": name.split(' ').next().unwrap_or(name),
            "family_name": name.split(' ').nth(1).unwrap_or_default(),
            "picture": "https://lh3.googleusercontent.com/a/default-user=s96-c",
            "email": email,
            "email_verified": true,
            "hd": domain,
        });
        Mock::given(method("GET"))
            .and(path("/v1/userinfo"))
            .and(header("authorization", format!("Bearer {access}")))
            .respond_with(ResponseTemplate::new(200).set_body_json(profile))
            .mount(&self.server)
            .await;
        code
    }
}
