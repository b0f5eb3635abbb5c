//! Phones and browsers paired with the remote API (migration 4). A device's
//! bearer token is `ID.SECRET`; only the SHA-256 of the secret is kept, so
//! the database never holds a usable token.

use rusqlite::{params, OptionalExtension, Row};

use super::Store;
use crate::error::{Error, Result};
use crate::model::{now, RemoteDevice, Scope};

/// Notes that the device was just heard from, in `conn`'s transaction.
pub(super) fn touch_tx(
    conn: &rusqlite::Connection,
    path: &std::path::Path,
    id: &str,
) -> Result<()> {
    conn.execute(
        "UPDATE remote_devices SET last_seen_at = ?2 WHERE id = ?1",
        params![id, now()],
    )
    .map_err(|e| super::db_error(path, "write to", e))?;
    Ok(())
}

const COLUMNS: &str = "id, name, platform, scopes, apns_token, created_at, last_seen_at";

fn device_from_row(row: &Row<'_>) -> rusqlite::Result<RemoteDevice> {
    let scopes: String = row.get(3)?;
    Ok(RemoteDevice {
        id: row.get(0)?,
        name: row.get(1)?,
        platform: row.get(2)?,
        scopes: Scope::parse_list(&scopes).unwrap_or_default(),
        apns_token: row.get(4)?,
        created_at: row.get(5)?,
        last_seen_at: row.get(6)?,
    })
}

impl Store {
    /// Records a newly paired device; with an APNs token, the phone also
    /// gets its row in the seed's `devices` table (and its details), so
    /// pushes reach it.
    pub fn add_remote_device(
        &mut self,
        device: &RemoteDevice,
        token_hash: &str,
        apns_env: crate::model::DeviceEnv,
    ) -> Result<()> {
        let path = self.path.clone();
        self.write(|tx| {
            let add = || -> rusqlite::Result<()> {
                if let Some(apns) = &device.apns_token {
                    tx.execute(
                        "INSERT OR IGNORE INTO devices (token, platform, created_at) VALUES (?1, 'ios', ?2)",
                        params![apns, device.created_at],
                    )?;
                    tx.execute(
                        "INSERT INTO device_details (token, env, name) VALUES (?1, ?2, NULL)
                         ON CONFLICT(token) DO UPDATE SET env = excluded.env",
                        params![apns, apns_env.as_str()],
                    )?;
                }
                tx.execute(
                    &format!(
                        "INSERT INTO remote_devices ({COLUMNS}, token_hash)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
                    ),
                    params![
                        device.id,
                        device.name,
                        device.platform,
                        Scope::join(&device.scopes),
                        device.apns_token,
                        device.created_at,
                        device.last_seen_at,
                        token_hash
                    ],
                )?;
                Ok(())
            };
            add().map_err(|e| super::db_error(&path, "write to", e))
        })
    }

    /// Paired devices, oldest first.
    pub fn list_remote_devices(&self) -> Result<Vec<RemoteDevice>> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM remote_devices ORDER BY created_at, id"
            ))
            .map_err(|e| self.error("read", e))?;
        let rows = stmt
            .query_map([], device_from_row)
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(|e| self.error("read", e))?;
        Ok(rows)
    }

    /// A paired device and the hash of its token's secret.
    pub fn remote_device_with_hash(&self, id: &str) -> Result<Option<(RemoteDevice, String)>> {
        self.conn
            .query_row(
                &format!("SELECT {COLUMNS}, token_hash FROM remote_devices WHERE id = ?1"),
                [id],
                |row| Ok((device_from_row(row)?, row.get(7)?)),
            )
            .optional()
            .map_err(|e| self.error("read", e))
    }

    /// Notes that the device was just heard from.
    pub fn touch_remote_device(&mut self, id: &str) -> Result<()> {
        let path = self.path.clone();
        self.write(|tx| touch_tx(tx, &path, id))?;
        Ok(())
    }

    /// Unpairs a device: its token stops working, and its push token (if
    /// it gave one) is forgotten with it.
    pub fn remove_remote_device(&mut self, id: &str) -> Result<()> {
        let path = self.path.clone();
        let removed = self.write(|tx| {
            let remove = || -> rusqlite::Result<usize> {
                let apns: Option<Option<String>> = tx
                    .query_row(
                        "SELECT apns_token FROM remote_devices WHERE id = ?1",
                        [id],
                        |r| r.get(0),
                    )
                    .optional()?;
                let removed = tx.execute("DELETE FROM remote_devices WHERE id = ?1", [id])?;
                if let Some(Some(apns)) = apns {
                    tx.execute("DELETE FROM device_details WHERE token = ?1", [&apns])?;
                    tx.execute("DELETE FROM devices WHERE token = ?1", [&apns])?;
                }
                Ok(removed)
            };
            remove().map_err(|e| super::db_error(&path, "write to", e))
        })?;
        if removed == 0 {
            return Err(Error::not_found(format!("no paired device with id '{id}'"))
                .with_hint("list devices with `m device list`"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::DeviceEnv;

    #[test]
    fn a_paired_device_keeps_its_scopes_and_goes_with_its_push_token() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("m.db")).unwrap();
        let device = RemoteDevice {
            id: "d1".into(),
            name: "phone".into(),
            platform: "ios".into(),
            scopes: vec![Scope::Read, Scope::Decide],
            apns_token: Some("a".repeat(64)),
            created_at: 5,
            last_seen_at: None,
        };
        store
            .add_remote_device(&device, "hash", DeviceEnv::Sandbox)
            .unwrap();
        assert_eq!(store.list_remote_devices().unwrap(), vec![device.clone()]);
        let push = store.list_device_infos().unwrap();
        assert_eq!(push.len(), 1);
        assert_eq!(push[0].env, DeviceEnv::Sandbox);
        let (found, hash) = store.remote_device_with_hash("d1").unwrap().unwrap();
        assert_eq!((found.id.as_str(), hash.as_str()), ("d1", "hash"));
        store.touch_remote_device("d1").unwrap();
        assert!(store.list_remote_devices().unwrap()[0]
            .last_seen_at
            .is_some());
        store.remove_remote_device("d1").unwrap();
        assert!(store.list_remote_devices().unwrap().is_empty());
        assert!(store.list_device_infos().unwrap().is_empty());
        assert!(store.remote_device_with_hash("d1").unwrap().is_none());
        let err = store.remove_remote_device("d1").unwrap_err();
        assert_eq!(err.kind, crate::error::ErrorKind::NotFound);
    }
}
