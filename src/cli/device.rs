use clap::{Args, Subcommand};

use super::output::relative_time;
use super::Ctx;
use crate::error::{exit, Error, Result};
use crate::model::{now, DeviceEnv, DeviceInfo, Platform};

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
    /// A name to tell your devices apart (and to remove one by:
    /// `m device rm NAME`); no two devices share one.
    #[arg(long)]
    pub name: Option<String>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// A JSON list of the phones.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// The device: its token, a unique prefix of it (at least 4
    /// characters), or its name.
    #[arg(value_name = "TOKEN|NAME")]
    pub device: String,
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
            // A blank name is no name: it could not tell devices apart.
            let name = args
                .name
                .as_deref()
                .map(str::trim)
                .filter(|n| !n.is_empty());
            store.add_device_with_details(&token, args.platform, args.env, name)?;
            let message = match before {
                None => format!("Added device {} ({})", short_token(&token), args.env),
                Some(d) if d.env == args.env && d.name.as_deref() == name => format!(
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
            let mut store = ctx.store()?;
            let devices = store.list_device_infos()?;
            let device = the_one_device(&devices, &args.device)?;
            store.remove_device(&device.token)?;
            let named = device
                .name
                .as_ref()
                .map(|name| format!(" ({name})"))
                .unwrap_or_default();
            ctx.ui.line(format!(
                "Removed device {}{named}",
                short_token(&device.token)
            ))?;
            Ok(exit::OK)
        }
    }
}

/// A token prefix shorter than this matches nothing: two characters of
/// hex would too easily name a device by accident.
const MIN_TOKEN_PREFIX: usize = 4;

/// The devices `key` names: the one whose token it is, else those it names
/// or whose token it starts (in any case, from `MIN_TOKEN_PREFIX`
/// characters).
fn matching_devices<'a>(devices: &'a [DeviceInfo], key: &str) -> Vec<&'a DeviceInfo> {
    let key = key.trim();
    let lower = key.to_ascii_lowercase();
    if let Some(exact) = devices.iter().find(|d| d.token == lower) {
        return vec![exact];
    }
    let is_prefix = lower.len() >= MIN_TOKEN_PREFIX && lower.chars().all(|c| c.is_ascii_hexdigit());
    devices
        .iter()
        .filter(|d| d.name.as_deref() == Some(key) || (is_prefix && d.token.starts_with(&lower)))
        .collect()
}

/// The one device `key` names, or an error that says why not: none
/// (not found) or several (listed, as ambiguous id prefixes are).
fn the_one_device<'a>(devices: &'a [DeviceInfo], key: &str) -> Result<&'a DeviceInfo> {
    match matching_devices(devices, key).as_slice() {
        [device] => Ok(device),
        [] => {
            let shown = super::output::one_line(key.trim(), 200);
            let hint = if devices.is_empty() {
                "no device is registered; add one with `m device add TOKEN`".to_string()
            } else {
                format!(
                    "name a device by its name or its token (at least {MIN_TOKEN_PREFIX} \
                     characters of it); `m device list` lists them"
                )
            };
            Err(Error::not_found(format!("no device with token or name '{shown}'")).with_hint(hint))
        }
        several => {
            let list = several
                .iter()
                .map(|d| format!("  {}  {}", d.token, d.name.as_deref().unwrap_or("")))
                .collect::<Vec<_>>()
                .join("\n");
            Err(Error::usage(format!(
                "'{}' is ambiguous; it matches:\n{list}",
                key.trim()
            ))
            .with_hint("type more of the token, or the whole token"))
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

    fn device(token: &str, name: Option<&str>) -> DeviceInfo {
        DeviceInfo {
            token: token.into(),
            platform: Platform::Ios,
            env: DeviceEnv::Production,
            name: name.map(String::from),
            created_at: 0,
        }
    }

    fn tokens(found: Vec<&DeviceInfo>) -> Vec<&str> {
        found.iter().map(|d| &d.token[..4]).collect()
    }

    #[test]
    fn a_device_is_named_by_token_prefix_or_name() {
        let ab = format!("abcd{}", "0".repeat(60));
        let ac = format!("abce{}", "1".repeat(60));
        let cafe = format!("cafe{}", "2".repeat(60));
        let devices = [
            device(&ab, Some("phone")),
            device(&ac, None),
            device(&cafe, Some("abcd")),
        ];
        let find = |key: &str| tokens(matching_devices(&devices, key));
        assert_eq!(find(&ab), ["abcd"], "the whole token");
        assert_eq!(find(&ab.to_uppercase()), ["abcd"], "in any case");
        assert_eq!(find("ABCE"), ["abce"], "a prefix in any case");
        assert_eq!(find(" phone "), ["abcd"], "a name");
        assert_eq!(find("cafe2"), ["cafe"]);
        assert_eq!(find("abc"), Vec::<&str>::new(), "too short a prefix");
        assert_eq!(find("Phone"), Vec::<&str>::new(), "names are exact");
        assert_eq!(find("ffff"), Vec::<&str>::new());
        // A key that is a prefix of one device and the name of another.
        assert_eq!(find("abcd"), ["abcd", "cafe"]);
        assert_eq!(find("ab"), Vec::<&str>::new());

        assert_eq!(the_one_device(&devices, "phone").unwrap().token, ab);
        let err = the_one_device(&devices, "abcd").unwrap_err();
        assert_eq!(err.kind, crate::error::ErrorKind::Usage);
        assert!(err.message.contains(&ab) && err.message.contains(&cafe));
        let err = the_one_device(&devices, "tablet").unwrap_err();
        assert_eq!(err.kind, crate::error::ErrorKind::NotFound);
    }

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
