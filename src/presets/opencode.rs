//! What makes OpenCode ask m. OpenCode asks the client before an edit or a
//! command only where its permission config says "ask", and its defaults
//! allow both. m starts it with `OPENCODE_PERMISSION`, which OpenCode merges
//! over the config it resolved, key by key, the variable winning
//! (`mergeDeep(config.permission, JSON.parse(OPENCODE_PERMISSION))` in its
//! packages/opencode/src/config/config.ts). Rules are then read in order and
//! the last one that matches decides.
//!
//! So that no stricter choice of the user's is lost, m reads the user's
//! permissions where OpenCode reads them, and turns only "allow" into "ask":
//! "deny" stays "deny", a pattern's rule stays where the user put it.

use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};

/// The variable OpenCode reads its extra permissions from.
pub const PERMISSION_VAR: &str = "OPENCODE_PERMISSION";

/// The permissions of OpenCode's that guard edits (`edit` covers write,
/// patch and multiedit) and commands.
const ASKED: &[&str] = &["edit", "bash"];

/// The environment m starts OpenCode with for a run in `workspace`; `env`
/// reads the environment OpenCode gets (its caller's).
pub fn environment(
    workspace: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Vec<(String, String)> {
    let user = user_config(workspace, env);
    vec![(PERMISSION_VAR.to_string(), asking(&user).to_string())]
}

/// The permissions m gives OpenCode over the user's `config`.
pub fn asking(config: &Value) -> Value {
    let permission = config.get("permission");
    let tools = config.get("tools");
    let mut asked = Map::new();
    for key in ASKED {
        let user = permission
            .and_then(|p| p.get(*key))
            .cloned()
            .or_else(|| disabled_tool(tools, key).then(|| json!("deny")))
            .or_else(|| permission.and_then(|p| p.get("*")).cloned());
        asked.insert(key.to_string(), ask_unless_denied(user.as_ref()));
    }
    Value::Object(asked)
}

/// The legacy `tools: {bash: false}` form, which OpenCode turns into a
/// "deny" under the `permission` entries.
fn disabled_tool(tools: Option<&Value>, key: &str) -> bool {
    let names: &[&str] = match key {
        "edit" => &["edit", "write", "patch", "multiedit"],
        other => &[other],
    };
    names
        .iter()
        .any(|name| tools.and_then(|t| t.get(*name)) == Some(&json!(false)))
}

fn ask_unless_denied(user: Option<&Value>) -> Value {
    match user {
        Some(Value::String(action)) if action == "deny" => json!("deny"),
        Some(Value::Object(rules)) => {
            let mut asked: Map<String, Value> = rules
                .iter()
                .map(|(pattern, action)| {
                    let action = if action == "allow" {
                        json!("ask")
                    } else {
                        action.clone()
                    };
                    (pattern.clone(), action)
                })
                .collect();
            // A rule for every command must not come after (and so win
            // over) the user's denials; without those it is safe.
            let denies = rules.values().any(|a| a == "deny");
            if !rules.contains_key("*") && !denies {
                asked.insert("*".into(), json!("ask"));
            }
            Value::Object(asked)
        }
        _ => json!("ask"),
    }
}

/// The user's OpenCode config as OpenCode merges it for a session in
/// `workspace` (global files, `OPENCODE_CONFIG`, the project's files and
/// `.opencode` directories, `OPENCODE_CONFIG_CONTENT`, the user's own
/// `OPENCODE_PERMISSION`). Remote and managed configs are not read.
fn user_config(workspace: &Path, env: &dyn Fn(&str) -> Option<String>) -> Value {
    let home = env("HOME").map(PathBuf::from);
    let config_home = env("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| home.as_ref().map(|h| h.join(".config")));
    let mut files: Vec<PathBuf> = Vec::new();
    if let Some(dir) = config_home.map(|c| c.join("opencode")) {
        files.push(dir.join("config").with_extension("json"));
        files.extend(opencode_files(&dir, &["json", "jsonc"]));
    }
    if let Some(file) = env("OPENCODE_CONFIG") {
        files.push(PathBuf::from(file));
    }
    if env("OPENCODE_DISABLE_PROJECT_CONFIG").is_none() {
        files.extend(opencode_files(workspace, &["jsonc", "json"]));
    }
    let mut dot_dirs = vec![workspace.join(".opencode")];
    dot_dirs.extend(home.map(|h| h.join(".opencode")));
    for dir in dot_dirs {
        files.extend(opencode_files(&dir, &["json", "jsonc"]));
    }
    let mut config = json!({});
    for file in files {
        if let Some(layer) = std::fs::read_to_string(&file)
            .ok()
            .and_then(|t| parse_jsonc(&t))
        {
            merge_deep(&mut config, layer);
        }
    }
    if let Some(layer) = env("OPENCODE_CONFIG_CONTENT").and_then(|t| parse_jsonc(&t)) {
        merge_deep(&mut config, layer);
    }
    if let Some(permission) = env(PERMISSION_VAR).and_then(|t| parse_jsonc(&t)) {
        merge_deep(&mut config, json!({ "permission": permission }));
    }
    config
}

/// `opencode.EXT` in `dir` for each extension, in OpenCode's order.
fn opencode_files(dir: &Path, extensions: &[&str]) -> Vec<PathBuf> {
    extensions
        .iter()
        .map(|ext| dir.join("opencode").with_extension(ext))
        .collect()
}

/// remeda's `mergeDeep`, as OpenCode uses it: objects merge key by key,
/// anything else from `source` replaces.
fn merge_deep(target: &mut Value, source: Value) {
    match (target, source) {
        (Value::Object(target), Value::Object(source)) => {
            for (key, value) in source {
                match target.get_mut(&key) {
                    Some(old) if old.is_object() && value.is_object() => merge_deep(old, value),
                    _ => {
                        target.insert(key, value);
                    }
                }
            }
        }
        (target, source) => *target = source,
    }
}

/// JSON with comments and trailing commas, as OpenCode reads its config.
fn parse_jsonc(text: &str) -> Option<Value> {
    let mut plain = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    let mut in_string = false;
    while let Some(c) = chars.next() {
        if in_string {
            plain.push(c);
            match c {
                '\\' => plain.extend(chars.next()),
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match (c, chars.peek()) {
            ('"', _) => {
                in_string = true;
                plain.push(c);
            }
            ('/', Some('/')) => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        plain.push('\n');
                        break;
                    }
                }
            }
            ('/', Some('*')) => {
                chars.next();
                let mut last = ' ';
                for c in chars.by_ref() {
                    if last == '*' && c == '/' {
                        break;
                    }
                    last = c;
                }
                plain.push(' ');
            }
            (',', _) => {
                // A trailing comma: the next thing that counts closes.
                let rest: String = chars.clone().collect();
                let next = strip_leading_comments(&rest);
                if !next.starts_with('}') && !next.starts_with(']') {
                    plain.push(',');
                }
            }
            _ => plain.push(c),
        }
    }
    serde_json::from_str(&plain).ok()
}

/// `text` without the whitespace and comments it starts with.
fn strip_leading_comments(mut text: &str) -> &str {
    loop {
        text = text.trim_start();
        if let Some(rest) = text.strip_prefix("//") {
            text = rest.split_once('\n').map_or("", |(_, after)| after);
        } else if let Some(rest) = text.strip_prefix("/*") {
            text = rest.split_once("*/").map_or("", |(_, after)| after);
        } else {
            return text;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_no_permission_config_opencode_asks_before_edits_and_commands() {
        assert_eq!(asking(&json!({})), json!({"edit": "ask", "bash": "ask"}));
        assert_eq!(
            asking(&json!({"permission": {"edit": "allow", "bash": "ask"}})),
            json!({"edit": "ask", "bash": "ask"})
        );
    }

    #[test]
    fn the_users_denials_stay_denials() {
        assert_eq!(
            asking(&json!({"permission": {"bash": "deny"}})),
            json!({"edit": "ask", "bash": "deny"})
        );
        assert_eq!(
            asking(&json!({"permission": {"*": "deny"}})),
            json!({"edit": "deny", "bash": "deny"})
        );
        assert_eq!(
            asking(&json!({"tools": {"write": false}})),
            json!({"edit": "deny", "bash": "ask"})
        );
        // Pattern rules keep their places; only "allow" becomes "ask".
        assert_eq!(
            asking(
                &json!({"permission": {"bash": {"*": "allow", "rm *": "deny", "git status": "allow"}}})
            ),
            json!({"edit": "ask", "bash": {"*": "ask", "rm *": "deny", "git status": "ask"}})
        );
        // A catch-all after a denial would win over it: none is added.
        assert_eq!(
            asking(&json!({"permission": {"bash": {"rm *": "deny"}}}))["bash"],
            json!({"rm *": "deny"})
        );
        assert_eq!(
            asking(&json!({"permission": {"bash": {"git *": "allow"}}}))["bash"],
            json!({"git *": "ask", "*": "ask"})
        );
    }

    #[test]
    fn the_users_config_is_read_where_opencode_reads_it() {
        let home = tempfile::tempdir().unwrap();
        let ws = tempfile::tempdir().unwrap();
        let global = home.path().join(".config/opencode");
        std::fs::create_dir_all(&global).unwrap();
        std::fs::write(
            global.join("opencode.jsonc"),
            "{\n  // no commands at all\n  \"permission\": {\"bash\": \"deny\",},\n  /* edits */ \"tools\": {},\n}\n",
        )
        .unwrap();
        std::fs::write(
            ws.path().join("opencode.json"),
            r#"{"permission": {"edit": "deny"}}"#,
        )
        .unwrap();
        let home_dir = home.path().display().to_string();
        let env = |name: &str| (name == "HOME").then(|| home_dir.clone());
        let vars = environment(ws.path(), &env);
        assert_eq!(vars[0].0, "OPENCODE_PERMISSION");
        let value: Value = serde_json::from_str(&vars[0].1).unwrap();
        assert_eq!(value, json!({"edit": "deny", "bash": "deny"}));

        // The user's own variable is merged last, as OpenCode does.
        let env = |name: &str| match name {
            "HOME" => Some(home_dir.clone()),
            PERMISSION_VAR => Some(r#"{"bash": "allow"}"#.to_string()),
            _ => None,
        };
        let value: Value = serde_json::from_str(&environment(ws.path(), &env)[0].1).unwrap();
        assert_eq!(value, json!({"edit": "deny", "bash": "ask"}));
    }

    #[test]
    fn jsonc_keeps_strings_whole() {
        assert_eq!(
            parse_jsonc(r#"{"a": "http://x/*y*/", "b": [1, 2, ], } // end"#),
            Some(json!({"a": "http://x/*y*/", "b": [1, 2]}))
        );
        assert_eq!(
            parse_jsonc(r#"{"a": "say \"hi\", // no"}"#),
            Some(json!({"a": "say \"hi\", // no"}))
        );
        assert_eq!(parse_jsonc("{nope"), None);
    }
}
