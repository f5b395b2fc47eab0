//! Output formatting shared by commands: aligned tables, `--format json`, Go-template-style
//! `--format '{{.Field}}'`, human sizes and ages as Podman prints them.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

/// A row of named fields, for tables and templates.
pub type Row = BTreeMap<&'static str, String>;

/// Print rows as an aligned table (three spaces between columns, as Podman's tabwriter).
pub fn table(headers: &[(&'static str, &str)], rows: &[Row], no_heading: bool) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|(_, h)| h.len()).collect();
    for row in rows {
        for (i, (key, _)) in headers.iter().enumerate() {
            widths[i] = widths[i].max(row.get(key).map(|s| s.chars().count()).unwrap_or(0));
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let last = cells.len() - 1;
        let mut text = String::new();
        for (i, cell) in cells.iter().enumerate() {
            text.push_str(cell);
            if i < last {
                text.push_str(&" ".repeat(widths[i] - cell.chars().count() + 2));
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    if !no_heading {
        line(headers.iter().map(|(_, h)| *h).collect());
    }
    for row in rows {
        line(
            headers
                .iter()
                .map(|(k, _)| row.get(k).map(String::as_str).unwrap_or(""))
                .collect(),
        );
    }
    out
}

/// Render a Go-template-like format: `{{.Field}}` placeholders, `\t` and `\n` escapes, and a
/// leading `table` for a header line. Unknown fields are an error naming them.
pub fn template(format: &str, rows: &[Row]) -> Result<String, String> {
    let (is_table, body) = match format.strip_prefix("table") {
        Some(rest) => (true, rest.trim_start()),
        None => (false, format),
    };
    let body = body.replace("\\t", "\t").replace("\\n", "\n");
    let render = |row: Option<&Row>| -> Result<String, String> {
        let mut out = String::new();
        let mut rest = body.as_str();
        while let Some(start) = rest.find("{{") {
            out.push_str(&rest[..start]);
            let end = rest[start..]
                .find("}}")
                .ok_or_else(|| format!("unterminated {{{{ in format {format:?}"))?
                + start;
            let field = rest[start + 2..end].trim();
            let name = field
                .strip_prefix('.')
                .ok_or_else(|| format!("unsupported template expression {{{{{field}}}}}"))?;
            match row {
                Some(row) => out.push_str(
                    row.get(name)
                        .ok_or_else(|| format!("unknown field {name:?} in format"))?,
                ),
                None => out.push_str(&name.to_uppercase()),
            }
            rest = &rest[end + 2..];
        }
        out.push_str(rest);
        Ok(out)
    };
    let mut out = String::new();
    if is_table {
        out.push_str(&render(None)?);
        out.push('\n');
    }
    for row in rows {
        out.push_str(&render(Some(row))?);
        out.push('\n');
    }
    Ok(out)
}

/// Render a Go-template-like format over a JSON document (for `inspect --format`):
/// `{{.State.Status}}` follows keys, `{{json .Config}}` prints JSON; strings print bare.
pub fn json_template(format: &str, value: &serde_json::Value) -> Result<String, String> {
    let body = format.replace("\\t", "\t").replace("\\n", "\n");
    let mut out = String::new();
    let mut rest = body.as_str();
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find("}}")
            .ok_or_else(|| format!("unterminated {{{{ in format {format:?}"))?
            + start;
        let expr = rest[start + 2..end].trim();
        let (as_json, path) = match expr.strip_prefix("json ") {
            Some(p) => (true, p.trim()),
            None => (false, expr),
        };
        let path = path
            .strip_prefix('.')
            .ok_or_else(|| format!("unsupported template expression {{{{{expr}}}}}"))?;
        let mut node = value;
        for key in path.split('.').filter(|k| !k.is_empty()) {
            node = node
                .get(key)
                .ok_or_else(|| format!("can't evaluate field {key} in {format:?}"))?;
        }
        match node {
            serde_json::Value::String(s) if !as_json => out.push_str(s),
            serde_json::Value::Null if !as_json => out.push_str("<nil>"),
            other => out.push_str(&other.to_string()),
        }
        rest = &rest[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Sizes in SI units with three significant digits, as Podman's `images` prints them.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        // Three significant digits: 4.86 MB, 48.6 MB, 486 MB.
        let digits = if value >= 100.0 {
            0
        } else if value >= 10.0 {
            1
        } else {
            2
        };
        let rounded = format!("{value:.digits$}");
        let shown = if rounded.contains('.') {
            rounded
                .trim_end_matches('0')
                .trim_end_matches('.')
                .to_string()
        } else {
            rounded
        };
        format!("{shown} {}", UNITS[unit])
    }
}

/// "2 weeks ago", as Podman's `CREATED` columns print ages.
pub fn human_age(time: Option<DateTime<Utc>>) -> String {
    let Some(time) = time else {
        return "N/A".into();
    };
    let secs = (Utc::now() - time).num_seconds();
    if secs < 1 {
        return "Less than a second ago".into();
    }
    let (n, unit) = match secs {
        s if s < 60 => (s, "second"),
        s if s < 3600 => (s / 60, "minute"),
        s if s < 86_400 => (s / 3600, "hour"),
        s if s < 86_400 * 7 => (s / 86_400, "day"),
        s if s < 86_400 * 30 => (s / (86_400 * 7), "week"),
        s if s < 86_400 * 365 => (s / (86_400 * 30), "month"),
        s => (s / (86_400 * 365), "year"),
    };
    match n {
        1 if unit == "hour" => "About an hour ago".into(),
        1 => format!("1 {unit} ago"),
        n => format!("{n} {unit}s ago"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_podman() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(4_860_000), "4.86 MB");
        assert_eq!(human_size(48_600_000), "48.6 MB");
        assert_eq!(human_size(1_000_000_000), "1 GB");
    }

    #[test]
    fn templates_fill_fields_and_tables_get_headers() {
        let mut row = Row::new();
        row.insert("ID", "abc".into());
        row.insert("Tag", "latest".into());
        assert_eq!(
            template("{{.ID}}:{{.Tag}}", std::slice::from_ref(&row)).unwrap(),
            "abc:latest\n"
        );
        assert_eq!(
            template("table {{.ID}}\\t{{.Tag}}", &[row.clone()]).unwrap(),
            "ID\tTAG\nabc\tlatest\n"
        );
        assert!(template("{{.Nope}}", &[row]).unwrap_err().contains("Nope"));
    }

    #[test]
    fn json_templates_follow_paths() {
        let v = serde_json::json!({"State": {"Status": "running", "Pid": 7}, "Config": {"Cmd": ["sh"]}});
        assert_eq!(
            json_template("{{.State.Status}} {{.State.Pid}}", &v).unwrap(),
            "running 7"
        );
        assert_eq!(
            json_template("{{json .Config.Cmd}}", &v).unwrap(),
            r#"["sh"]"#
        );
        assert!(json_template("{{.Nope}}", &v).is_err());
    }

    #[test]
    fn tables_align_columns() {
        let mut a = Row::new();
        a.insert("A", "x".into());
        a.insert("B", "y".into());
        let out = table(&[("A", "LONGHEADER"), ("B", "B")], &[a], false);
        assert_eq!(out, "LONGHEADER  B\nx           y\n");
    }
}
