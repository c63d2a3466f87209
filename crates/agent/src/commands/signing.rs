//! Ed25519 signatures on remote commands, so neither the broker nor the hub's database alone
//! can make an agent run anything: the agent runs only what a key it trusts signed, for this
//! host, before the signed expiry, once.
//!
//! The signed bytes are [`signed_message`]: a version tag, the host, the request id, the expiry
//! (unix ms), the command and its parameters as a JSON array, one per line.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};

/// A new keypair as base64 `(private, public)`.
pub fn generate_keypair() -> (String, String) {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).expect("the OS random source is available");
    let key = SigningKey::from_bytes(&seed);
    (
        STANDARD.encode(key.to_bytes()),
        STANDARD.encode(key.verifying_key().to_bytes()),
    )
}

pub fn parse_public_key(b64: &str) -> Result<VerifyingKey, String> {
    let bytes: [u8; 32] = STANDARD
        .decode(b64.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or("not a base64 Ed25519 public key (32 bytes)")?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| "not a valid Ed25519 public key".to_string())
}

pub fn parse_private_key(b64: &str) -> Result<SigningKey, String> {
    let bytes: [u8; 32] = STANDARD
        .decode(b64.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or("not a base64 Ed25519 private key (32 bytes)")?;
    Ok(SigningKey::from_bytes(&bytes))
}

/// The bytes a signature covers (defined in the wire contract, so the hub signs the same).
pub use hostwatch_proto::command::signed_message;

/// Signs `message` with a base64 private key; the signature in base64.
pub fn sign(private_b64: &str, message: &[u8]) -> Result<String, String> {
    let key = parse_private_key(private_b64)?;
    Ok(STANDARD.encode(key.sign(message).to_bytes()))
}

/// Whether one of `keys` signed `message`.
pub fn verify(keys: &[VerifyingKey], message: &[u8], signature_b64: &str) -> bool {
    let Some(bytes) = STANDARD
        .decode(signature_b64.trim())
        .ok()
        .and_then(|b| <[u8; 64]>::try_from(b).ok())
    else {
        return false;
    };
    let signature = Signature::from_bytes(&bytes);
    keys.iter().any(|k| k.verify(message, &signature).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_and_verify_round_trip_and_tamper() {
        let (private, public) = generate_keypair();
        let key = parse_public_key(&public).unwrap();
        let msg = signed_message("web1", "r1", 1000, "restart", &["nginx".into()]);
        let sig = sign(&private, &msg).unwrap();
        assert!(verify(&[key], &msg, &sig));
        let other = signed_message("web2", "r1", 1000, "restart", &["nginx".into()]);
        assert!(!verify(&[key], &other, &sig));
        assert!(!verify(&[key], &msg, "AAAA"));
        let (_, stranger) = generate_keypair();
        assert!(!verify(&[parse_public_key(&stranger).unwrap()], &msg, &sig));
        assert!(parse_public_key("nope").is_err());
    }
}
