//! The form a question asks for: an ACP form elicitation's JSON schema, an
//! object of primitive fields. A question with one field takes the reply
//! as that field's value, any question takes a JSON object. Used where a
//! reply arrives (the daemon refuses one that does not fit, with a reason
//! the human can act on, and leaves the question open), where the ACP
//! adapter turns it into the answer's `content`, and where a question is
//! shown (what it expects, in a few words).

use serde_json::{Map, Number, Value};

/// The `content` of an `accept` answer for `reply`, or why it does not fit.
pub fn fit(schema: &Value, reply: &str) -> Result<Value, String> {
    let empty = Map::new();
    let properties = schema
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let trimmed = reply.trim();

    if trimmed.starts_with('{') {
        if let Ok(Value::Object(object)) = serde_json::from_str::<Value>(trimmed) {
            return fit_object(properties, &required, object);
        }
    }
    match properties.len() {
        0 => Ok(Value::Object(Map::new())),
        1 => {
            let (name, property) = properties.iter().next().expect("one property");
            let value = from_text(property, trimmed)
                .map_err(|e| format!("{}: {e}", label(name, property)))?;
            let mut content = Map::new();
            content.insert(name.clone(), value);
            Ok(Value::Object(content))
        }
        _ => {
            let example: Vec<String> = properties
                .iter()
                .map(|(name, p)| format!("\"{name}\": {}", example(p)))
                .collect();
            Err(format!(
                "this question has {} fields ({}); reply with a JSON object such as {{{}}}",
                properties.len(),
                properties.keys().cloned().collect::<Vec<_>>().join(", "),
                example.join(", ")
            ))
        }
    }
}

/// What a reply must be, in a few words for the human: for a question
/// with one field its choices or its type, else the JSON object's fields
/// with theirs. `None` when any reply will do (a question without fields).
pub fn expected(schema: &Value) -> Option<String> {
    let properties = schema.get("properties").and_then(Value::as_object)?;
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    match properties.len() {
        0 => None,
        1 => {
            let (name, property) = properties.iter().next().expect("one property");
            let title = property.get("title").and_then(Value::as_str);
            Some(format!("{}: {}", title.unwrap_or(name), shape(property)))
        }
        _ => {
            let fields: Vec<String> = properties
                .iter()
                .map(|(name, property)| {
                    let needed = if required.contains(&name.as_str()) {
                        ", required"
                    } else {
                        ""
                    };
                    format!("{name} ({}{needed})", shape(property))
                })
                .collect();
            Some(format!("a JSON object: {}", fields.join(", ")))
        }
    }
}

/// The reply the question's form gives by itself: a JSON object of its
/// fields' defaults (MCP elicitation schemas may give each field a
/// `default`), when every required field has one and some field does.
/// Given when nobody answers before the deadline.
pub fn default_answer(schema: &Value) -> Option<String> {
    let properties = schema.get("properties").and_then(Value::as_object)?;
    let defaults: Map<String, Value> = properties
        .iter()
        .filter_map(|(name, property)| Some((name.clone(), property.get("default")?.clone())))
        .collect();
    let required_met = schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .all(|name| defaults.contains_key(name));
    let reply = Value::Object(defaults);
    (required_met && reply.as_object().is_some_and(|d| !d.is_empty()))
        .then(|| reply.to_string())
        // A default the form itself refuses is no answer.
        .filter(|text| fit(schema, text).is_ok())
}

/// A field's kind of value, as [`expected`] names it.
fn shape(property: &Value) -> String {
    let field_choices = choices(property);
    if !field_choices.is_empty() {
        return format!("one of {}", list(&field_choices));
    }
    let bound = |key: &str| property.get(key).filter(|v| v.is_number());
    let range = match (bound("minimum"), bound("maximum")) {
        (Some(min), Some(max)) => format!(" from {min} to {max}"),
        (Some(min), None) => format!(" of at least {min}"),
        (None, Some(max)) => format!(" of at most {max}"),
        (None, None) => String::new(),
    };
    match field_type(property) {
        "string" => match property.get("format").and_then(Value::as_str) {
            Some("email") => "an email address".into(),
            Some("uri") => "a URI".into(),
            Some("date") => "a date (YYYY-MM-DD)".into(),
            _ => "text".into(),
        },
        "integer" => format!("a whole number{range}"),
        "number" => format!("a number{range}"),
        "boolean" => "yes or no".into(),
        "array" => {
            let items = property.get("items").cloned().unwrap_or(Value::Null);
            let item_choices = choices(&items);
            if item_choices.is_empty() {
                "a comma-separated list".into()
            } else {
                format!("a comma-separated list of {}", list(&item_choices))
            }
        }
        other => other.into(),
    }
}

fn fit_object(
    properties: &Map<String, Value>,
    required: &[&str],
    object: Map<String, Value>,
) -> Result<Value, String> {
    let mut content = Map::new();
    for (name, value) in object {
        let Some(property) = properties.get(&name) else {
            return Err(format!(
                "there is no field '{name}'; the fields are: {}",
                properties.keys().cloned().collect::<Vec<_>>().join(", ")
            ));
        };
        let value = match value {
            Value::String(text) if field_type(property) != "string" => from_text(property, &text),
            value => from_json(property, value),
        }
        .map_err(|e| format!("{}: {e}", label(&name, property)))?;
        content.insert(name, value);
    }
    let missing: Vec<&str> = required
        .iter()
        .copied()
        .filter(|r| !content.contains_key(*r))
        .collect();
    if !missing.is_empty() {
        return Err(format!("missing required field(s): {}", missing.join(", ")));
    }
    Ok(Value::Object(content))
}

fn field_type(property: &Value) -> &str {
    property
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("string")
}

fn label(name: &str, property: &Value) -> String {
    match property.get("title").and_then(Value::as_str) {
        Some(title) if title != name => format!("{title} ({name})"),
        _ => name.to_string(),
    }
}

/// A field's value from plain text.
fn from_text(property: &Value, text: &str) -> Result<Value, String> {
    match field_type(property) {
        "string" => check_string(property, text).map(|s| Value::String(s.to_string())),
        "integer" => {
            let n: i64 = text
                .parse()
                .map_err(|_| format!("'{text}' is not a whole number"))?;
            check_range(property, n as f64)?;
            Ok(Value::from(n))
        }
        "number" => {
            let n: f64 = text
                .parse()
                .map_err(|_| format!("'{text}' is not a number"))?;
            check_range(property, n)?;
            Number::from_f64(n)
                .map(Value::Number)
                .ok_or_else(|| format!("'{text}' is not a finite number"))
        }
        "boolean" => match text.to_lowercase().as_str() {
            "y" | "yes" | "true" | "1" | "on" => Ok(Value::Bool(true)),
            "n" | "no" | "false" | "0" | "off" => Ok(Value::Bool(false)),
            _ => Err(format!("'{text}' is not yes or no")),
        },
        "array" => {
            let items: Vec<Value> = text
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| Value::String(s.to_string()))
                .collect();
            check_array(property, items)
        }
        other => Err(format!("m cannot fill a field of type '{other}'")),
    }
}

/// A field's value from JSON, checked against its schema.
fn from_json(property: &Value, value: Value) -> Result<Value, String> {
    match (field_type(property), value) {
        ("string", Value::String(s)) => {
            check_string(property, &s).map(|s| Value::String(s.to_string()))
        }
        ("integer", Value::Number(n)) if n.is_i64() => {
            check_range(property, n.as_f64().unwrap_or_default())?;
            Ok(Value::Number(n))
        }
        ("number", Value::Number(n)) => {
            check_range(property, n.as_f64().unwrap_or_default())?;
            Ok(Value::Number(n))
        }
        ("boolean", Value::Bool(b)) => Ok(Value::Bool(b)),
        ("array", Value::Array(items)) => check_array(property, items),
        (expected, value) => Err(format!("expected {}, not {value}", article(expected))),
    }
}

fn article(field_type: &str) -> String {
    match field_type {
        "integer" => "a whole number".into(),
        "array" => "a list".into(),
        t => format!("a {t}"),
    }
}

/// Returns the string as the agent wants it: a titled choice given by its
/// title becomes the choice's value.
fn check_string<'a>(property: &'a Value, text: &'a str) -> Result<&'a str, String> {
    let choices = choices(property);
    if !choices.is_empty() {
        return choices
            .iter()
            .find(|(value, _)| *value == text)
            .or_else(|| {
                choices
                    .iter()
                    .find(|(_, title)| title.is_some_and(|t| t.eq_ignore_ascii_case(text)))
            })
            .map(|(value, _)| *value)
            .ok_or_else(|| format!("'{text}' is not one of: {}", list(&choices)));
    }
    let len = text.chars().count() as u64;
    if let Some(min) = property.get("minLength").and_then(Value::as_u64) {
        if len < min {
            return Err(format!("needs at least {min} characters"));
        }
    }
    if let Some(max) = property.get("maxLength").and_then(Value::as_u64) {
        if len > max {
            return Err(format!("takes at most {max} characters"));
        }
    }
    if let Some(pattern) = property.get("pattern").and_then(Value::as_str) {
        // A pattern is an ECMA-262 regex; one regex-lite cannot compile
        // (lookaround, backreferences) goes unchecked here, since refusing
        // every reply would leave the human no answer: the agent checks
        // what it gets anyway.
        if let Ok(regex) = regex_lite::Regex::new(pattern) {
            if !regex.is_match(text) {
                return Err(format!("'{text}' does not match the pattern {pattern}"));
            }
        }
    }
    match property.get("format").and_then(Value::as_str) {
        Some("email") if !text.contains('@') => Err(format!("'{text}' is not an email address")),
        Some("uri") if !text.contains(':') => Err(format!("'{text}' is not a URI")),
        Some("date") if !is_date(text) => Err(format!("'{text}' is not a date (YYYY-MM-DD)")),
        _ => Ok(text),
    }
}

fn is_date(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}

fn check_range(property: &Value, n: f64) -> Result<(), String> {
    if let Some(min) = property.get("minimum").and_then(Value::as_f64) {
        if n < min {
            return Err(format!("must be at least {min}"));
        }
    }
    if let Some(max) = property.get("maximum").and_then(Value::as_f64) {
        if n > max {
            return Err(format!("must be at most {max}"));
        }
    }
    Ok(())
}

fn check_array(property: &Value, items: Vec<Value>) -> Result<Value, String> {
    let item_schema = property.get("items").cloned().unwrap_or(Value::Null);
    let choices = choices(&item_schema);
    let mut values = Vec::new();
    for item in items {
        let Value::String(text) = item else {
            return Err(format!("expected a list of strings, not {item}"));
        };
        if choices.is_empty() {
            values.push(Value::String(text));
            continue;
        }
        let value = choices
            .iter()
            .find(|(value, _)| *value == text)
            .or_else(|| {
                choices
                    .iter()
                    .find(|(_, title)| title.is_some_and(|t| t.eq_ignore_ascii_case(&text)))
            })
            .map(|(value, _)| *value)
            .ok_or_else(|| format!("'{text}' is not one of: {}", list(&choices)))?;
        values.push(Value::String(value.to_string()));
    }
    let count = values.len() as u64;
    if let Some(min) = property.get("minItems").and_then(Value::as_u64) {
        if count < min {
            return Err(format!("choose at least {min}"));
        }
    }
    if let Some(max) = property.get("maxItems").and_then(Value::as_u64) {
        if count > max {
            return Err(format!("choose at most {max}"));
        }
    }
    Ok(Value::Array(values))
}

/// The allowed values of a field, with their titles: `enum`, or titled
/// `oneOf` / `anyOf` options.
fn choices(schema: &Value) -> Vec<(&str, Option<&str>)> {
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        return values
            .iter()
            .filter_map(Value::as_str)
            .map(|v| (v, None))
            .collect();
    }
    ["oneOf", "anyOf"]
        .iter()
        .filter_map(|k| schema.get(*k).and_then(Value::as_array))
        .flatten()
        .filter_map(|o| {
            let value = o.get("const")?.as_str()?;
            Some((value, o.get("title").and_then(Value::as_str)))
        })
        .collect()
}

fn list(choices: &[(&str, Option<&str>)]) -> String {
    choices
        .iter()
        .map(|(value, title)| match title {
            Some(t) if t != value => format!("{value} ({t})"),
            _ => value.to_string(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn example(property: &Value) -> String {
    if let Some((value, _)) = choices(property).first() {
        return format!("\"{value}\"");
    }
    match field_type(property) {
        "integer" => "1".into(),
        "number" => "1.5".into(),
        "boolean" => "true".into(),
        "array" => "[\"...\"]".into(),
        _ => "\"...\"".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_form_whose_required_fields_have_defaults_has_a_default_answer() {
        let schema = json!({"properties": {
            "db": {"type": "string", "enum": ["pg", "lite"], "default": "lite"},
            "n": {"type": "integer", "default": 2},
            "note": {"type": "string"}}, "required": ["db"]});
        let answer = default_answer(&schema).unwrap();
        assert_eq!(
            fit(&schema, &answer).unwrap(),
            json!({"db": "lite", "n": 2})
        );
        let without = json!({"properties": {"db": {"type": "string"}, "n": {"type": "integer", "default": 2}},
            "required": ["db"]});
        assert_eq!(default_answer(&without), None);
        assert_eq!(
            default_answer(&json!({"properties": {"db": {"type": "string"}}})),
            None
        );
        let refused = json!({"properties": {"n": {"type": "integer", "maximum": 1, "default": 5}}});
        assert_eq!(default_answer(&refused), None);
    }

    #[test]
    fn a_single_field_takes_the_text() {
        let schema = json!({"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]});
        assert_eq!(fit(&schema, "  Ada \n").unwrap(), json!({"name": "Ada"}));
        let schema = json!({"properties": {"n": {"type": "integer", "minimum": 1, "maximum": 5}}});
        assert_eq!(fit(&schema, "3").unwrap(), json!({"n": 3}));
        assert!(fit(&schema, "three")
            .unwrap_err()
            .contains("not a whole number"));
        assert!(fit(&schema, "9").unwrap_err().contains("at most 5"));
        let schema = json!({"properties": {"ok": {"type": "boolean", "title": "Proceed?"}}});
        assert_eq!(fit(&schema, "yes").unwrap(), json!({"ok": true}));
        assert!(fit(&schema, "maybe")
            .unwrap_err()
            .starts_with("Proceed? (ok)"));
    }

    #[test]
    fn choices_are_checked_and_titles_accepted() {
        let schema = json!({"properties": {"db": {"type": "string", "oneOf": [
            {"const": "pg", "title": "PostgreSQL"}, {"const": "lite", "title": "SQLite"}]}}});
        assert_eq!(fit(&schema, "pg").unwrap(), json!({"db": "pg"}));
        assert_eq!(fit(&schema, "sqlite").unwrap(), json!({"db": "lite"}));
        assert!(fit(&schema, "mysql")
            .unwrap_err()
            .contains("pg (PostgreSQL), lite (SQLite)"));
        let schema = json!({"properties": {"tags": {"type": "array", "items": {"type": "string", "enum": ["a", "b"]}}}});
        assert_eq!(fit(&schema, "a, b").unwrap(), json!({"tags": ["a", "b"]}));
        assert!(fit(&schema, "a, c").is_err());
    }

    #[test]
    fn several_fields_take_a_json_object() {
        let schema = json!({"type": "object", "properties": {
            "name": {"type": "string"}, "age": {"type": "integer"}}, "required": ["name"]});
        let err = fit(&schema, "Ada").unwrap_err();
        assert!(
            err.contains("2 fields") && err.contains("JSON object"),
            "{err}"
        );
        assert_eq!(
            fit(&schema, r#"{"name": "Ada", "age": 36}"#).unwrap(),
            json!({"name": "Ada", "age": 36})
        );
        assert_eq!(
            fit(&schema, r#"{"name": "Ada", "age": "36"}"#).unwrap(),
            json!({"name": "Ada", "age": 36})
        );
        assert!(fit(&schema, r#"{"age": 36}"#)
            .unwrap_err()
            .contains("missing required field(s): name"));
        assert!(fit(&schema, r#"{"name": "Ada", "x": 1}"#)
            .unwrap_err()
            .contains("no field 'x'"));
        assert!(fit(&schema, r#"{"name": 5}"#)
            .unwrap_err()
            .contains("expected a string"));
    }

    #[test]
    fn expected_names_the_choices_or_the_fields() {
        let schema = json!({"properties": {"database": {"type": "string", "title": "Database", "oneOf": [
            {"const": "postgres", "title": "PostgreSQL"}, {"const": "sqlite", "title": "SQLite"}]}},
            "required": ["database"]});
        assert_eq!(
            expected(&schema).unwrap(),
            "Database: one of postgres (PostgreSQL), sqlite (SQLite)"
        );
        let schema = json!({"properties": {"n": {"type": "integer", "minimum": 1, "maximum": 5}}});
        assert_eq!(expected(&schema).unwrap(), "n: a whole number from 1 to 5");
        let schema = json!({"type": "object", "properties": {
            "name": {"type": "string"}, "ok": {"type": "boolean"},
            "tags": {"type": "array", "items": {"enum": ["a", "b"]}}}, "required": ["name"]});
        assert_eq!(
            expected(&schema).unwrap(),
            "a JSON object: name (text, required), ok (yes or no), \
             tags (a comma-separated list of a, b)"
        );
        assert_eq!(expected(&json!({"type": "object"})), None);
        assert_eq!(expected(&json!({"properties": {}})), None);
    }

    #[test]
    fn a_question_without_fields_takes_any_reply() {
        assert_eq!(fit(&json!({"type": "object"}), "ok").unwrap(), json!({}));
    }

    #[test]
    fn string_formats_are_checked() {
        let schema = json!({"properties": {"when": {"type": "string", "format": "date"}}});
        assert!(fit(&schema, "2024-02-30").is_ok());
        assert!(fit(&schema, "tomorrow").is_err());
        let schema =
            json!({"properties": {"mail": {"type": "string", "format": "email", "minLength": 3}}});
        assert!(fit(&schema, "nobody").is_err());
        assert!(fit(&schema, "a@b").is_ok());
    }

    #[test]
    fn a_string_must_match_its_pattern() {
        let schema = json!({"properties": {"code": {"type": "string", "title": "Ticket", "pattern": "^[A-Z]+-[0-9]+$"}}});
        assert_eq!(fit(&schema, "M-42").unwrap(), json!({"code": "M-42"}));
        let err = fit(&schema, "m42").unwrap_err();
        assert!(err.starts_with("Ticket (code)"), "{err}");
        assert!(err.contains("^[A-Z]+-[0-9]+$"), "{err}");
        let err = fit(&schema, r#"{"code": "42"}"#).unwrap_err();
        assert!(err.contains("does not match"), "{err}");
    }

    #[test]
    fn a_pattern_matches_anywhere_unless_anchored() {
        let anchored = json!({"properties": {"id": {"type": "string", "pattern": "^[a-z]+$"}}});
        assert!(fit(&anchored, "abc").is_ok());
        assert!(fit(&anchored, "abc1").is_err());
        let unanchored = json!({"properties": {"id": {"type": "string", "pattern": "[0-9]"}}});
        assert!(fit(&unanchored, "abc1def").is_ok());
        assert!(fit(&unanchored, "abcdef").is_err());
    }

    #[test]
    fn a_pattern_regex_lite_cannot_compile_is_not_checked() {
        let lookahead =
            json!({"properties": {"pw": {"type": "string", "pattern": "^(?=.*[0-9]).{8,}$"}}});
        assert_eq!(fit(&lookahead, "short").unwrap(), json!({"pw": "short"}));
        let backreference = json!({"properties": {"w": {"type": "string", "pattern": "(a)\\1"}}});
        assert!(fit(&backreference, "b").is_ok());
    }
}
