//! Signatures: Standard Webhooks for what herald sends (and for `/events` it takes), Twilio's
//! `X-Twilio-Signature` for what Twilio posts back.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};

/// The signing key of a Standard Webhooks secret: base64 after an optional `whsec_`.
pub fn webhook_key(secret: &str) -> Result<Vec<u8>, String> {
    let encoded = secret.strip_prefix("whsec_").unwrap_or(secret);
    STANDARD.decode(encoded).map_err(|_| "the secret is not base64 (write it as whsec_<base64>)".to_string())
}

/// `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`.
pub fn webhook_signature(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// Whether `header` (space-separated `v1,<sig>` entries) holds the signature of this request.
pub fn webhook_verify(key: &[u8], id: &str, timestamp: i64, body: &[u8], header: &str) -> bool {
    let want = webhook_signature(key, id, timestamp, body);
    header.split_whitespace().any(|given| constant_time_eq(given.as_bytes(), want.as_bytes()))
}

/// `X-Twilio-Signature`: base64 HMAC-SHA1 of the full URL followed by each POST parameter's
/// name and value, sorted by name.
pub fn twilio_signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let mut mac = <Hmac<sha1::Sha1> as KeyInit>::new_from_slice(auth_token.as_bytes()).expect("any key length");
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    STANDARD.encode(mac.finalize().into_bytes())
}

pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_webhooks_test_vector() {
        let key = webhook_key("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap();
        let body = br#"{"email":"test@example.com","username":"test_user"}"#;
        let signature = webhook_signature(&key, "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk", 1649367553, body);
        assert_eq!(signature, "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=");
        let header = format!("v1,bm90IGl0 {signature}");
        assert!(webhook_verify(&key, "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk", 1649367553, body, &header));
        assert!(!webhook_verify(&key, "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk", 1649367554, body, &header));
        assert!(webhook_key("whsec_not base64!").is_err());
    }

    #[test]
    fn twilio_test_vector() {
        let params: Vec<(String, String)> = [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675309"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        assert_eq!(twilio_signature("12345", url, &params), "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
    }
}
