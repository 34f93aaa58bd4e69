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

mod wire;
use wire::{Reader, Wire, put_bytes, put_tag, put_varint_field};

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

#[cfg(test)]
#[path = "protobuf/tests.rs"]
mod tests;
