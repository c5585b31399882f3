//! Signatures: Standard Webhooks for what herald sends (and for `/events` it takes), Twilio's
//! `X-Twilio-Signature` for what Twilio posts back, and the one-click unsubscribe tokens of
//! email (made by the `smtp` kind, checked by the live server).

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
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

/// A per-contact unsubscribe token: `base64url(campaign NUL contact).base64url(mac)`, with
/// the HMAC-SHA256 under `secret` (the bytes of `server.secret` as written). The server reads
/// the campaign and contact back from it, and no one without the secret can make one.
pub fn unsubscribe_token(secret: &[u8], campaign: &str, contact: &str) -> String {
    unsubscribe_token_for(secret, campaign, contact, None)
}

/// The token of a message sent to `address` when that is not the contact's key (a campaign
/// keyed by id): the address rides along, so that unsubscribing suppresses the address mailed.
pub fn unsubscribe_token_for(secret: &[u8], campaign: &str, contact: &str, address: Option<&str>) -> String {
    let mut payload = Vec::with_capacity(campaign.len() + contact.len() + 2);
    payload.extend_from_slice(campaign.as_bytes());
    payload.push(0);
    payload.extend_from_slice(contact.as_bytes());
    if let Some(address) = address.filter(|a| *a != contact) {
        payload.push(0);
        payload.extend_from_slice(address.as_bytes());
    }
    let mac = unsubscribe_mac(secret, &payload);
    format!("{}.{}", URL_SAFE_NO_PAD.encode(&payload), URL_SAFE_NO_PAD.encode(mac))
}

/// The campaign and contact of a token made with `secret`; `None` for anything else.
pub fn unsubscribe_verify(secret: &[u8], token: &str) -> Option<(String, String)> {
    unsubscribe_read(secret, token).map(|(campaign, contact, _)| (campaign, contact))
}

/// The campaign, contact and (when it differs from the contact) address of a token.
pub fn unsubscribe_read(secret: &[u8], token: &str) -> Option<(String, String, Option<String>)> {
    let (payload, mac) = token.split_once('.')?;
    let payload = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let mac = URL_SAFE_NO_PAD.decode(mac).ok()?;
    if !constant_time_eq(&mac, &unsubscribe_mac(secret, &payload)) {
        return None;
    }
    let text = String::from_utf8(payload).ok()?;
    let mut parts = text.splitn(3, '\0');
    let (campaign, contact) = (parts.next()?, parts.next()?);
    Some((campaign.to_string(), contact.to_string(), parts.next().map(str::to_string)))
}

/// Domain-separated, so that no other signature made with `server.secret` passes for a token.
fn unsubscribe_mac(secret: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(b"herald-unsubscribe\0");
    mac.update(payload);
    mac.finalize().into_bytes().to_vec()
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
    fn unsubscribe_tokens_carry_campaign_and_contact_and_only_verify_with_the_secret() {
        let token = unsubscribe_token(b"s3cret", "winback", "ann@example.com");
        assert_eq!(token, unsubscribe_token(b"s3cret", "winback", "ann@example.com"), "deterministic");
        assert!(token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.'), "{token}");
        assert_eq!(unsubscribe_verify(b"s3cret", &token), Some(("winback".to_string(), "ann@example.com".to_string())));
        assert_eq!(unsubscribe_verify(b"other", &token), None);
        // Another contact's payload with this contact's MAC does not pass.
        let other = unsubscribe_token(b"s3cret", "winback", "bo@example.com");
        let forged = format!("{}.{}", other.split('.').next().unwrap(), token.split('.').nth(1).unwrap());
        assert_eq!(unsubscribe_verify(b"s3cret", &forged), None);
        // The address mailed rides along when it is not the contact's key.
        let by_id = unsubscribe_token_for(b"s3cret", "winback", "42", Some("ann@example.com"));
        assert_eq!(
            unsubscribe_read(b"s3cret", &by_id),
            Some(("winback".into(), "42".into(), Some("ann@example.com".into())))
        );
        assert_eq!(unsubscribe_verify(b"s3cret", &by_id), Some(("winback".into(), "42".into())));
        assert_eq!(unsubscribe_token_for(b"s3cret", "winback", "ann@example.com", Some("ann@example.com")), token);
        // The separator keeps ("a", "bc") and ("ab", "c") apart.
        assert_ne!(unsubscribe_token(b"k", "a", "bc"), unsubscribe_token(b"k", "ab", "c"));
        for bad in ["", ".", "abc", "!!.!!", &token[..token.len() - 2]] {
            assert_eq!(unsubscribe_verify(b"s3cret", bad), None, "{bad}");
        }
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
