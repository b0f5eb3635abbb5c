use clap::{Args, Subcommand};

use super::output::relative_time;
use super::Ctx;
use crate::error::{exit, Error, Result};
use crate::model::{now, DeviceEnv, Platform};

#[derive(Debug, Subcommand)]
pub enum DeviceCommand {
    /// Register a phone's push token (from the m iOS app).
    Add(AddArgs),
    /// List registered devices.
    #[command(alias = "ls")]
    List(ListArgs),
    /// Forget a device.
    #[command(alias = "remove")]
    Rm(RmArgs),
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// The APNs device token, in hexadecimal.
    pub token: String,
    #[arg(long, default_value = "ios")]
    pub platform: Platform,
    /// The APNs environment: `sandbox` for apps run from Xcode,
    /// `production` for TestFlight and App Store builds.
    #[arg(long, default_value = "production")]
    pub env: DeviceEnv,
    /// A name to tell your devices apart.
    #[arg(long)]
    pub name: Option<String>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    pub token: String,
}

pub fn run(ctx: &Ctx, cmd: DeviceCommand) -> Result<u8> {
    match cmd {
        DeviceCommand::Add(args) => {
            let token = parse_token(&args.token)?;
            let mut store = ctx.store()?;
            let before = store
                .list_device_infos()?
                .into_iter()
                .find(|d| d.token == token);
            store.add_device_with_details(&token, args.platform, args.env, args.name.as_deref())?;
            let message = match before {
                None => format!("Added device {} ({})", short_token(&token), args.env),
                Some(d) if d.env == args.env && d.name == args.name => format!(
                    "Device {} is already registered; nothing changed",
                    short_token(&token)
                ),
                Some(_) => format!(
                    "Device {} is already registered; its environment and name were updated",
                    short_token(&token)
                ),
            };
            ctx.ui.line(message)?;
            Ok(exit::OK)
        }
        DeviceCommand::List(args) => {
            let store = ctx.store()?;
            let devices = store.list_device_infos()?;
            let pruned = store.device_history(20)?;
            if args.json {
                ctx.ui.json(&devices)?;
                return Ok(exit::OK);
            }
            let now = now();
            if devices.is_empty() {
                ctx.ui
                    .line("No devices yet. Add one with `m device add TOKEN`.")?;
            } else {
                let rows: Vec<Vec<String>> = devices
                    .iter()
                    .map(|d| {
                        vec![
                            d.token.clone(),
                            d.name.clone().unwrap_or_default(),
                            d.platform.to_string(),
                            d.env.to_string(),
                            relative_time(d.created_at, now),
                        ]
                    })
                    .collect();
                ctx.ui
                    .table(&["TOKEN", "NAME", "PLATFORM", "ENV", "ADDED"], &rows)?;
            }
            // Devices APNs declared dead were removed by m itself: say so.
            if !pruned.is_empty() {
                ctx.ui.line("")?;
                ctx.ui.line("Removed by m (APNs said the token is dead):")?;
                for p in &pruned {
                    ctx.ui.line(format!(
                        "  {}  {}  {}",
                        short_token(&p.token),
                        p.reason,
                        relative_time(p.at, now)
                    ))?;
                }
            }
            Ok(exit::OK)
        }
        DeviceCommand::Rm(args) => {
            let token = parse_token(&args.token)?;
            ctx.store()?.remove_device(&token)?;
            ctx.ui
                .line(format!("Removed device {}", short_token(&token)))?;
            Ok(exit::OK)
        }
    }
}

/// APNs tokens are hexadecimal: 32 bytes today, up to 100 bytes allowed by
/// Apple's documentation. Stored lowercase, so one phone is one row.
pub fn parse_token(token: &str) -> Result<String> {
    let token = token.trim();
    let valid = token.len() % 2 == 0
        && (64..=200).contains(&token.len())
        && token.chars().all(|c| c.is_ascii_hexdigit());
    if !valid {
        return Err(Error::usage(format!(
            "'{}' is not an APNs device token",
            super::output::one_line(token, 40)
        ))
        .with_hint("a token is 64 (up to 200) hexadecimal characters, as the m app shows it"));
    }
    Ok(token.to_ascii_lowercase())
}

fn short_token(token: &str) -> String {
    format!("{}…", &token[..12])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_must_be_even_length_hex_of_apns_size() {
        let good = "a".repeat(64);
        assert_eq!(parse_token(&good.to_uppercase()).unwrap(), good);
        assert!(parse_token(&"a".repeat(63)).is_err());
        assert!(parse_token(&"a".repeat(62)).is_err());
        assert!(parse_token(&format!("{}g", "a".repeat(63))).is_err());
        assert!(parse_token("").is_err());
        assert!(parse_token(&"ab".repeat(101)).is_err());
    }
}
