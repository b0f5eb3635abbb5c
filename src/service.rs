//! Running the daemon under the system's service manager: a systemd user
//! unit on Linux, a launchd agent on macOS. `m daemon install` writes the
//! file, `m daemon uninstall` removes it; while it is installed for a data
//! directory, clients leave starting that directory's daemon to the service.
//!
//! The file names the binary by its real path and carries `M_HOME` (when
//! set) and the installing shell's `PATH`, so agents are found as they are
//! from a terminal. We read back only what we wrote.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::paths::Paths;

/// launchd's name for the agent (and the plist's file name).
pub const LAUNCHD_LABEL: &str = "local.m.daemon";
/// systemd's name for the unit.
pub const SYSTEMD_UNIT: &str = "m.service";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Manager {
    Systemd,
    Launchd,
}

impl Manager {
    /// The service manager of this platform.
    pub fn native() -> Manager {
        if cfg!(target_os = "macos") {
            Manager::Launchd
        } else {
            Manager::Systemd
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Manager::Systemd => "systemd",
            Manager::Launchd => "launchd",
        }
    }

    /// Where this manager's file for m lives (the user's own services).
    pub fn file(self) -> Result<PathBuf> {
        let dirs = directories::BaseDirs::new().ok_or_else(|| {
            Error::failure("cannot find your home directory to install the service")
                .with_hint("set HOME")
        })?;
        Ok(match self {
            // config_dir honours XDG_CONFIG_HOME.
            Manager::Systemd => dirs.config_dir().join("systemd/user").join(SYSTEMD_UNIT),
            Manager::Launchd => dirs
                .home_dir()
                .join("Library/LaunchAgents")
                .join(format!("{LAUNCHD_LABEL}.plist")),
        })
    }

    /// The commands that load and start the installed service.
    pub fn enable_command(self, file: &Path) -> String {
        match self {
            Manager::Systemd => {
                "systemctl --user daemon-reload && systemctl --user enable --now m".into()
            }
            Manager::Launchd => format!("launchctl bootstrap gui/$(id -u) {}", file.display()),
        }
    }

    /// The command that starts the service's daemon now.
    pub fn start_command(self) -> String {
        match self {
            Manager::Systemd => "systemctl --user start m".into(),
            Manager::Launchd => format!("launchctl kickstart gui/$(id -u)/{LAUNCHD_LABEL}"),
        }
    }

    pub fn restart_command(self) -> String {
        match self {
            Manager::Systemd => "systemctl --user restart m".into(),
            Manager::Launchd => format!("launchctl kickstart -k gui/$(id -u)/{LAUNCHD_LABEL}"),
        }
    }

    /// What stops a service whose file was removed, and forgets it.
    pub fn unload_command(self) -> String {
        match self {
            Manager::Systemd => "systemctl --user stop m && systemctl --user daemon-reload".into(),
            Manager::Launchd => format!("launchctl bootout gui/$(id -u)/{LAUNCHD_LABEL}"),
        }
    }

    /// Where the daemon's log goes under this manager.
    pub fn logs(self, paths: &Paths) -> String {
        match self {
            Manager::Systemd => "journalctl --user -u m".into(),
            Manager::Launchd => paths.daemon_log().display().to_string(),
        }
    }
}

/// What the service file says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    /// The m binary (absolute, canonical).
    pub exe: PathBuf,
    /// `M_HOME` for the daemon, if the installer had one.
    pub m_home: Option<PathBuf>,
    /// `PATH` for the daemon and its agents.
    pub path: Option<String>,
    /// launchd only: the file that takes the daemon's output.
    pub log: PathBuf,
}

impl Spec {
    /// The spec for this binary and these paths, from the environment.
    pub fn current(paths: &Paths) -> Result<Spec> {
        let exe = std::env::current_exe()
            .and_then(fs::canonicalize)
            .map_err(|e| Error::failure(format!("cannot find the m binary's path: {e}")))?;
        let m_home = std::env::var_os("M_HOME")
            .filter(|v| !v.is_empty())
            .map(|_| paths.data_dir.clone());
        Ok(Spec {
            exe,
            m_home,
            path: std::env::var("PATH").ok().filter(|p| !p.is_empty()),
            log: paths.daemon_log(),
        })
    }

    pub fn render(&self, manager: Manager) -> String {
        match manager {
            Manager::Systemd => self.systemd_unit(),
            Manager::Launchd => self.launchd_plist(),
        }
    }

    pub fn systemd_unit(&self) -> String {
        let mut env = String::new();
        if let Some(home) = &self.m_home {
            env.push_str(&format!(
                "Environment={}\n",
                systemd_quote(&format!("M_HOME={}", home.display()), false)
            ));
        }
        if let Some(path) = &self.path {
            env.push_str(&format!(
                "Environment={}\n",
                systemd_quote(&format!("PATH={path}"), false)
            ));
        }
        format!(
            "# Written by `m daemon install`; `m daemon uninstall` removes it.
[Unit]
Description=m daemon: AI coding agents in the background
Documentation=man:m-daemon(1)

[Service]
Type=simple
ExecStart={exe} daemon run
{env}Restart=on-failure
RestartSec=2
# SIGTERM goes to the daemon alone: it stops its agents itself.
KillMode=mixed
# The daemon's cgroup is its own to divide: a cgroup per run, which ends
# everything the run started at once (`m doctor` says whether it works).
Delegate=yes
StandardOutput=journal
StandardError=journal

[Install]
WantedBy=default.target
",
            exe = systemd_quote(&self.exe.display().to_string(), true),
        )
    }

    pub fn launchd_plist(&self) -> String {
        let mut env = String::new();
        if let Some(home) = &self.m_home {
            env.push_str(&format!(
                "    <key>M_HOME</key>\n    <string>{}</string>\n",
                xml_escape(&home.display().to_string())
            ));
        }
        if let Some(path) = &self.path {
            env.push_str(&format!(
                "    <key>PATH</key>\n    <string>{}</string>\n",
                xml_escape(path)
            ));
        }
        let env = if env.is_empty() {
            String::new()
        } else {
            format!("  <key>EnvironmentVariables</key>\n  <dict>\n{env}  </dict>\n")
        };
        let log = xml_escape(&self.log.display().to_string());
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<!-- Written by `m daemon install`; `m daemon uninstall` removes it. -->
<plist version="1.0">
<dict>
  <key>Label</key>
  <string>{LAUNCHD_LABEL}</string>
  <key>ProgramArguments</key>
  <array>
    <string>{exe}</string>
    <string>daemon</string>
    <string>run</string>
  </array>
{env}  <key>RunAtLoad</key>
  <true/>
  <key>KeepAlive</key>
  <dict>
    <key>SuccessfulExit</key>
    <false/>
  </dict>
  <key>StandardOutPath</key>
  <string>{log}</string>
  <key>StandardErrorPath</key>
  <string>{log}</string>
</dict>
</plist>
"#,
            exe = xml_escape(&self.exe.display().to_string()),
        )
    }
}

/// Quotes a word for a unit file: `%` is a specifier (doubled), and in
/// `ExecStart` `$` expands variables (doubled too). Quoted only if needed.
fn systemd_quote(word: &str, exec: bool) -> String {
    let mut out = String::new();
    let mut quote = word.is_empty();
    for c in word.chars() {
        match c {
            '%' => out.push_str("%%"),
            '$' if exec => out.push_str("$$"),
            '"' | '\\' => {
                quote = true;
                out.push('\\');
                out.push(c);
            }
            c if c.is_whitespace() || c == '\'' || c == ';' => {
                quote = true;
                out.push(c);
            }
            c => out.push(c),
        }
    }
    if quote {
        format!("\"{out}\"")
    } else {
        out
    }
}

/// Undoes [`systemd_quote`].
fn systemd_unquote(word: &str, exec: bool) -> String {
    let inner = word
        .strip_prefix('"')
        .and_then(|w| w.strip_suffix('"'))
        .unwrap_or(word);
    let mut out = String::new();
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            '%' if chars.peek() == Some(&'%') => {
                chars.next();
                out.push('%');
            }
            '$' if exec && chars.peek() == Some(&'$') => {
                chars.next();
                out.push('$');
            }
            c => out.push(c),
        }
    }
    out
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn xml_unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&gt;", ">")
        .replace("&lt;", "<")
        .replace("&amp;", "&")
}

/// An installed service file, as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    pub manager: Manager,
    pub file: PathBuf,
    /// The binary it starts.
    pub exe: Option<PathBuf>,
    /// Its `M_HOME`, if it sets one.
    pub m_home: Option<PathBuf>,
}

impl Installed {
    /// Whether the service's daemon is the one for `paths`' data directory.
    pub fn serves(&self, paths: &Paths) -> bool {
        match &self.m_home {
            Some(home) => *home == paths.data_dir,
            None => directories::ProjectDirs::from("", "", "m")
                .is_some_and(|d| d.data_dir() == paths.data_dir),
        }
    }
}

/// The service file installed for this platform, if any.
pub fn installed() -> Option<Installed> {
    let manager = Manager::native();
    let file = manager.file().ok()?;
    let text = fs::read_to_string(&file).ok()?;
    Some(parse(manager, file, &text))
}

/// The installed service, if it runs the daemon of `paths`' data directory.
pub fn installed_for(paths: &Paths) -> Option<Installed> {
    installed().filter(|s| s.serves(paths))
}

fn parse(manager: Manager, file: PathBuf, text: &str) -> Installed {
    let (exe, m_home) = match manager {
        Manager::Systemd => {
            let exe = text
                .lines()
                .find_map(|l| l.strip_prefix("ExecStart="))
                .and_then(|rest| {
                    // The binary is everything before " daemon run".
                    let word = rest.trim().strip_suffix(" daemon run")?;
                    Some(PathBuf::from(systemd_unquote(word, true)))
                });
            let m_home = text
                .lines()
                .filter_map(|l| l.strip_prefix("Environment="))
                .map(|w| systemd_unquote(w.trim(), false))
                .find_map(|w| w.strip_prefix("M_HOME=").map(PathBuf::from));
            (exe, m_home)
        }
        Manager::Launchd => {
            let string_after = |key: &str| {
                let rest = &text[text.find(key)? + key.len()..];
                let start = rest.find("<string>")? + "<string>".len();
                let end = rest[start..].find("</string>")? + start;
                Some(xml_unescape(&rest[start..end]))
            };
            (
                string_after("<key>ProgramArguments</key>").map(PathBuf::from),
                string_after("<key>M_HOME</key>").map(PathBuf::from),
            )
        }
    };
    Installed {
        manager,
        file,
        exe,
        m_home,
    }
}

/// Writes the service file for this binary and `paths`. Returns the file
/// and whether one was there before (now replaced).
pub fn install(paths: &Paths) -> Result<(Installed, bool)> {
    let manager = Manager::native();
    let file = manager.file()?;
    let spec = Spec::current(paths)?;
    if manager == Manager::Launchd {
        crate::paths::create_private_dir(&paths.logs())?;
    }
    let dir = file.parent().unwrap_or(Path::new("/"));
    fs::create_dir_all(dir).map_err(|e| Error::io("create directory", dir, e))?;
    let existed = file.exists();
    // Written whole then renamed, so the manager never reads half a file.
    let tmp = file.with_extension("tmp");
    fs::write(&tmp, spec.render(manager)).map_err(|e| Error::io("write", &tmp, e))?;
    fs::rename(&tmp, &file).map_err(|e| Error::io("write", &file, e))?;
    Ok((
        Installed {
            manager,
            file,
            exe: Some(spec.exe),
            m_home: spec.m_home,
        },
        existed,
    ))
}

/// Removes the service file (and systemd's `enable` link to it). Returns
/// what was removed, or `None` when nothing was installed.
pub fn uninstall() -> Result<Option<Installed>> {
    let Some(service) = installed() else {
        return Ok(None);
    };
    fs::remove_file(&service.file).map_err(|e| Error::io("remove", &service.file, e))?;
    if service.manager == Manager::Systemd {
        if let Some(dir) = service.file.parent() {
            let link = dir.join("default.target.wants").join(SYSTEMD_UNIT);
            if fs::symlink_metadata(&link).is_ok() {
                fs::remove_file(&link).map_err(|e| Error::io("remove", &link, e))?;
            }
        }
    }
    Ok(Some(service))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> Spec {
        Spec {
            exe: PathBuf::from("/opt/my tools/m"),
            m_home: Some(PathBuf::from("/data/m 100%")),
            path: Some("/usr/bin:/bin".into()),
            log: PathBuf::from("/data/m/logs/daemon.log"),
        }
    }

    #[test]
    fn the_systemd_unit_quotes_and_reads_back() {
        let unit = spec().systemd_unit();
        assert!(
            unit.contains("ExecStart=\"/opt/my tools/m\" daemon run\n"),
            "{unit}"
        );
        assert!(
            unit.contains("Environment=\"M_HOME=/data/m 100%%\"\n"),
            "{unit}"
        );
        assert!(unit.contains("Environment=PATH=/usr/bin:/bin\n"), "{unit}");
        assert!(unit.contains("Restart=on-failure"));
        assert!(unit.contains("\nDelegate=yes\n"), "{unit}");
        let back = parse(Manager::Systemd, PathBuf::from("/u"), &unit);
        assert_eq!(back.exe, Some(PathBuf::from("/opt/my tools/m")));
        assert_eq!(back.m_home, Some(PathBuf::from("/data/m 100%")));
    }

    #[test]
    fn systemd_quoting_escapes_specifiers_variables_and_quotes() {
        assert_eq!(systemd_quote("/a/b", true), "/a/b");
        assert_eq!(systemd_quote("/a$b%", true), "/a$$b%%");
        assert_eq!(systemd_quote("a\"b", false), "\"a\\\"b\"");
        for word in ["/a$b%", "a\"b\\c d", ""] {
            assert_eq!(systemd_unquote(&systemd_quote(word, true), true), word);
        }
    }

    #[test]
    fn the_launchd_plist_escapes_and_reads_back() {
        let mut spec = spec();
        spec.exe = PathBuf::from("/Apps/a&b/m");
        let plist = spec.launchd_plist();
        assert!(
            plist.contains("<string>/Apps/a&amp;b/m</string>"),
            "{plist}"
        );
        assert!(plist.contains("<key>SuccessfulExit</key>\n    <false/>"));
        assert!(plist
            .contains("<key>StandardErrorPath</key>\n  <string>/data/m/logs/daemon.log</string>"));
        let back = parse(Manager::Launchd, PathBuf::from("/p"), &plist);
        assert_eq!(back.exe, Some(PathBuf::from("/Apps/a&b/m")));
        assert_eq!(back.m_home, Some(PathBuf::from("/data/m 100%")));
        spec.m_home = None;
        spec.path = None;
        let plist = spec.launchd_plist();
        assert!(!plist.contains("EnvironmentVariables"));
        assert_eq!(
            parse(Manager::Launchd, PathBuf::from("/p"), &plist).m_home,
            None
        );
    }
}
