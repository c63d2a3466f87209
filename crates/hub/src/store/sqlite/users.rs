//! Dashboard users and sessions in SQLite (migration V4).

use super::{SqliteStore, db};
use crate::store::{HostId, Role, Session, StoreError, User};
use hostwatch_proto::Report;
use rusqlite::{OptionalExtension, params};

fn role_of(text: String) -> Result<Role, StoreError> {
    Role::parse(&text).ok_or_else(|| StoreError::Corrupt(format!("unknown role `{text}`")))
}

impl SqliteStore {
    pub(super) async fn create_user_impl(&self, user: &User, hash: &str) -> Result<(), StoreError> {
        let (user, hash) = (user.clone(), hash.to_string());
        self.write(move |c| {
            c.execute(
                "INSERT INTO users (name, password_hash, role, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![user.name, hash, user.role.as_str(), user.created_at],
            )
            .map_err(|e| match db(e) {
                StoreError::Conflict(_) => StoreError::Conflict(format!("user `{}`", user.name)),
                other => other,
            })?;
            Ok(())
        })
        .await
    }

    pub(super) async fn users_impl(&self) -> Result<Vec<User>, StoreError> {
        self.read(|c| {
            let mut s = c
                .prepare_cached("SELECT name, role, created_at FROM users ORDER BY name")
                .map_err(db)?;
            let rows = s
                .query_map([], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get(2)?))
                })
                .map_err(db)?
                .collect::<Result<Vec<(String, String, i64)>, _>>()
                .map_err(db)?;
            rows.into_iter()
                .map(|(name, role, created_at)| {
                    Ok(User {
                        name,
                        role: role_of(role)?,
                        created_at,
                    })
                })
                .collect()
        })
        .await
    }

    pub(super) async fn user_with_hash_impl(
        &self,
        name: &str,
    ) -> Result<Option<(User, String)>, StoreError> {
        let name = name.to_string();
        self.read(move |c| {
            let row = c
                .query_row(
                    "SELECT role, created_at, password_hash FROM users WHERE name = ?1",
                    [&name],
                    |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, i64>(1)?,
                            r.get::<_, String>(2)?,
                        ))
                    },
                )
                .optional()
                .map_err(db)?;
            let Some((role, created_at, hash)) = row else {
                return Ok(None);
            };
            Ok(Some((
                User {
                    name,
                    role: role_of(role)?,
                    created_at,
                },
                hash,
            )))
        })
        .await
    }

    pub(super) async fn remove_user_impl(&self, name: &str) -> Result<bool, StoreError> {
        let name = name.to_string();
        self.write(move |c| {
            c.execute("DELETE FROM sessions WHERE user_name = ?1", [&name])
                .map_err(db)?;
            Ok(c.execute("DELETE FROM users WHERE name = ?1", [&name])
                .map_err(db)?
                > 0)
        })
        .await
    }

    pub(super) async fn set_user_password_impl(
        &self,
        name: &str,
        hash: &str,
    ) -> Result<bool, StoreError> {
        let (name, hash) = (name.to_string(), hash.to_string());
        self.write(move |c| {
            let changed = c
                .execute(
                    "UPDATE users SET password_hash = ?2 WHERE name = ?1",
                    params![name, hash],
                )
                .map_err(db)?;
            // A new password ends every session the old one opened.
            c.execute("DELETE FROM sessions WHERE user_name = ?1", [&name])
                .map_err(db)?;
            Ok(changed > 0)
        })
        .await
    }

    pub(super) async fn create_session_impl(
        &self,
        token_hash: [u8; 32],
        user: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        let user = user.to_string();
        self.write(move |c| {
            c.execute(
                "INSERT INTO sessions (token_hash, user_name, created_at, expires_at, last_seen)
                 VALUES (?1, ?2, ?3, ?4, ?3)",
                params![&token_hash[..], user, now, expires_at],
            )
            .map_err(db)?;
            Ok(())
        })
        .await
    }

    pub(super) async fn session_impl(
        &self,
        token_hash: [u8; 32],
        now: i64,
    ) -> Result<Option<Session>, StoreError> {
        self.read(move |c| {
            let row = c
                .query_row(
                    "SELECT u.name, u.role, u.created_at, s.created_at, s.expires_at, s.last_seen
                     FROM sessions s JOIN users u ON u.name = s.user_name
                     WHERE s.token_hash = ?1 AND s.expires_at > ?2",
                    params![&token_hash[..], now],
                    |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, i64>(2)?,
                            r.get::<_, i64>(3)?,
                            r.get::<_, i64>(4)?,
                            r.get::<_, i64>(5)?,
                        ))
                    },
                )
                .optional()
                .map_err(db)?;
            let Some((name, role, user_created, created_at, expires_at, last_seen)) = row else {
                return Ok(None);
            };
            Ok(Some(Session {
                user: User {
                    name,
                    role: role_of(role)?,
                    created_at: user_created,
                },
                created_at,
                expires_at,
                last_seen,
            }))
        })
        .await
    }

    pub(super) async fn touch_session_impl(
        &self,
        token_hash: [u8; 32],
        now: i64,
    ) -> Result<(), StoreError> {
        self.write(move |c| {
            c.execute(
                "UPDATE sessions SET last_seen = ?2 WHERE token_hash = ?1",
                params![&token_hash[..], now],
            )
            .map_err(db)?;
            Ok(())
        })
        .await
    }

    pub(super) async fn delete_session_impl(
        &self,
        token_hash: [u8; 32],
        now: i64,
    ) -> Result<(), StoreError> {
        self.write(move |c| {
            c.execute(
                "DELETE FROM sessions WHERE token_hash = ?1 OR expires_at <= ?2",
                params![&token_hash[..], now],
            )
            .map_err(db)?;
            Ok(())
        })
        .await
    }

    /// Every host's latest state: from the in-memory cache, rebuilt from the database for the
    /// hosts not cached yet (the first overview after a start).
    pub(super) async fn latest_all_impl(&self) -> Result<Vec<(HostId, Report)>, StoreError> {
        let cached: std::collections::HashSet<HostId> = super::latest::lock(&self.inner.latest)
            .keys()
            .copied()
            .collect();
        let inner = self.inner.clone();
        self.read(move |c| {
            let hosts = c
                .prepare_cached("SELECT host_id FROM latest")
                .map_err(db)?
                .query_map([], |r| r.get::<_, HostId>(0))
                .map_err(db)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db)?;
            for host in hosts.into_iter().filter(|h| !cached.contains(h)) {
                super::latest::load_into(c, &inner.latest, host)?;
            }
            Ok(())
        })
        .await?;
        let cache = super::latest::lock(&self.inner.latest);
        Ok(cache
            .iter()
            .map(|(id, c)| (*id, Report::clone(&c.report)))
            .collect())
    }
}
