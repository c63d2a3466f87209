//! Bearer tokens: 256 random bits, shown once, stored only as a SHA-256 hash.
//!
//! A token reads `hw_<id>_<secret>`: the `id` (64 random bits, hex) finds the row without a
//! secret-dependent index lookup, then the hash of the `secret` (256 random bits, base64url)
//! is compared in constant time. A plain hash — not argon2 — is right here: the secret is
//! random and long, so there is nothing to brute-force, and ingest checks a token per request.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hostwatch_proto::Secret;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// What the store keeps of a token.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenHash {
    /// The public part, for lookup.
    pub id: String,
    /// SHA-256 of the secret part.
    pub hash: [u8; 32],
}

impl std::fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TokenHash({})", self.id)
    }
}

/// A freshly issued token: the full secret, to print once, and what to store.
#[derive(Debug)]
pub struct IssuedToken {
    pub token: Secret,
    pub stored: TokenHash,
}

/// Issues a new token from the operating system's random source.
pub fn issue() -> IssuedToken {
    let mut id = [0u8; 8];
    getrandom::fill(&mut id).expect("the OS random source is available");
    let id: String = id.iter().map(|b| format!("{b:02x}")).collect();
    let secret = random_base64url::<32>();
    IssuedToken {
        stored: TokenHash {
            id: id.clone(),
            hash: digest(&secret),
        },
        token: Secret::new(format!("hw_{id}_{secret}")),
    }
}

/// `N` bytes from the operating system's random source, as base64url without padding: the
/// secret half of host tokens, dashboard session tokens, generated passwords.
pub fn random_base64url<const N: usize>() -> String {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("the OS random source is available");
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The SHA-256 stored in place of a random secret (enough: it is long and random, nothing to
/// brute-force).
pub fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// A presented token split into its parts; `None` when it is not shaped like one of ours.
pub fn parse(presented: &str) -> Option<(&str, &str)> {
    let rest = presented.strip_prefix("hw_")?;
    let (id, secret) = rest.split_once('_')?;
    let id_ok = id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit());
    let secret_ok = secret.len() == 43
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    (id_ok && secret_ok).then_some((id, secret))
}

/// Whether `secret` is the one `stored` was made from, in constant time.
pub fn verify(stored: &TokenHash, secret: &str) -> bool {
    digest(secret).ct_eq(&stored.hash).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_tokens_verify_and_differ() {
        let a = issue();
        let b = issue();
        assert_ne!(a.token.expose(), b.token.expose());
        let (id, secret) = parse(a.token.expose()).expect("well-formed");
        assert_eq!(id, a.stored.id);
        assert!(verify(&a.stored, secret));
        assert!(!verify(&b.stored, secret));
        // 256 bits of secret: 32 bytes as 43 base64url characters.
        assert_eq!(secret.len(), 43);
    }

    #[test]
    fn malformed_tokens_are_not_parsed() {
        for bad in [
            "",
            "hw_",
            "Bearer x",
            "hw_0123456789abcdef",
            "hw_0123456789abcdeg_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "hw_0123456789abcdef_short",
            "hw_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA!",
        ] {
            assert!(parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn neither_debug_form_shows_the_secret() {
        let t = issue();
        let secret = parse(t.token.expose()).unwrap().1.to_string();
        let shown = format!("{t:?} {:?} {}", t.stored, t.token);
        assert!(!shown.contains(&secret), "{shown}");
    }
}
