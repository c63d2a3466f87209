//! Performance data as the Nagios plugin development guidelines define it
//! (<https://nagios-plugins.org/doc/guidelines.html#AEN200>): a space-separated list of
//! `'label'=value[UOM];[warn];[crit];[min];[max]`.
//!
//! - A label with spaces is single-quoted; a quote inside it is written `''`.
//! - `value`, `min` and `max` are numbers (`[-0-9.]`); the UOM follows the value: none, `s`,
//!   `ms`, `us`, `%`, `B`, `KB`, `MB`, `TB`, `c` (others, such as `GB` or `MiB`, are kept as
//!   written).
//! - `warn` and `crit` are range expressions ([`Range`]); trailing empty fields may be left out.
//!
//! Plugins get this wrong in many small ways, and one bad item must not cost the others or the
//! check: a malformed item is skipped and the reason kept. A bad threshold, min or max drops
//! only that field (with its reason), since the value itself is still worth charting.

use hostwatch_proto::sections::{PerfData, Range};

/// At most this many items per check, so a runaway plugin cannot balloon a report.
pub const MAX_ITEMS: usize = 100;
/// At most this many reasons kept per check.
pub const MAX_ERRORS: usize = 20;
/// Items are quoted in error messages up to this many characters.
const QUOTE_MAX: usize = 60;

/// Parses a run of perfdata text, appending what it finds.
pub fn parse(text: &str, items: &mut Vec<PerfData>, errors: &mut Vec<String>) {
    let mut rest = text;
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            return;
        }
        let (item, after) = split_item(rest);
        rest = after;
        match parse_item(item, errors) {
            Ok(data) if items.len() < MAX_ITEMS => items.push(data),
            Ok(_) => {
                push_error(
                    errors,
                    item,
                    &format!("more than {MAX_ITEMS} items; dropped"),
                );
                return;
            }
            Err(reason) => push_error(errors, item, reason),
        }
    }
}

fn push_error(errors: &mut Vec<String>, item: &str, reason: &str) {
    if errors.len() >= MAX_ERRORS {
        return;
    }
    let shown: String = item.chars().take(QUOTE_MAX).collect();
    let ellipsis = if shown.len() < item.len() { "…" } else { "" };
    errors.push(format!("`{shown}{ellipsis}`: {reason}"));
}

/// The next item and what follows it: up to whitespace, and past the spaces of a quoted label
/// (a quote elsewhere is just a character, so one stray `'` cannot swallow the items after it).
fn split_item(text: &str) -> (&str, &str) {
    let mut start = 0;
    if text.starts_with('\'') {
        start = 1;
        loop {
            match text[start..].find('\'') {
                // Unterminated: the rest is this (malformed) item.
                None => return (text, ""),
                Some(at) => {
                    start += at + 1;
                    // `''` is an escaped quote inside the label.
                    if text[start..].starts_with('\'') {
                        start += 1;
                        continue;
                    }
                    break;
                }
            }
        }
    }
    match text[start..].find(char::is_whitespace) {
        Some(at) => text.split_at(start + at),
        None => (text, ""),
    }
}

fn parse_item(item: &str, errors: &mut Vec<String>) -> Result<PerfData, &'static str> {
    let (label, data) = split_label(item)?;
    let mut fields = data.split(';');
    let value_field = fields.next().unwrap_or("");
    let rest: Vec<&str> = fields.collect();
    if rest.len() > 4 {
        return Err("more than 5 `;`-separated fields");
    }
    if value_field.is_empty() {
        return Err("no value");
    }
    if value_field == "U" {
        return Err("value is `U` (the plugin could not determine it)");
    }
    let (number_text, uom) = split_uom(value_field);
    let value = number(number_text).ok_or("value is not a number")?;
    // A unit is letters or `%`; anything else (`0,5` in a comma-decimal locale) is a bad value.
    if !uom.bytes().all(|b| b.is_ascii_alphabetic() || b == b'%') {
        return Err("value is not a number followed by a unit");
    }
    let uom = (!uom.is_empty()).then(|| uom.to_string());
    let field = |i: usize| rest.get(i).copied().filter(|f| !f.is_empty());

    let mut range = |i: usize, name: &str| -> Option<Range> {
        let text = field(i)?;
        match text.parse::<Range>() {
            Ok(range) => Some(range),
            Err(e) => {
                push_error(errors, item, &format!("{name} dropped: {e}"));
                None
            }
        }
    };
    let warn = range(0, "warn");
    let crit = range(1, "crit");
    let mut bound = |i: usize, name: &str| -> Option<f64> {
        let text = field(i)?;
        // Some plugins repeat the unit on min and max (`0MB`); the guidelines do not, but the
        // number is unambiguous.
        let bare = uom
            .as_deref()
            .and_then(|u| text.strip_suffix(u))
            .unwrap_or(text);
        match number(bare) {
            Some(n) => Some(n),
            None => {
                push_error(
                    errors,
                    item,
                    &format!("{name} dropped: `{text}` is not a number"),
                );
                None
            }
        }
    };
    let min = bound(2, "min");
    let max = bound(3, "max");
    Ok(PerfData {
        label,
        value,
        uom,
        warn,
        crit,
        min,
        max,
    })
}

/// `'label'=rest` or `label=rest`.
fn split_label(item: &str) -> Result<(String, &str), &'static str> {
    if let Some(quoted) = item.strip_prefix('\'') {
        let mut label = String::new();
        let mut chars = quoted.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            if c != '\'' {
                label.push(c);
                continue;
            }
            if let Some(&(_, '\'')) = chars.peek() {
                chars.next();
                label.push('\'');
                continue;
            }
            let after = &quoted[i + 1..];
            let data = after
                .strip_prefix('=')
                .ok_or("no `=` after the quoted label")?;
            if label.is_empty() {
                return Err("empty label");
            }
            return Ok((label, data));
        }
        return Err("unterminated quote in the label");
    }
    let (label, data) = item.split_once('=').ok_or("no `=`")?;
    if label.is_empty() {
        return Err("empty label");
    }
    Ok((label.to_string(), data))
}

/// Splits `12.5ms` into `12.5` and `ms`: the number is the leading run of `[-+0-9.]` (and an
/// exponent when digits follow it).
fn split_uom(field: &str) -> (&str, &str) {
    let bytes = field.as_bytes();
    let mut end = 0;
    while end < bytes.len() {
        let b = bytes[end];
        let exponent = matches!(b, b'e' | b'E')
            && end > 0
            && bytes
                .get(end + 1)
                .is_some_and(|n| n.is_ascii_digit() || matches!(n, b'-' | b'+'));
        if b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.') || exponent {
            end += 1;
        } else {
            break;
        }
    }
    field.split_at(end)
}

/// A finite number in the characters the guidelines allow (plus an exponent).
fn number(text: &str) -> Option<f64> {
    let ok = text.bytes().any(|b| b.is_ascii_digit())
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E'));
    ok.then(|| text.parse::<f64>().ok())
        .flatten()
        .filter(|n| n.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(text: &str) -> (Vec<PerfData>, Vec<String>) {
        let mut items = Vec::new();
        let mut errors = Vec::new();
        parse(text, &mut items, &mut errors);
        (items, errors)
    }

    fn range(s: &str) -> Option<Range> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn full_item_with_every_field() {
        let (items, errors) = parse_all("/=2643MB;5948;5958;0;5968");
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            items,
            [PerfData {
                label: "/".into(),
                value: 2643.0,
                uom: Some("MB".into()),
                warn: range("5948"),
                crit: range("5958"),
                min: Some(0.0),
                max: Some(5968.0),
            }]
        );
    }

    #[test]
    fn quoted_labels_with_spaces_and_escaped_quotes() {
        let (items, errors) = parse_all("'load 1'=0.5;~:4;@0:6;0; 'it''s'=3c 'a=b'=1");
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(items.len(), 3);
        assert_eq!(items[0].label, "load 1");
        assert_eq!(items[0].warn, range("~:4"));
        assert_eq!(items[0].crit, range("@0:6"));
        assert_eq!((items[0].min, items[0].max), (Some(0.0), None));
        assert_eq!(items[1].label, "it's");
        assert_eq!(items[1].uom.as_deref(), Some("c"));
        assert_eq!(items[2].label, "a=b");
    }

    #[test]
    fn units_values_and_empty_fields() {
        let (items, errors) =
            parse_all("time=0.008457s;;;0.000000;10.000000 pl=0%;80;90;0;100 rta=-1.5e-3ms n=7");
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(items[0].uom.as_deref(), Some("s"));
        assert_eq!((items[0].warn, items[0].crit), (None, None));
        assert_eq!(items[0].max, Some(10.0));
        assert_eq!(items[1].uom.as_deref(), Some("%"));
        assert_eq!(items[2].value, -1.5e-3);
        assert_eq!(items[2].uom.as_deref(), Some("ms"));
        assert_eq!((items[3].value, items[3].uom.as_deref()), (7.0, None));
    }

    #[test]
    fn malformed_items_are_skipped_one_by_one_with_reasons() {
        let (items, errors) = parse_all(" =3;;;; dgasdg =;;;; sff=;;;; good=1 'open=2 ");
        assert_eq!(items.len(), 1, "{items:?}");
        assert_eq!(items[0].label, "good");
        assert_eq!(
            errors,
            [
                "`=3;;;;`: empty label",
                "`dgasdg`: no `=`",
                "`=;;;;`: empty label",
                "`sff=;;;;`: no value",
                "`'open=2 `: unterminated quote in the label",
            ]
        );
    }

    #[test]
    fn a_stray_quote_costs_only_its_own_item() {
        let (items, errors) = parse_all("it's=1 a=2 'x y'=3");
        let labels: Vec<_> = items.iter().map(|p| p.label.as_str()).collect();
        assert_eq!(labels, ["it's", "a", "x y"]);
        assert!(errors.is_empty(), "{errors:?}");
    }

    #[test]
    fn bad_values_and_fields() {
        let (items, errors) = parse_all("a=U;1;2 b=0,5 c=inf d=1;2;3;4;5;6 e=x1");
        assert!(items.is_empty(), "{items:?}");
        assert_eq!(errors.len(), 5, "{errors:?}");
        assert!(errors[0].contains("`U`"));
        assert!(errors[1].contains("not a number"));
        assert!(errors[2].contains("not a number"));
        assert!(errors[3].contains("more than 5"));
        assert!(errors[4].contains("not a number"));
    }

    #[test]
    fn a_bad_threshold_drops_only_that_field() {
        let (items, errors) = parse_all("x=5;abc;10:1;zero;9MB y=1MB;;;0MB;10MB");
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].value, 5.0);
        assert_eq!(
            (items[0].warn, items[0].crit, items[0].min),
            (None, None, None)
        );
        assert_eq!(items[0].max, None);
        assert_eq!(errors.len(), 4, "{errors:?}");
        assert!(errors[0].starts_with("`x=5;abc;10:1;zero;9MB`: warn dropped"));
        assert!(errors[1].contains("crit dropped") && errors[1].contains("greater"));
        assert!(errors[2].contains("min dropped"));
        assert!(errors[3].contains("max dropped"));
        // The unit repeated on min and max is understood.
        assert_eq!((items[1].min, items[1].max), (Some(0.0), Some(10.0)));
    }

    #[test]
    fn item_and_error_counts_are_bounded() {
        let many: String = (0..500).map(|i| format!("m{i}=1 ")).collect();
        let (items, errors) = parse_all(&many);
        assert_eq!(items.len(), MAX_ITEMS);
        assert_eq!(errors.len(), 1);
        let bad: String = (0..500).map(|i| format!("b{i} ")).collect();
        let (_, errors) = parse_all(&bad);
        assert_eq!(errors.len(), MAX_ERRORS);
        let long = "x".repeat(500);
        let (_, errors) = parse_all(&long);
        assert!(errors[0].chars().count() < 100, "{}", errors[0]);
    }

    proptest::proptest! {
        #[test]
        fn never_panics_on_any_text(text in "\\PC*") {
            let _ = parse_all(&text);
        }

        #[test]
        fn never_panics_on_perfdata_like_text(
            text in "([' =;:@~.0-9a-zA-Z%-]{0,12} ?){0,8}"
        ) {
            let (items, errors) = parse_all(&text);
            proptest::prop_assert!(items.len() <= MAX_ITEMS && errors.len() <= MAX_ERRORS);
            for item in items {
                proptest::prop_assert!(item.value.is_finite() && !item.label.is_empty());
            }
        }
    }
}
