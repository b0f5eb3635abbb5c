use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

/// The schemes git may be given. `git+ssh` and `ssh+git` are git's own
/// spellings of ssh.
const SCHEMES: &[&str] = &["https", "http", "ssh", "git", "file", "git+ssh", "ssh+git"];

/// A remote repository URL that is safe to hand to git: a known scheme or
/// scp-like `[user@]host:path`, no transport helper (`ext::`), no component
/// that git or ssh could read as an option, no whitespace or control
/// characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GitUrl(String);

impl GitUrl {
    /// Refuses, as a usage error naming the URL and the rule it breaks,
    /// anything git could run a program or an option from.
    pub fn parse(input: &str) -> Result<GitUrl> {
        check_url(input).map_err(|rule| {
            Error::usage(format!(
                "refusing git URL '{}': {rule}",
                input.escape_default()
            ))
            .with_hint(
                "use https://host/path, ssh://[user@]host/path, git://host/path, \
                 file:///path or [user@]host:path",
            )
        })?;
        Ok(GitUrl(input.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The repository's name as people say it: the last path component
    /// without `.git` (`https://host/org/tool.git` -> `tool`).
    pub fn default_name(&self) -> String {
        let s = self.as_str();
        let (host, path) = match split_scheme(s) {
            Some((_, rest)) => match rest.split_once('/') {
                Some((authority, path)) => (authority, path),
                None => (rest, ""),
            },
            None => split_scp(s).unwrap_or((s, "")),
        };
        let path = path.split(['?', '#']).next().unwrap_or("");
        let last = path.trim_end_matches('/').rsplit('/').next().unwrap_or("");
        let last = last.strip_suffix(".git").unwrap_or(last);
        if !last.is_empty() {
            return last.to_owned();
        }
        let host = host.rsplit('@').next().unwrap_or(host);
        if host.is_empty() {
            "repo".to_owned()
        } else {
            host.to_owned()
        }
    }
}

impl fmt::Display for GitUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for GitUrl {
    type Err = Error;

    fn from_str(s: &str) -> Result<GitUrl> {
        GitUrl::parse(s)
    }
}

/// `Err(rule)` names the rule `input` breaks.
fn check_url(input: &str) -> std::result::Result<(), String> {
    if input.is_empty() {
        return Err("it is empty".into());
    }
    if input.chars().any(is_bad_char) {
        return Err("it contains whitespace or control characters".into());
    }
    if input.starts_with('-') {
        return Err("it starts with '-', so git would read it as an option".into());
    }
    if let Some(helper) = transport_helper(input) {
        return Err(format!(
            "the '{helper}::' form makes git run a transport helper program; \
             only plain URLs are allowed"
        ));
    }
    if let Some((scheme, rest)) = split_scheme(input) {
        let scheme = scheme.to_ascii_lowercase();
        if !SCHEMES.contains(&scheme.as_str()) {
            return Err(format!(
                "unknown scheme '{scheme}' (use https, http, ssh, git or file)"
            ));
        }
        // git percent-decodes a URL before it connects, so `%2d` is a `-`
        // and `%0a` a newline by the time ssh sees them.
        let decoded = percent_decode(rest);
        if decoded.chars().any(is_bad_char) {
            return Err("it contains encoded whitespace or control characters".into());
        }
        let (authority, path) = match decoded.find('/') {
            Some(i) => decoded.split_at(i),
            None => (decoded.as_str(), ""),
        };
        if scheme == "file" {
            if !(authority.is_empty() || authority.eq_ignore_ascii_case("localhost")) {
                return Err(format!(
                    "a file:// URL names no host (file:///path), not '{authority}'"
                ));
            }
            if path.trim_matches('/').is_empty() {
                return Err("the path is empty".into());
            }
        } else {
            check_authority(authority)?;
        }
        check_path(path)
    } else if let Some((authority, path)) = split_scp(input) {
        check_authority(authority)?;
        if path.is_empty() {
            return Err("the path after ':' is empty".into());
        }
        check_path(path)
    } else {
        Err("it is not a URL (scheme://host/path or [user@]host:path)".into())
    }
}

pub(super) fn is_bad_char(c: char) -> bool {
    c.is_control() || c.is_whitespace()
}

/// `[user[:password]@]host[:port]`, host possibly `[bracketed]`.
fn check_authority(authority: &str) -> std::result::Result<(), String> {
    let (user, host_port) = match authority.rsplit_once('@') {
        Some((user, rest)) => (Some(user), rest),
        None => (None, authority),
    };
    if let Some(user) = user {
        if user.is_empty() {
            return Err("the user name before '@' is empty".into());
        }
        // ssh may split `a@b@host` differently than we do: no part may look
        // like an option.
        if user.split(['@', ':']).any(|part| part.starts_with('-')) {
            return Err("the user name starts with '-'".into());
        }
    }
    let (host, port) = match host_port.strip_prefix('[') {
        Some(rest) => {
            let (inner, after) = rest
                .split_once(']')
                .ok_or_else(|| "the host has '[' without ']'".to_string())?;
            let port = match after {
                "" => None,
                after => Some(
                    after
                        .strip_prefix(':')
                        .ok_or_else(|| format!("unexpected '{after}' after the host"))?,
                ),
            };
            (inner, port)
        }
        None => match host_port.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        },
    };
    if host.is_empty() {
        return Err("the host is empty".into());
    }
    if host.starts_with('-') {
        return Err("the host starts with '-'".into());
    }
    if let Some(port) = port {
        if port.starts_with('-') {
            return Err("the port starts with '-'".into());
        }
        if !port.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("the port '{port}' is not a number"));
        }
    }
    Ok(())
}

fn check_path(path: &str) -> std::result::Result<(), String> {
    if path.split('/').any(|part| part.starts_with('-')) {
        return Err("a path component starts with '-'".into());
    }
    Ok(())
}

/// `scheme://rest`, as git recognises a URL.
pub(super) fn split_scheme(s: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = s.split_once("://")?;
    is_scheme(scheme).then_some((scheme, rest))
}

fn is_scheme(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// git's `<transport>::<address>` form, which runs `git-remote-<transport>`.
pub(super) fn transport_helper(s: &str) -> Option<&str> {
    let (prefix, _) = s.split_once("::")?;
    is_scheme(prefix).then_some(prefix)
}

/// git's scp-like syntax: a `:` with no `/` before it (`host:path`,
/// `user@host:path`, `[user@host:port]:path`). Returns (authority, path).
pub(super) fn split_scp(s: &str) -> Option<(&str, &str)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (inner, after) = rest.split_once(']')?;
        return after.strip_prefix(':').map(|path| (inner, path));
    }
    let (authority, path) = s.split_once(':')?;
    (!authority.contains('/')).then_some((authority, path))
}

/// As git decodes: `%XX` becomes a byte, anything else stays as it is.
pub(super) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            if let (Some(hi), Some(lo)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((hi * 16 + lo) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
