//! OAuth2 client-credentials grant (Go's `clientcredentials`, client credentials in the Authorization header), as
//! Argo's web and prometheus providers authenticate with `authentication.oauth2`.

use crate::http;
use serde::Deserialize;
use std::time::Duration;

/// Argo's `authentication.oauth2` block.
#[derive(Debug, Deserialize, Default, Clone)]
#[serde(rename_all = "camelCase")]
pub struct ClientCredentials {
    #[serde(default)]
    pub token_url: String,
    #[serde(default)]
    pub client_id: String,
    #[serde(default)]
    pub client_secret: String,
    #[serde(default)]
    pub scopes: Vec<String>,
}

impl ClientCredentials {
    /// Exchanges the client credentials for an access token at `token_url`.
    pub fn token(&self, timeout: Duration) -> Result<String, String> {
        let mut form = String::from("grant_type=client_credentials");
        if !self.scopes.is_empty() {
            form.push_str("&scope=");
            form.push_str(&form_escape(&self.scopes.join(" ")));
        }
        let credentials = format!("{}:{}", form_escape(&self.client_id), form_escape(&self.client_secret));
        let response = http::send(&http::Request {
            method: "POST".into(),
            url: self.token_url.clone(),
            headers: vec![
                ("Content-Type".into(), "application/x-www-form-urlencoded".into()),
                ("Authorization".into(), format!("Basic {}", http::base64(credentials.as_bytes()))),
            ],
            body: Some(form.into_bytes()),
            timeout,
        })
        .map_err(|e| format!("oauth2: cannot fetch token: {e}"))?;
        if !(200..300).contains(&response.status) {
            return Err(format!("oauth2: cannot fetch token: status {}", response.status));
        }
        let token: serde_json::Value = serde_json::from_slice(&response.body)
            .map_err(|e| format!("oauth2: cannot parse token response: {e}"))?;
        token
            .get("access_token")
            .and_then(|t| t.as_str())
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .ok_or_else(|| "oauth2: server response missing access_token".to_string())
    }
}

/// `application/x-www-form-urlencoded` escaping.
fn form_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn form_values_are_escaped() {
        assert_eq!(super::form_escape("a b&c=d"), "a+b%26c%3Dd");
    }
}
