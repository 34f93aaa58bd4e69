//! The Kubernetes protobuf encoding of built-in kinds, translated to and from the JSON the store keeps.
//!
//! A body is `k8s\0` followed by a `runtime.Unknown` message whose `raw` field holds the object's own message; a
//! watch stream is a sequence of length-prefixed `WatchEvent` messages, each carrying one such body. The table
//! in `protobuf/types.json`, printed by `tests/controlplane/cmd/protoschema` from the Go types of the Kubernetes
//! version the control plane is built from, gives every message's fields with their numbers, JSON names and how
//! Go's JSON encoding treats them, so one table-driven translator serves every kind. Custom resources have no
//! protobuf form, as on the real server.

use std::collections::HashMap;
use std::sync::LazyLock;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Map, Value};

/// The media type of protobuf bodies.
pub const MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf";
/// The media type of a protobuf watch stream.
pub const WATCH_MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf;stream=watch";
const MAGIC: &[u8] = b"k8s\0";

/// Whether a response to this `Accept` header is protobuf: when the client names it first (kubectl's and
/// client-go's typed clients send `application/vnd.kubernetes.protobuf,application/json`).
pub fn preferred(accept: &str) -> bool {
    let first = accept.split(',').next().unwrap_or("");
    first.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case(MEDIA_TYPE)
}

/// Decodes a protobuf request body into the object's JSON form.
pub fn decode(body: &[u8]) -> Result<Value, String> {
    let (api_version, kind, raw) = unwrap(body)?;
    let t = &*TABLE;
    let mi = t
        .kind(&api_version, &kind)
        .ok_or_else(|| format!("no protobuf encoding is known for kind {kind:?} in {api_version:?}"))?;
    let fields = t.decode_message(mi, raw, 0)?;
    let mut obj = Map::new();
    if !api_version.is_empty() {
        obj.insert("apiVersion".into(), Value::String(api_version));
    }
    obj.insert("kind".into(), Value::String(kind));
    obj.extend(fields);
    Ok(Value::Object(obj))
}

/// Encodes an object (with its `apiVersion` and `kind`) as a protobuf body; an error when its kind has no
/// protobuf form or a value does not fit its field.
pub fn encode(obj: &Value) -> Result<Vec<u8>, String> {
    let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    let t = &*TABLE;
    let mi = t
        .kind(api_version, kind)
        .ok_or_else(|| format!("no protobuf encoding is known for kind {kind:?} in {api_version:?}"))?;
    let map = obj.as_object().ok_or("the object is not a JSON object")?;
    let mut raw = Vec::new();
    t.encode_message(mi, map, &mut raw)?;
    let mut type_meta = Vec::new();
    put_bytes(&mut type_meta, 1, api_version.as_bytes());
    put_bytes(&mut type_meta, 2, kind.as_bytes());
    let mut out = MAGIC.to_vec();
    put_bytes(&mut out, 1, &type_meta);
    put_bytes(&mut out, 2, &raw);
    put_bytes(&mut out, 3, b"");
    put_bytes(&mut out, 4, b"");
    Ok(out)
}

/// Removes the fields a built-in object's Go type does not have, as the real server's decoding drops them;
/// returns their paths (`spec.foo`, `spec.containers[0].bar`), or `None` when the object is not of a built-in
/// kind.
pub fn prune_unknown(obj: &mut Value) -> Option<Vec<String>> {
    let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    let t = &*TABLE;
    let mi = *t.kinds.get(&(api_version.to_string(), kind.to_string()))?;
    let mut unknown = Vec::new();
    t.prune(mi, obj.as_object_mut()?, "", true, &mut unknown);
    Some(unknown)
}

/// One frame of a protobuf watch stream: the event's length, then the `WatchEvent` holding the encoded object.
pub fn watch_frame(event_type: &str, obj: &Value) -> Result<Bytes, String> {
    let object = encode(obj)?;
    let mut raw_extension = Vec::new();
    put_bytes(&mut raw_extension, 1, &object);
    let mut event = Vec::new();
    put_bytes(&mut event, 1, event_type.as_bytes());
    put_bytes(&mut event, 2, &raw_extension);
    let len = u32::try_from(event.len()).map_err(|_| "the watch event is larger than 4 GiB")?;
    let mut frame = len.to_be_bytes().to_vec();
    frame.extend_from_slice(&event);
    Ok(Bytes::from(frame))
}

/// Splits a body into its type (apiVersion, kind) and the object's message.
fn unwrap(body: &[u8]) -> Result<(String, String, &[u8]), String> {
    let rest = body
        .strip_prefix(MAGIC)
        .ok_or("the body does not start with the protobuf envelope's \"k8s\\x00\" prefix")?;
    let (mut api_version, mut kind, mut raw, mut encoding) = (String::new(), String::new(), &[][..], "");
    let mut r = Reader::new(rest);
    while let Some((n, w)) = r.next()? {
        match n {
            1 => {
                let mut tm = Reader::new(w.bytes()?);
                while let Some((n, w)) = tm.next()? {
                    match n {
                        1 => api_version = w.string()?.to_string(),
                        2 => kind = w.string()?.to_string(),
                        _ => {}
                    }
                }
            }
            2 => raw = w.bytes()?,
            3 => encoding = w.string()?,
            _ => {}
        }
    }
    if !encoding.is_empty() {
        return Err(format!("the protobuf envelope's content encoding {encoding:?} is not supported"));
    }
    if kind.is_empty() {
        return Err("the protobuf envelope names no kind".into());
    }
    Ok((api_version, kind, raw))
}

/// How one value is encoded (the table's `kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Kind {
    String,
    Bytes,
    Bool,
    Int32,
    Int64,
    Uint32,
    Uint64,
    Double,
    Float,
    Message,
    Map,
    /// `metav1.Time`: seconds and nanos; RFC 3339 to the second in JSON, `null` when zero.
    Time,
    /// `metav1.MicroTime`: as `Time`, with microseconds in JSON.
    Microtime,
    /// `resource.Quantity`: its canonical string.
    Quantity,
    /// `intstr.IntOrString`: a number or a string in JSON.
    Intorstring,
    /// Bytes holding JSON (`RawExtension`, `FieldsV1`, apiextensions' `JSON`), embedded as is.
    Raw,
    /// A schema or a list of schemas.
    Schemaorarray,
    /// A schema or a boolean.
    Schemaorbool,
    /// A schema or a list of strings.
    Schemaorstringarray,
}

#[derive(Deserialize)]
struct FileValue {
    kind: Kind,
    #[serde(rename = "type", default)]
    type_: String,
}

#[derive(Deserialize)]
struct FileField {
    n: u32,
    json: String,
    kind: Kind,
    #[serde(rename = "type", default)]
    type_: String,
    #[serde(default)]
    val: Option<FileValue>,
    #[serde(default)]
    rep: bool,
    #[serde(default)]
    ptr: bool,
    #[serde(default)]
    omit: bool,
    #[serde(default)]
    inline: bool,
}

#[derive(Deserialize)]
struct FileKind {
    #[serde(rename = "apiVersion")]
    api_version: String,
    kind: String,
    #[serde(rename = "type")]
    type_: String,
}

#[derive(Deserialize)]
struct File {
    kinds: Vec<FileKind>,
    types: HashMap<String, Vec<FileField>>,
}

struct Field {
    n: u32,
    json: String,
    kind: Kind,
    /// The message this field's values are (for `Message` and the schema kinds).
    msg: usize,
    /// A map's value.
    val: (Kind, usize),
    rep: bool,
    ptr: bool,
    omit: bool,
    inline: bool,
}

struct Table {
    /// Fields of each message, by number.
    messages: Vec<Vec<Field>>,
    /// (apiVersion, kind) → message; apiVersion `*` for meta types sent under any group's version.
    kinds: HashMap<(String, String), usize>,
}

static TABLE: LazyLock<Table> = LazyLock::new(|| {
    Table::parse(include_str!("protobuf/types.json")).expect("the built-in protobuf table is consistent")
});

impl Table {
    fn parse(text: &str) -> Result<Table, String> {
        let file: File = serde_json::from_str(text).map_err(|e| format!("protobuf table: {e}"))?;
        let mut names: Vec<&String> = file.types.keys().collect();
        names.sort();
        let index: HashMap<&str, usize> = names.iter().enumerate().map(|(i, n)| (n.as_str(), i)).collect();
        let lookup = |name: &str, kind: Kind| -> Result<usize, String> {
            let needs = matches!(
                kind,
                Kind::Message | Kind::Schemaorarray | Kind::Schemaorbool | Kind::Schemaorstringarray
            );
            match (needs, index.get(name)) {
                (false, _) => Ok(usize::MAX),
                (true, Some(&i)) => Ok(i),
                (true, None) => Err(format!("protobuf table: no message {name:?}")),
            }
        };
        let mut messages = Vec::with_capacity(names.len());
        for name in &names {
            let mut fields = Vec::new();
            for f in &file.types[*name] {
                let val = match &f.val {
                    Some(v) => (v.kind, lookup(&v.type_, v.kind)?),
                    None if f.kind == Kind::Map => {
                        return Err(format!("protobuf table: {name}.{} has no value", f.json));
                    }
                    None => (Kind::String, usize::MAX),
                };
                fields.push(Field {
                    n: f.n,
                    json: f.json.clone(),
                    kind: f.kind,
                    msg: lookup(&f.type_, f.kind)?,
                    val,
                    rep: f.rep,
                    ptr: f.ptr,
                    omit: f.omit,
                    inline: f.inline,
                });
            }
            fields.sort_by_key(|f| f.n);
            messages.push(fields);
        }
        let mut kinds = HashMap::new();
        for k in &file.kinds {
            let mi = lookup(&k.type_, Kind::Message)?;
            kinds.insert((k.api_version.clone(), k.kind.clone()), mi);
        }
        Ok(Table { messages, kinds })
    }

    fn kind(&self, api_version: &str, kind: &str) -> Option<usize> {
        let key = |v: &str| (v.to_string(), kind.to_string());
        self.kinds.get(&key(api_version)).or_else(|| self.kinds.get(&key("*"))).copied()
    }

    /// A message's fields as JSON has them: an inline struct's fields stand in its place.
    fn json_fields(&self, mi: usize) -> Vec<&Field> {
        let mut out = Vec::new();
        for f in &self.messages[mi] {
            if f.inline {
                out.extend(self.json_fields(f.msg));
            } else {
                out.push(f);
            }
        }
        out
    }

    fn prune(&self, mi: usize, m: &mut Map<String, Value>, path: &str, top: bool, unknown: &mut Vec<String>) {
        let fields = self.json_fields(mi);
        let at = |k: &str| if path.is_empty() { k.to_string() } else { format!("{path}.{k}") };
        m.retain(|k, _| {
            let known = fields.iter().any(|f| f.json == *k) || (top && (k == "apiVersion" || k == "kind"));
            if !known {
                unknown.push(at(k));
            }
            known
        });
        for f in fields {
            let Some(v) = m.get_mut(&f.json) else { continue };
            match (f.kind, v) {
                (Kind::Message, Value::Object(sub)) => self.prune(f.msg, sub, &at(&f.json), false, unknown),
                (Kind::Message, Value::Array(items)) if f.rep => {
                    for (i, item) in items.iter_mut().enumerate() {
                        if let Value::Object(sub) = item {
                            self.prune(f.msg, sub, &format!("{}[{i}]", at(&f.json)), false, unknown);
                        }
                    }
                }
                (Kind::Map, Value::Object(entries)) if f.val.0 == Kind::Message => {
                    for (k, item) in entries.iter_mut() {
                        if let Value::Object(sub) = item {
                            self.prune(f.val.1, sub, &format!("{}[{k}]", at(&f.json)), false, unknown);
                        }
                    }
                }
                _ => {}
            }
        }
    }

    fn field(&self, mi: usize, n: u32) -> Option<&Field> {
        let fields = &self.messages[mi];
        fields.binary_search_by_key(&n, |f| f.n).ok().map(|i| &fields[i])
    }

    /// A message's fields as Go's JSON encoding writes the struct it decodes into: zero scalars of non-pointer
    /// `omitempty` fields and nil values left out; inline structs' fields merged into their parent.
    fn decode_message(&self, mi: usize, buf: &[u8], depth: usize) -> Result<Map<String, Value>, String> {
        // Deeper than any object the server keeps (its JSON limit), and the stack is not unbounded.
        if depth > super::patch::MAX_DEPTH {
            return Err(format!("the object nests deeper than {} levels", super::patch::MAX_DEPTH));
        }
        let mut out = Map::new();
        let mut r = Reader::new(buf);
        while let Some((n, w)) = r.next()? {
            let Some(f) = self.field(mi, n) else { continue };
            let at = |e: String| format!("{}: {e}", f.json);
            if f.kind == Kind::Map {
                let (k, v) = self.decode_entry(f, w, depth).map_err(at)?;
                let entry = out.entry(f.json.clone()).or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(m) = entry {
                    m.insert(k, v);
                }
            } else if f.rep {
                let entry = out.entry(f.json.clone()).or_insert_with(|| Value::Array(vec![]));
                let Value::Array(items) = entry else { continue };
                match w {
                    Wire::Len(packed) if is_packable(f.kind) => {
                        let mut pr = Reader::new(packed);
                        while !pr.done() {
                            let w = pr.scalar_of(f.kind).map_err(at)?;
                            items.push(self.decode_value(f.kind, f.msg, w, depth).map_err(at)?);
                        }
                    }
                    w => items.push(self.decode_value(f.kind, f.msg, w, depth).map_err(at)?),
                }
            } else if f.inline {
                out.extend(self.decode_message(f.msg, w.bytes().map_err(at)?, depth + 1).map_err(at)?);
            } else {
                out.insert(f.json.clone(), self.decode_value(f.kind, f.msg, w, depth).map_err(at)?);
            }
        }
        for f in &self.messages[mi] {
            if f.inline || f.rep || f.kind == Kind::Map {
                continue;
            }
            if out.get(&f.json).is_some_and(|v| v.is_null() || (!f.ptr && f.omit && is_zero(v))) {
                out.remove(&f.json);
            }
        }
        Ok(out)
    }

    fn decode_entry(&self, f: &Field, w: Wire<'_>, depth: usize) -> Result<(String, Value), String> {
        let (kind, msg) = f.val;
        let (mut key, mut value) = (String::new(), None);
        let mut r = Reader::new(w.bytes()?);
        while let Some((n, w)) = r.next()? {
            match n {
                1 => key = w.string()?.to_string(),
                2 => value = Some(self.decode_value(kind, msg, w, depth)?),
                _ => {}
            }
        }
        let value = match value {
            Some(v) => v,
            // An entry without a value holds the value type's zero.
            None => self.decode_value(kind, msg, zero_wire(kind), depth)?,
        };
        Ok((key, value))
    }

    fn decode_value(&self, kind: Kind, msg: usize, w: Wire<'_>, depth: usize) -> Result<Value, String> {
        Ok(match kind {
            Kind::String => Value::String(w.string()?.to_string()),
            Kind::Bytes => Value::String(BASE64.encode(w.bytes()?)),
            Kind::Bool => Value::Bool(w.varint()? != 0),
            Kind::Int32 => Value::from(w.varint()? as i64 as i32),
            Kind::Int64 => Value::from(w.varint()? as i64),
            Kind::Uint32 => Value::from(w.varint()? as u32),
            Kind::Uint64 => Value::from(w.varint()?),
            Kind::Double => number(f64::from_bits(w.fixed64()?))?,
            Kind::Float => number(f64::from(f32::from_bits(w.fixed32()?)))?,
            Kind::Message => Value::Object(self.decode_message(msg, w.bytes()?, depth + 1)?),
            Kind::Map => return Err("a map value cannot be a map".into()),
            Kind::Time | Kind::Microtime => {
                let (mut seconds, mut nanos) = (0i64, 0i32);
                let mut r = Reader::new(w.bytes()?);
                while let Some((n, w)) = r.next()? {
                    match n {
                        1 => seconds = w.varint()? as i64,
                        2 => nanos = w.varint()? as i64 as i32,
                        _ => {}
                    }
                }
                format_time(seconds, nanos, kind == Kind::Microtime)?
            }
            Kind::Quantity => {
                let mut s = String::new();
                let mut r = Reader::new(w.bytes()?);
                while let Some((n, w)) = r.next()? {
                    if n == 1 {
                        s = w.string()?.to_string();
                    }
                }
                Value::String(if s.is_empty() { "0".into() } else { s })
            }
            Kind::Intorstring => {
                let (mut is_string, mut int, mut string) = (false, 0i32, String::new());
                let mut r = Reader::new(w.bytes()?);
                while let Some((n, w)) = r.next()? {
                    match n {
                        1 => is_string = w.varint()? == 1,
                        2 => int = w.varint()? as i64 as i32,
                        3 => string = w.string()?.to_string(),
                        _ => {}
                    }
                }
                if is_string { Value::String(string) } else { Value::from(int) }
            }
            Kind::Raw => {
                let mut raw = &[][..];
                let mut r = Reader::new(w.bytes()?);
                while let Some((n, w)) = r.next()? {
                    if n == 1 {
                        raw = w.bytes()?;
                    }
                }
                if raw.is_empty() {
                    Value::Null
                } else {
                    serde_json::from_slice(raw).map_err(|e| format!("embedded JSON: {e}"))?
                }
            }
            Kind::Schemaorarray | Kind::Schemaorbool | Kind::Schemaorstringarray => {
                let (mut schema, mut list, mut allows) = (None, Vec::new(), false);
                let mut r = Reader::new(w.bytes()?);
                while let Some((n, w)) = r.next()? {
                    match (kind, n) {
                        (Kind::Schemaorarray, 1)
                        | (Kind::Schemaorstringarray, 1)
                        | (Kind::Schemaorbool, 2) => {
                            schema = Some(Value::Object(self.decode_message(msg, w.bytes()?, depth + 1)?));
                        }
                        (Kind::Schemaorarray, 2) => {
                            list.push(Value::Object(self.decode_message(msg, w.bytes()?, depth + 1)?))
                        }
                        (Kind::Schemaorstringarray, 2) => list.push(Value::String(w.string()?.to_string())),
                        (Kind::Schemaorbool, 1) => allows = w.varint()? != 0,
                        _ => {}
                    }
                }
                match (kind, schema) {
                    (Kind::Schemaorbool, None) => Value::Bool(allows),
                    _ if !list.is_empty() => Value::Array(list),
                    (_, Some(s)) => s,
                    (_, None) => Value::Null,
                }
            }
        })
    }

    fn encode_message(&self, mi: usize, obj: &Map<String, Value>, out: &mut Vec<u8>) -> Result<(), String> {
        for f in &self.messages[mi] {
            let at = |e: String| format!("{}: {e}", f.json);
            if f.inline {
                let mut sub = Vec::new();
                self.encode_message(f.msg, obj, &mut sub)?;
                put_bytes(out, f.n, &sub);
                continue;
            }
            let Some(v) = obj.get(&f.json).filter(|v| !v.is_null()) else { continue };
            if f.kind == Kind::Map {
                let m = v.as_object().ok_or_else(|| at("expected an object".into()))?;
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                for k in keys {
                    let mut entry = Vec::new();
                    put_bytes(&mut entry, 1, k.as_bytes());
                    let (kind, msg) = f.val;
                    self.encode_value(kind, msg, 2, &m[k], &mut entry)
                        .map_err(|e| format!("{}.{k}: {e}", f.json))?;
                    put_bytes(out, f.n, &entry);
                }
            } else if f.rep {
                let items = v.as_array().ok_or_else(|| at("expected a list".into()))?;
                for (i, item) in items.iter().enumerate() {
                    self.encode_value(f.kind, f.msg, f.n, item, out)
                        .map_err(|e| format!("{}[{i}]: {e}", f.json))?;
                }
            } else {
                self.encode_value(f.kind, f.msg, f.n, v, out).map_err(at)?;
            }
        }
        Ok(())
    }

    fn encode_value(
        &self,
        kind: Kind,
        msg: usize,
        n: u32,
        v: &Value,
        out: &mut Vec<u8>,
    ) -> Result<(), String> {
        let string = || v.as_str().ok_or_else(|| format!("expected a string, not {v}"));
        let object = || v.as_object().ok_or_else(|| format!("expected an object, not {v}"));
        let message = |m: &Map<String, Value>| -> Result<Vec<u8>, String> {
            let mut sub = Vec::new();
            self.encode_message(msg, m, &mut sub)?;
            Ok(sub)
        };
        match kind {
            Kind::String => put_bytes(out, n, string()?.as_bytes()),
            Kind::Bytes => {
                let bytes = BASE64.decode(string()?).map_err(|e| format!("not base64: {e}"))?;
                put_bytes(out, n, &bytes);
            }
            Kind::Bool => put_varint_field(
                out,
                n,
                u64::from(v.as_bool().ok_or_else(|| format!("expected a boolean, not {v}"))?),
            ),
            Kind::Int32 | Kind::Int64 | Kind::Uint32 | Kind::Uint64 => {
                put_varint_field(out, n, integer(v)? as u64)
            }
            Kind::Double => {
                put_tag(out, n, 1);
                out.extend_from_slice(
                    &v.as_f64().ok_or_else(|| format!("expected a number, not {v}"))?.to_bits().to_le_bytes(),
                );
            }
            Kind::Float => {
                put_tag(out, n, 5);
                out.extend_from_slice(
                    &(v.as_f64().ok_or_else(|| format!("expected a number, not {v}"))? as f32)
                        .to_bits()
                        .to_le_bytes(),
                );
            }
            Kind::Message => put_bytes(out, n, &message(object()?)?),
            Kind::Map => return Err("a map value cannot be a map".into()),
            Kind::Time | Kind::Microtime => {
                let ts: jiff::Timestamp =
                    string()?.parse().map_err(|e| format!("not an RFC 3339 time: {e}"))?;
                let mut sub = Vec::new();
                put_varint_field(&mut sub, 1, ts.as_second() as u64);
                put_varint_field(&mut sub, 2, i64::from(ts.subsec_nanosecond()) as u64);
                put_bytes(out, n, &sub);
            }
            Kind::Quantity => {
                let s = match v {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    _ => return Err(format!("expected a quantity, not {v}")),
                };
                let mut sub = Vec::new();
                put_bytes(&mut sub, 1, s.as_bytes());
                put_bytes(out, n, &sub);
            }
            Kind::Intorstring => {
                let mut sub = Vec::new();
                match v {
                    Value::String(s) => {
                        put_varint_field(&mut sub, 1, 1);
                        put_varint_field(&mut sub, 2, 0);
                        put_bytes(&mut sub, 3, s.as_bytes());
                    }
                    _ => {
                        put_varint_field(&mut sub, 1, 0);
                        put_varint_field(&mut sub, 2, i64::from(integer(v)? as i32) as u64);
                        put_bytes(&mut sub, 3, b"");
                    }
                }
                put_bytes(out, n, &sub);
            }
            Kind::Raw => {
                let mut sub = Vec::new();
                put_bytes(&mut sub, 1, v.to_string().as_bytes());
                put_bytes(out, n, &sub);
            }
            Kind::Schemaorarray | Kind::Schemaorbool | Kind::Schemaorstringarray => {
                let mut sub = Vec::new();
                match (kind, v) {
                    (Kind::Schemaorbool, Value::Bool(b)) => put_varint_field(&mut sub, 1, u64::from(*b)),
                    (Kind::Schemaorbool, Value::Object(m)) => {
                        put_varint_field(&mut sub, 1, 1);
                        put_bytes(&mut sub, 2, &message(m)?);
                    }
                    (Kind::Schemaorarray, Value::Array(items)) => {
                        for item in items {
                            let m =
                                item.as_object().ok_or_else(|| format!("expected a schema, not {item}"))?;
                            put_bytes(&mut sub, 2, &message(m)?);
                        }
                    }
                    (Kind::Schemaorstringarray, Value::Array(items)) => {
                        for item in items {
                            let s = item.as_str().ok_or_else(|| format!("expected a string, not {item}"))?;
                            put_bytes(&mut sub, 2, s.as_bytes());
                        }
                    }
                    (Kind::Schemaorarray | Kind::Schemaorstringarray, Value::Object(m)) => {
                        put_bytes(&mut sub, 1, &message(m)?)
                    }
                    _ => return Err(format!("expected a schema, not {v}")),
                }
                put_bytes(out, n, &sub);
            }
        }
        Ok(())
    }
}

fn is_packable(kind: Kind) -> bool {
    matches!(
        kind,
        Kind::Bool | Kind::Int32 | Kind::Int64 | Kind::Uint32 | Kind::Uint64 | Kind::Double | Kind::Float
    )
}

/// The wire value a missing map value stands for.
fn zero_wire(kind: Kind) -> Wire<'static> {
    match kind {
        Kind::Bool | Kind::Int32 | Kind::Int64 | Kind::Uint32 | Kind::Uint64 => Wire::Varint(0),
        Kind::Double => Wire::Fixed64(0),
        Kind::Float => Wire::Fixed32(0),
        _ => Wire::Len(&[]),
    }
}

fn is_zero(v: &Value) -> bool {
    match v {
        Value::String(s) => s.is_empty(),
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        _ => false,
    }
}

fn number(f: f64) -> Result<Value, String> {
    // Go's JSON encoding writes whole numbers without a fraction.
    if f.fract() == 0.0 && f.abs() < 9.0e15 {
        return Ok(Value::from(f as i64));
    }
    serde_json::Number::from_f64(f).map(Value::Number).ok_or_else(|| format!("{f} has no JSON form"))
}

fn integer(v: &Value) -> Result<i64, String> {
    if let Some(i) = v.as_i64() {
        return Ok(i);
    }
    if let Some(u) = v.as_u64() {
        return Ok(u as i64);
    }
    match v.as_f64() {
        Some(f) if f.fract() == 0.0 => Ok(f as i64),
        _ => Err(format!("expected an integer, not {v}")),
    }
}

/// `metav1.Time` (RFC 3339 to the second) or `metav1.MicroTime` (to the microsecond) in UTC; `null` for zero.
fn format_time(seconds: i64, nanos: i32, micro: bool) -> Result<Value, String> {
    if seconds == 0 && nanos == 0 {
        return Ok(Value::Null);
    }
    let ts =
        jiff::Timestamp::new(seconds, if micro { nanos } else { 0 }).map_err(|e| format!("time: {e}"))?;
    let format = if micro { "%Y-%m-%dT%H:%M:%S%.6fZ" } else { "%Y-%m-%dT%H:%M:%SZ" };
    Ok(Value::String(ts.strftime(format).to_string()))
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_tag(out: &mut Vec<u8>, n: u32, wire_type: u8) {
    put_varint(out, (u64::from(n) << 3) | u64::from(wire_type));
}

fn put_varint_field(out: &mut Vec<u8>, n: u32, v: u64) {
    put_tag(out, n, 0);
    put_varint(out, v);
}

fn put_bytes(out: &mut Vec<u8>, n: u32, b: &[u8]) {
    put_tag(out, n, 2);
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// One field's value as it is on the wire.
#[derive(Debug, Clone, Copy)]
enum Wire<'a> {
    Varint(u64),
    Fixed64(u64),
    Fixed32(u32),
    Len(&'a [u8]),
}

impl<'a> Wire<'a> {
    fn varint(self) -> Result<u64, String> {
        match self {
            Wire::Varint(v) => Ok(v),
            w => Err(format!("expected a varint, found {w:?}")),
        }
    }
    fn fixed64(self) -> Result<u64, String> {
        match self {
            Wire::Fixed64(v) => Ok(v),
            w => Err(format!("expected a 64-bit value, found {w:?}")),
        }
    }
    fn fixed32(self) -> Result<u32, String> {
        match self {
            Wire::Fixed32(v) => Ok(v),
            w => Err(format!("expected a 32-bit value, found {w:?}")),
        }
    }
    fn bytes(self) -> Result<&'a [u8], String> {
        match self {
            Wire::Len(b) => Ok(b),
            w => Err(format!("expected a length-delimited value, found {w:?}")),
        }
    }
    fn string(self) -> Result<&'a str, String> {
        std::str::from_utf8(self.bytes()?).map_err(|_| "a string is not valid UTF-8".to_string())
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    fn done(&self) -> bool {
        self.pos >= self.buf.len()
    }

    fn varint(&mut self) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self.buf.get(self.pos).ok_or("truncated varint")?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err("varint longer than 10 bytes".into())
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len()).ok_or("truncated message")?;
        let b = &self.buf[self.pos..end];
        self.pos = end;
        Ok(b)
    }

    /// One element of a packed list of `kind`.
    fn scalar_of(&mut self, kind: Kind) -> Result<Wire<'a>, String> {
        Ok(match kind {
            Kind::Double => Wire::Fixed64(u64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes"))),
            Kind::Float => Wire::Fixed32(u32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes"))),
            _ => Wire::Varint(self.varint()?),
        })
    }

    fn next(&mut self) -> Result<Option<(u32, Wire<'a>)>, String> {
        if self.done() {
            return Ok(None);
        }
        let tag = self.varint()?;
        let n = u32::try_from(tag >> 3).map_err(|_| "field number out of range")?;
        let w = match tag & 7 {
            0 => Wire::Varint(self.varint()?),
            1 => Wire::Fixed64(u64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes"))),
            2 => {
                let len = usize::try_from(self.varint()?).map_err(|_| "length out of range")?;
                Wire::Len(self.take(len)?)
            }
            5 => Wire::Fixed32(u32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes"))),
            t => return Err(format!("unsupported wire type {t}")),
        };
        Ok(Some((n, w)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_built_in_kind_and_its_list_has_a_protobuf_form() {
        for rt in super::super::registry::builtins() {
            let api_version = rt.api_version(rt.preferred_version());
            for kind in [rt.kind.clone(), format!("{}List", rt.kind)] {
                assert!(TABLE.kind(&api_version, &kind).is_some(), "{api_version} {kind}");
            }
        }
        for kind in ["Status", "DeleteOptions"] {
            assert!(TABLE.kind("apps/v1", kind).is_some(), "{kind} under any version");
        }
    }

    #[test]
    fn objects_survive_the_round_trip() {
        let cases = [
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "c", "namespace": "n", "labels": {"a": "b"}, "creationTimestamp": "2026-12-01T10:00:00Z",
                    "managedFields": [{"manager": "m", "operation": "Apply", "fieldsType": "FieldsV1",
                        "fieldsV1": {"f:data": {"f:a": {}}}, "time": "2026-12-01T10:00:00Z"}]},
                "data": {"a": "1", "empty": ""}, "binaryData": {"b": "AAEC/w=="}}),
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
                "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "d"}},
                    "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}},
                    "template": {"metadata": {"labels": {"app": "d"}}, "spec": {
                        "containers": [{"name": "c", "image": "i", "resources": {"limits": {"cpu": "500m"}},
                            "readinessProbe": {"httpGet": {"port": "http", "path": "/"}, "periodSeconds": 5}}],
                        "volumes": [{"name": "v", "configMap": {"name": "c", "defaultMode": 420}}]}}}}),
            json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "l"},
                "spec": {"holderIdentity": "me", "acquireTime": "2026-01-02T03:04:05.123456Z", "leaseDurationSeconds": 15}}),
            json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                "metadata": {"name": "ws.example.com"},
                "spec": {"group": "example.com", "scope": "Namespaced",
                    "names": {"plural": "ws", "kind": "W"},
                    "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {
                        "type": "object", "x-kubernetes-preserve-unknown-fields": true,
                        "properties": {"spec": {"type": "object", "additionalProperties": {"type": "string"},
                            "properties": {"size": {"type": "integer", "maximum": 10, "default": 1,
                                "enum": [1, 2, 10]}}},
                            "items": {"type": "array", "items": {"type": "string"}}}}}}]}}),
            json!({"apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Failure", "reason": "NotFound",
                "message": "configmaps \"x\" not found", "code": 404,
                "details": {"name": "x", "kind": "configmaps"}}),
        ];
        for obj in cases {
            let body = encode(&obj).unwrap_or_else(|e| panic!("{e}: {obj}"));
            assert!(body.starts_with(MAGIC));
            assert_eq!(decode(&body).expect("decodes"), obj);
        }
    }

    #[test]
    fn zero_values_follow_go_s_json_encoding() {
        // What a Go client writes for a ConfigMap with an empty name-less ObjectMeta: non-pointer strings and
        // ints are always on the wire, and Go's JSON encoding then leaves out the omitempty ones.
        let mut meta = Vec::new();
        put_bytes(&mut meta, 1, b"c"); // name
        put_bytes(&mut meta, 2, b""); // generateName
        put_varint_field(&mut meta, 7, 0); // generation
        put_bytes(&mut meta, 8, &[]); // creationTimestamp, zero
        let mut cm = Vec::new();
        put_bytes(&mut cm, 1, &meta);
        put_varint_field(&mut cm, 4, 0); // immutable: a pointer, so false is kept
        let mut tm = Vec::new();
        put_bytes(&mut tm, 1, b"v1");
        put_bytes(&mut tm, 2, b"ConfigMap");
        let mut body = MAGIC.to_vec();
        put_bytes(&mut body, 1, &tm);
        put_bytes(&mut body, 2, &cm);
        assert_eq!(
            decode(&body).expect("decodes"),
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "immutable": false})
        );
    }

    #[test]
    fn bad_bodies_are_errors_not_panics() {
        for (body, want) in [
            (&b"{}"[..], "prefix"),
            (&b"k8s\0\x0a"[..], "truncated"),
            (&b"k8s\0\x0a\x00"[..], "names no kind"),
            (&b"k8s\0\x0a\x06\x12\x04Nope"[..], "no protobuf encoding"),
        ] {
            let e = decode(body).expect_err("refused");
            assert!(e.contains(want), "{e}");
        }
        assert!(encode(&json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": 1}})).is_err());
        // A CRD whose schema nests ten thousand levels deep is refused, not a stack overflow.
        let mut schema = Vec::new();
        for _ in 0..10_000 {
            let mut outer = Vec::new();
            put_bytes(&mut outer, 28, &schema); // JSONSchemaProps.not
            schema = outer;
        }
        let mut validation = Vec::new();
        put_bytes(&mut validation, 1, &schema);
        let mut version = Vec::new();
        put_bytes(&mut version, 4, &validation);
        let mut spec = Vec::new();
        put_bytes(&mut spec, 7, &version);
        let mut crd = Vec::new();
        put_bytes(&mut crd, 2, &spec);
        let mut tm = Vec::new();
        put_bytes(&mut tm, 1, b"apiextensions.k8s.io/v1");
        put_bytes(&mut tm, 2, b"CustomResourceDefinition");
        let mut body = MAGIC.to_vec();
        put_bytes(&mut body, 1, &tm);
        put_bytes(&mut body, 2, &crd);
        let e = decode(&body).expect_err("too deep");
        assert!(e.contains("deeper than"), "{e}");
        assert!(encode(&json!({"apiVersion": "example.com/v1", "kind": "Widget"})).is_err());
    }

    #[test]
    fn unknown_fields_of_built_in_kinds_are_pruned_where_they_are() {
        let mut pod = json!({"apiVersion": "v1", "kind": "Pod", "zz": 1,
            "metadata": {"name": "p", "labels": {"any": "label"}, "nope": true},
            "spec": {"foo": 1, "containers": [{"name": "c", "image": "i", "bar": 2,
                "readinessProbe": {"httpGet": {"port": 80, "baz": 3}}}],
                "volumes": [{"name": "v", "configMap": {"name": "c", "qux": 4}}]},
            "status": {}});
        let unknown = prune_unknown(&mut pod).expect("a built-in kind");
        assert_eq!(
            unknown,
            [
                "zz",
                "metadata.nope",
                "spec.foo",
                "spec.volumes[0].configMap.qux",
                "spec.containers[0].bar",
                "spec.containers[0].readinessProbe.httpGet.baz"
            ]
        );
        assert_eq!(
            pod,
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": {"any": "label"}},
                "spec": {"containers": [{"name": "c", "image": "i", "readinessProbe": {"httpGet": {"port": 80}}}],
                    "volumes": [{"name": "v", "configMap": {"name": "c"}}]},
                "status": {}})
        );
        assert!(prune_unknown(&mut json!({"apiVersion": "example.com/v1", "kind": "Widget"})).is_none());
    }

    #[test]
    fn negotiation_follows_the_first_media_type() {
        assert!(preferred("application/vnd.kubernetes.protobuf,application/json"));
        assert!(preferred(
            "application/vnd.kubernetes.protobuf;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
        ));
        assert!(!preferred("application/json, application/vnd.kubernetes.protobuf"));
        assert!(!preferred("*/*"));
    }
}
