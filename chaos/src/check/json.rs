//! JSON values compared as JSON values, whatever tool wrote them.
//!
//! Checkers intern values by a canonical text: object keys sorted (serde_json
//! keeps insertion order when some crate in the build enables
//! `preserve_order`, and `node` does), and numbers by their value, so `1`,
//! `1.0` and `1e0` are one value while `"1"` stays a different one.

use serde_json::{Number, Value};

/// A text that is equal for two values exactly when they are equal as JSON.
pub(crate) fn canonical(value: &Value) -> String {
    let mut out = String::new();
    write(value, &mut out);
    out
}

fn write(value: &Value, out: &mut String) {
    match value {
        Value::Null | Value::Bool(_) | Value::String(_) => out.push_str(&value.to_string()),
        Value::Number(n) => out.push_str(&number(n)),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write(v, out);
            }
            out.push('}');
        }
    }
}

fn number(n: &Number) -> String {
    if let Some(i) = n.as_i64() {
        return i.to_string();
    }
    if let Some(u) = n.as_u64() {
        return u.to_string();
    }
    let f = n.as_f64().unwrap_or(f64::NAN);
    // An integral float within i64 range is that integer (1.0 == 1).
    if f.fract() == 0.0 && f.abs() < 9.0e18 {
        return (f as i64).to_string();
    }
    format!("{f:e}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn equal_as_json_means_equal_text() {
        let same = [
            (json!(1), serde_json::from_str::<Value>("1.0").unwrap()),
            (json!(1), serde_json::from_str::<Value>("1e0").unwrap()),
            (serde_json::from_str(r#"{"a":1,"b":[2,{"d":1,"c":2}]}"#).unwrap(), json!({"b":[2,{"c":2,"d":1}],"a":1})),
            (json!(-5), json!(-5.0)),
            (json!(0.5), serde_json::from_str::<Value>("5e-1").unwrap()),
        ];
        for (a, b) in same {
            assert_eq!(canonical(&a), canonical(&b), "{a} vs {b}");
        }
        let different = [
            (json!(1), json!("1")),
            (json!(null), json!("null")),
            (json!([1, 2]), json!([2, 1])),
            (json!(1.5), json!(1)),
        ];
        for (a, b) in different {
            assert_ne!(canonical(&a), canonical(&b), "{a} vs {b}");
        }
    }
}
