use rusqlite::{params, Row};

use super::Store;
use crate::error::{Error, Result};
use crate::model::{now, Device, Platform};

fn device_from_row(row: &Row<'_>) -> rusqlite::Result<Device> {
    let platform: String = row.get(1)?;
    Ok(Device {
        token: row.get(0)?,
        platform: platform.parse().map_err(|_| {
            rusqlite::Error::FromSqlConversionFailure(
                1,
                rusqlite::types::Type::Text,
                format!("unknown platform '{platform}'").into(),
            )
        })?,
        created_at: row.get(2)?,
    })
}

impl Store {
    /// Adds a device; returns `None` when the token is already registered.
    pub fn add_device(&mut self, token: &str, platform: Platform) -> Result<Option<Device>> {
        let device = Device {
            token: token.to_string(),
            platform,
            created_at: now(),
        };
        let path = self.path.clone();
        let added = self.write(|tx| {
            tx.execute(
                "INSERT OR IGNORE INTO devices (token, platform, created_at) VALUES (?1, ?2, ?3)",
                params![device.token, device.platform.as_str(), device.created_at],
            )
            .map_err(|e| super::db_error(&path, "write to", e))
        })?;
        Ok((added == 1).then_some(device))
    }

    pub fn list_devices(&self) -> Result<Vec<Device>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT token, platform, created_at FROM devices ORDER BY created_at, token",
            )
            .map_err(|e| self.error("read", e))?;
        let rows = stmt
            .query_map([], device_from_row)
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(|e| self.error("read", e))?;
        Ok(rows)
    }

    pub fn remove_device(&mut self, token: &str) -> Result<()> {
        let path = self.path.clone();
        let removed = self.write(|tx| {
            tx.execute("DELETE FROM devices WHERE token = ?1", [token])
                .map_err(|e| super::db_error(&path, "write to", e))
        })?;
        if removed == 0 {
            return Err(Error::not_found(format!("no device with token '{token}'"))
                .with_hint("list devices with `m device list`"));
        }
        Ok(())
    }
}
