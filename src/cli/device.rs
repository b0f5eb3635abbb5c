use clap::{Args, Subcommand};

use super::output::relative_time;
use super::Ctx;
use crate::client::Client;
use crate::error::{exit, Error, Result};
use crate::model::{now, short_id, DeviceEnv, DeviceInfo, Platform, RemoteDevice, Scope};
use crate::protocol::{DeviceRemovedRequest, PairRequest, Request, Response};

#[derive(Debug, Subcommand)]
pub enum DeviceCommand {
    /// Pair a phone with the remote API: prints a QR code to scan with the
    /// m app (or a phone's camera, for the phone page).
    Pair(PairArgs),
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
pub struct PairArgs {
    /// The device's name (default: the name the phone gives).
    #[arg(long)]
    pub name: Option<String>,
    /// What the device may do: read (see runs and approvals), decide
    /// (approve, reject, reply), control (start and cancel runs).
    #[arg(long, default_value = "read,decide,control", value_name = "SCOPES")]
    pub scope: String,
    /// Print {url, code, fingerprint, expires_at, scopes} instead of the QR code.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// A JSON list of the phones.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// The device: a paired device's id (or a prefix of it) or name, or a
    /// push token, a unique prefix of it (at least 4 characters), or its name.
    #[arg(value_name = "ID|TOKEN|NAME")]
    pub device: String,
}

pub fn run(ctx: &Ctx, cmd: DeviceCommand) -> Result<u8> {
    match cmd {
        DeviceCommand::Pair(args) => pair(ctx, args),
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
            let paired = store.list_remote_devices()?;
            // A paired phone's push token is listed with it, not again.
            let devices: Vec<DeviceInfo> = store
                .list_device_infos()?
                .into_iter()
                .filter(|d| {
                    !paired
                        .iter()
                        .any(|p| p.apns_token.as_ref() == Some(&d.token))
                })
                .collect();
            let pruned = store.device_history(20)?;
            if args.json {
                let mut all: Vec<serde_json::Value> =
                    devices.iter().map(|d| serde_json::json!(d)).collect();
                for device in &paired {
                    let mut value = serde_json::json!(device);
                    value["kind"] = "paired".into();
                    all.push(value);
                }
                ctx.ui.json(&all)?;
                return Ok(exit::OK);
            }
            let now = now();
            if !paired.is_empty() {
                let rows: Vec<Vec<String>> = paired
                    .iter()
                    .map(|d| {
                        vec![
                            short_id(&d.id).to_string(),
                            super::output::one_line(&d.name, 40).into_owned(),
                            d.platform.clone(),
                            Scope::join(&d.scopes),
                            if d.apns_token.is_some() { "yes" } else { "no" }.into(),
                            d.last_seen_at
                                .map(|at| relative_time(at, now))
                                .unwrap_or_else(|| "never".into()),
                        ]
                    })
                    .collect();
                ctx.ui.table(
                    &["PAIRED", "NAME", "PLATFORM", "SCOPES", "PUSH", "LAST SEEN"],
                    &rows,
                )?;
                if !devices.is_empty() {
                    ctx.ui.line("")?;
                }
            }
            if devices.is_empty() && paired.is_empty() {
                ctx.ui.line(
                    "No devices yet. Pair a phone with `m device pair`, or add a push token with `m device add TOKEN`.",
                )?;
            } else if !devices.is_empty() {
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
            if let Some(device) = the_paired_device(&store.list_remote_devices()?, &args.device)? {
                store.remove_remote_device(&device.id)?;
                // Its token stopped working with the row; a running daemon
                // also ends its open event streams now.
                if let Some((client, _)) = Client::try_connect(&ctx.paths)? {
                    client.request(&Request::DeviceRemoved(DeviceRemovedRequest {
                        device_id: device.id.clone(),
                    }))?;
                }
                ctx.ui.line(format!(
                    "Unpaired device {} ({})",
                    short_id(&device.id),
                    super::output::one_line(&device.name, 60)
                ))?;
                return Ok(exit::OK);
            }
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

/// `m device pair`: asks the daemon for a one-time code and shows it as a
/// QR code of the pairing URL.
fn pair(ctx: &Ctx, args: PairArgs) -> Result<u8> {
    let scopes = Scope::parse_list(&args.scope)
        .map_err(|e| e.with_hint("--scope takes some of read,decide,control, comma-separated"))?;
    let name = args
        .name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(String::from);
    let response =
        Client::connect(&ctx.paths)?.request(&Request::Pair(PairRequest { name, scopes }))?;
    let Response::Pairing(offer) = response else {
        return Err(Error::failure(format!(
            "unexpected answer from the daemon: {response:?}"
        )));
    };
    if args.json {
        ctx.ui.json(&offer)?;
        return Ok(exit::OK);
    }
    let qr = qrcode::QrCode::new(offer.url.as_bytes())
        .map_err(|e| Error::failure(format!("cannot draw the QR code: {e}")))?;
    // Light modules drawn as blocks: terminals are mostly dark, and a code
    // must be dark on light to scan.
    let picture = qr
        .render::<qrcode::render::unicode::Dense1x2>()
        .dark_color(qrcode::render::unicode::Dense1x2::Light)
        .light_color(qrcode::render::unicode::Dense1x2::Dark)
        .quiet_zone(true)
        .build();
    ctx.ui.line(picture)?;
    ctx.ui
        .line(format!("Scan it with the m app, or open: {}", offer.url))?;
    ctx.ui.line(format!(
        "code {} (works once, for {} minutes); scopes {}",
        offer.code,
        (offer.expires_at - now() + 59) / 60,
        Scope::join(&offer.scopes)
    ))?;
    ctx.ui.line(format!(
        "certificate SHA-256 {} (the app pins it)",
        offer.fingerprint
    ))?;
    Ok(exit::OK)
}

/// The paired device `key` names (its id, an id prefix, or its name), if
/// any; a key naming several is an error listing them.
fn the_paired_device<'a>(
    devices: &'a [RemoteDevice],
    key: &str,
) -> Result<Option<&'a RemoteDevice>> {
    let key = key.trim();
    let by_name: Vec<&RemoteDevice> = devices.iter().filter(|d| d.name == key).collect();
    let found: Vec<&RemoteDevice> = if by_name.is_empty() && key.len() >= MIN_TOKEN_PREFIX {
        devices.iter().filter(|d| d.id.starts_with(key)).collect()
    } else {
        by_name
    };
    match found.as_slice() {
        [] => Ok(None),
        [device] => Ok(Some(device)),
        several => {
            let list = several
                .iter()
                .map(|d| format!("  {}  {}", d.id, super::output::one_line(&d.name, 60)))
                .collect::<Vec<_>>()
                .join("\n");
            Err(Error::usage(format!(
                "'{}' is ambiguous; it matches:\n{list}",
                super::output::one_line(key, 60)
            ))
            .with_hint("name the device by its id (`m device list` shows them)"))
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

/// An APNs token as typed: see [`crate::model::parse_apns_token`].
pub fn parse_token(token: &str) -> Result<String> {
    crate::model::parse_apns_token(token)
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
