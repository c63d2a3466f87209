//! Dashboard passwords: argon2id hashes (PHC strings), and generated passwords.

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use hostwatch_proto::Secret;
use std::sync::LazyLock;

/// The shortest password `users add` / `users passwd` accept.
pub const MIN_LENGTH: usize = 10;

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("the password is too short: at least {MIN_LENGTH} characters")]
    TooShort,
    #[error("hashing the password failed: {0}")]
    Hash(String),
}

/// An argon2id hash of `password` with a fresh random salt (argon2's defaults: 19 MiB, 2 passes).
pub fn hash(password: &Secret) -> Result<String, PasswordError> {
    if password.expose().chars().count() < MIN_LENGTH {
        return Err(PasswordError::TooShort);
    }
    hash_unchecked(password.expose())
}

fn hash_unchecked(password: &str) -> Result<String, PasswordError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// Whether `password` matches `stored`. A damaged stored hash never matches.
pub fn verify(password: &str, stored: &str) -> bool {
    PasswordVerifier::<str>::verify_password(&Argon2::default(), password.as_bytes(), stored)
        .is_ok()
}

/// Checks a password for a user that may not exist: an unknown user costs the same argon2
/// work as a known one, so the answer's timing does not tell which names exist.
pub fn verify_or_dummy(password: &str, stored: Option<&str>) -> bool {
    static DUMMY: LazyLock<String> = LazyLock::new(|| {
        hash_unchecked(generate().expose()).expect("hashing a generated password works")
    });
    match stored {
        Some(stored) => verify(password, stored),
        None => {
            let _ = verify(password, &DUMMY);
            false
        }
    }
}

/// A random password: 128 bits as 22 base64url characters.
pub fn generate() -> Secret {
    Secret::new(crate::token::random_base64url::<16>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_salted_and_verify() {
        let pw = Secret::new("correct horse battery");
        let a = hash(&pw).unwrap();
        let b = hash(&pw).unwrap();
        assert!(a.starts_with("$argon2id$"), "{a}");
        assert_ne!(a, b, "salted");
        assert!(!a.contains("correct horse"));
        assert!(verify("correct horse battery", &a));
        assert!(!verify("correct horse batterY", &a));
        assert!(!verify("correct horse battery", "not a hash"));
        assert!(!verify_or_dummy("correct horse battery", None));
        assert!(verify_or_dummy("correct horse battery", Some(&b)));
    }

    #[test]
    fn short_passwords_are_refused_and_generated_ones_are_long() {
        assert!(matches!(
            hash(&Secret::new("short")),
            Err(PasswordError::TooShort)
        ));
        let g = generate();
        assert_eq!(g.expose().len(), 22);
        assert_ne!(g.expose(), generate().expose());
    }
}
