//! Script values to and from JSON, the storage-neutral shape of stores and the cache. Only plain
//! data converts: unit, bool, numbers, strings, arrays and maps.

use rhai::{Array, Dynamic, Map};
use serde_json::{Number, Value};

/// A script value as JSON.
///
/// # Errors
/// A value that is not plain data (a function pointer, a user handle, ...).
pub fn to_json(v: &Dynamic) -> Result<Value, String> {
    if v.is_unit() {
        return Ok(Value::Null);
    }
    if let Ok(b) = v.as_bool() {
        return Ok(Value::Bool(b));
    }
    if let Ok(n) = v.as_int() {
        return Ok(Value::Number(n.into()));
    }
    if let Ok(f) = v.as_float() {
        return Number::from_f64(f)
            .map(Value::Number)
            .ok_or_else(|| format!("cannot store the number {f}"));
    }
    if v.is_string() || v.is_char() {
        return Ok(Value::String(v.to_string()));
    }
    if v.is_array() {
        let arr = v.read_lock::<Array>().ok_or("cannot read the array")?;
        return arr
            .iter()
            .map(to_json)
            .collect::<Result<_, _>>()
            .map(Value::Array);
    }
    if v.is_map() {
        let map = v.read_lock::<Map>().ok_or("cannot read the map")?;
        let mut out = serde_json::Map::with_capacity(map.len());
        for (k, item) in map.iter() {
            out.insert(k.to_string(), to_json(item)?);
        }
        return Ok(Value::Object(out));
    }
    Err(format!("cannot store a value of type {}", v.type_name()))
}

/// JSON as a script value.
pub fn from_json(v: &Value) -> Dynamic {
    match v {
        Value::Null => Dynamic::UNIT,
        Value::Bool(b) => Dynamic::from_bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Dynamic::from_int(i),
            None => Dynamic::from_float(n.as_f64().unwrap_or(0.0)),
        },
        Value::String(s) => Dynamic::from(s.clone()),
        Value::Array(items) => Dynamic::from_array(items.iter().map(from_json).collect()),
        Value::Object(map) => Dynamic::from_map(
            map.iter()
                .map(|(k, v)| (k.as_str().into(), from_json(v)))
                .collect(),
        ),
    }
}
