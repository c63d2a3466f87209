//! Managing dashboard users: shared by `hostwatch users …` and `hostwatch up`.

use super::password::{self, PasswordError};
use crate::store::{Role, Store, StoreError, User};
use hostwatch_proto::Secret;

#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("invalid user name `{0}`: use 1–64 letters, digits, `-`, `_` or `.`")]
    InvalidName(String),
    #[error(transparent)]
    Password(#[from] PasswordError),
    #[error("no user `{0}`")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Hashes off the async workers: argon2 takes tens of milliseconds on purpose.
async fn hash(password: Secret) -> Result<String, UserError> {
    tokio::task::spawn_blocking(move || password::hash(&password))
        .await
        .map_err(|e| UserError::Password(PasswordError::Hash(e.to_string())))?
        .map_err(UserError::from)
}

/// Adds a user; `Store(Conflict)` when the name is taken.
pub async fn add<S: Store>(
    store: &S,
    name: &str,
    role: Role,
    password: Secret,
    now: i64,
) -> Result<User, UserError> {
    if name.len() > 64 || !crate::enrol::valid_name(name) {
        return Err(UserError::InvalidName(name.to_string()));
    }
    let hash = hash(password).await?;
    let user = User {
        name: name.to_string(),
        role,
        created_at: now,
    };
    store.create_user(&user, &hash).await?;
    Ok(user)
}

/// Sets a new password; every session of the user ends.
pub async fn set_password<S: Store>(
    store: &S,
    name: &str,
    password: Secret,
) -> Result<(), UserError> {
    let hash = hash(password).await?;
    if store.set_user_password(name, &hash).await? {
        Ok(())
    } else {
        Err(UserError::NotFound(name.to_string()))
    }
}

/// On a hub's very first start (no user at all): an `admin` with a generated password, to
/// print once. `None` once any user exists.
pub async fn first_admin<S: Store>(store: &S, now: i64) -> Result<Option<Secret>, UserError> {
    if !store.users().await?.is_empty() {
        return Ok(None);
    }
    let password = password::generate();
    match add(
        store,
        "admin",
        Role::Admin,
        Secret::new(password.expose()),
        now,
    )
    .await
    {
        Ok(_) => Ok(Some(password)),
        Err(UserError::Store(StoreError::Conflict(_))) => Ok(None),
        Err(e) => Err(e),
    }
}
