use rusqlite::{params, OptionalExtension, Row};

use super::Store;
use crate::error::{Error, Result};
use crate::model::{now, DeviceEnv, DeviceInfo, Platform, PrunedDevice};

impl Store {
    pub fn remove_device(&mut self, token: &str) -> Result<()> {
        let path = self.path.clone();
        let removed = self.write(|tx| {
            tx.execute("DELETE FROM device_details WHERE token = ?1", [token])
                .and_then(|_| tx.execute("DELETE FROM devices WHERE token = ?1", [token]))
                .map_err(|e| super::db_error(&path, "write to", e))
        })?;
        if removed == 0 {
            return Err(Error::not_found(format!("no device with token '{token}'"))
                .with_hint("list devices with `m device list`"));
        }
        Ok(())
    }
}

/// Reads a text column holding a closed set of names.
fn parse_column<T: std::str::FromStr>(row: &Row<'_>, index: usize) -> rusqlite::Result<T> {
    let text: String = row.get(index)?;
    text.parse().map_err(|_| {
        rusqlite::Error::FromSqlConversionFailure(
            index,
            rusqlite::types::Type::Text,
            format!("unexpected value '{text}'").into(),
        )
    })
}

fn device_info_from_row(row: &Row<'_>) -> rusqlite::Result<DeviceInfo> {
    Ok(DeviceInfo {
        token: row.get(0)?,
        platform: parse_column(row, 1)?,
        created_at: row.get(2)?,
        env: parse_column(row, 3)?,
        name: row.get(4)?,
    })
}

impl Store {
    /// Registers a device with its APNs environment and a name for people.
    /// A token already registered keeps its row and gets the new environment
    /// and name (re-adding is how a wrong `--env` is fixed). A name another
    /// device has is a conflict: `m device rm NAME` must name one device.
    /// Returns whether the device is new.
    pub fn add_device_with_details(
        &mut self,
        token: &str,
        platform: Platform,
        env: DeviceEnv,
        name: Option<&str>,
    ) -> Result<bool> {
        let path = self.path.clone();
        self.write(|tx| {
            if let Some(name) = name {
                let other: Option<String> = tx
                    .query_row(
                        "SELECT token FROM device_details WHERE name = ?1 AND token != ?2
                         ORDER BY token LIMIT 1",
                        params![name, token],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(|e| super::db_error(&path, "read", e))?;
                if let Some(other) = other {
                    return Err(Error::conflict(format!(
                        "device {}… is already named '{name}'",
                        &other[..other.len().min(12)]
                    ))
                    .with_hint(format!(
                        "choose another --name, or forget that device first: m device rm '{name}'"
                    )));
                }
            }
            let added = tx
                .execute(
                    "INSERT OR IGNORE INTO devices (token, platform, created_at) VALUES (?1, ?2, ?3)",
                    params![token, platform.as_str(), now()],
                )
                .and_then(|added| {
                    tx.execute(
                        "INSERT INTO device_details (token, env, name) VALUES (?1, ?2, ?3)
                         ON CONFLICT(token) DO UPDATE SET env = excluded.env, name = excluded.name",
                        params![token, env.as_str(), name],
                    )?;
                    Ok(added)
                })
                .map_err(|e| super::db_error(&path, "write to", e))?;
            Ok(added == 1)
        })
    }

    /// Every device with its details, oldest first.
    pub fn list_device_infos(&self) -> Result<Vec<DeviceInfo>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT d.token, d.platform, d.created_at,
                        COALESCE(x.env, 'production'), x.name
                 FROM devices d LEFT JOIN device_details x ON x.token = d.token
                 ORDER BY d.created_at, d.token",
            )
            .map_err(|e| self.error("read", e))?;
        let rows = stmt
            .query_map([], device_info_from_row)
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(|e| self.error("read", e))?;
        Ok(rows)
    }

    /// Removes a device whose token APNs declared dead and records why, so
    /// `m device list` can show it. Returns whether the device was there.
    pub fn prune_device(&mut self, token: &str, reason: &str) -> Result<bool> {
        let path = self.path.clone();
        self.write(|tx| {
            let prune = || -> rusqlite::Result<bool> {
                let details: Option<(Option<String>, Option<String>)> = tx
                    .query_row(
                        "SELECT x.env, x.name FROM devices d
                         LEFT JOIN device_details x ON x.token = d.token
                         WHERE d.token = ?1",
                        [token],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .optional()?;
                let Some((env, name)) = details else {
                    return Ok(false);
                };
                tx.execute("DELETE FROM device_details WHERE token = ?1", [token])?;
                tx.execute("DELETE FROM devices WHERE token = ?1", [token])?;
                tx.execute(
                    "INSERT INTO device_history (token, env, name, reason, at)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![
                        token,
                        env.unwrap_or_else(|| "production".into()),
                        name,
                        reason,
                        now()
                    ],
                )?;
                Ok(true)
            };
            prune().map_err(|e| super::db_error(&path, "write to", e))
        })
    }

    /// Devices m removed by itself, newest first.
    pub fn device_history(&self, limit: u32) -> Result<Vec<PrunedDevice>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT token, env, name, reason, at FROM device_history
                 ORDER BY at DESC, id DESC LIMIT ?1",
            )
            .map_err(|e| self.error("read", e))?;
        let rows = stmt
            .query_map([limit], |row| {
                let env: Option<String> = row.get(1)?;
                Ok(PrunedDevice {
                    token: row.get(0)?,
                    env: env.and_then(|e| e.parse().ok()),
                    name: row.get(2)?,
                    reason: row.get(3)?,
                    at: row.get(4)?,
                })
            })
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(|e| self.error("read", e))?;
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(c: char) -> String {
        c.to_string().repeat(64)
    }

    #[test]
    fn devices_keep_their_environment_and_name() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("m.db")).unwrap();
        // A device added the seed's way is a production one without a name.
        store
            .conn()
            .execute(
                "INSERT INTO devices (token, platform, created_at) VALUES (?1, 'ios', 0)",
                [token('a')],
            )
            .unwrap();
        let added = store
            .add_device_with_details(
                &token('b'),
                Platform::Ios,
                DeviceEnv::Sandbox,
                Some("dev phone"),
            )
            .unwrap();
        assert!(added);
        let devices = store.list_device_infos().unwrap();
        assert_eq!(devices.len(), 2);
        let a = devices.iter().find(|d| d.token == token('a')).unwrap();
        assert_eq!((a.env, a.name.as_deref()), (DeviceEnv::Production, None));
        let b = devices.iter().find(|d| d.token == token('b')).unwrap();
        assert_eq!(
            (b.env, b.name.as_deref()),
            (DeviceEnv::Sandbox, Some("dev phone"))
        );

        // Adding again updates the details, keeps one row.
        let added = store
            .add_device_with_details(&token('b'), Platform::Ios, DeviceEnv::Production, None)
            .unwrap();
        assert!(!added);
        let devices = store.list_device_infos().unwrap();
        assert_eq!(devices.len(), 2);
        let b = devices.iter().find(|d| d.token == token('b')).unwrap();
        assert_eq!((b.env, b.name.as_deref()), (DeviceEnv::Production, None));

        // Removing a device with details works despite the foreign key.
        store.remove_device(&token('b')).unwrap();
        assert_eq!(store.list_device_infos().unwrap().len(), 1);
        assert!(store.device_history(10).unwrap().is_empty());
    }

    #[test]
    fn a_name_belongs_to_one_device() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("m.db")).unwrap();
        let add = |store: &mut Store, t: char, name: Option<&str>| {
            store.add_device_with_details(&token(t), Platform::Ios, DeviceEnv::Production, name)
        };
        add(&mut store, 'a', Some("phone")).unwrap();
        // Re-adding the same device under its own name is no conflict.
        add(&mut store, 'a', Some("phone")).unwrap();
        let err = add(&mut store, 'b', Some("phone")).unwrap_err();
        assert_eq!(err.kind, crate::error::ErrorKind::Conflict);
        assert!(err.message.contains("aaaaaaaaaaaa"), "{}", err.message);
        assert_eq!(store.list_device_infos().unwrap().len(), 1, "nothing added");
        add(&mut store, 'b', None).unwrap();
        add(&mut store, 'c', Some("ipad")).unwrap();
    }

    #[test]
    fn a_pruned_device_goes_and_its_history_stays() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("m.db")).unwrap();
        store
            .add_device_with_details(&token('c'), Platform::Ios, DeviceEnv::Sandbox, Some("ipad"))
            .unwrap();
        assert!(store
            .prune_device(&token('c'), "APNs answered 410 Unregistered")
            .unwrap());
        assert!(!store.prune_device(&token('c'), "again").unwrap());
        assert!(store.list_device_infos().unwrap().is_empty());
        let history = store.device_history(10).unwrap();
        assert_eq!(history.len(), 1);
        assert_eq!(history[0].token, token('c'));
        assert_eq!(history[0].env, Some(DeviceEnv::Sandbox));
        assert_eq!(history[0].name.as_deref(), Some("ipad"));
        assert_eq!(history[0].reason, "APNs answered 410 Unregistered");
        // The token can be registered again.
        assert!(store
            .add_device_with_details(&token('c'), Platform::Ios, DeviceEnv::Production, None)
            .unwrap());
    }
}
