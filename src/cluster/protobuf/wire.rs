//! The protobuf wire format: varints, tags, length-delimited fields, and a reader over a message's fields.

use super::Kind;

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub(super) fn put_tag(out: &mut Vec<u8>, n: u32, wire_type: u8) {
    put_varint(out, (u64::from(n) << 3) | u64::from(wire_type));
}

pub(super) fn put_varint_field(out: &mut Vec<u8>, n: u32, v: u64) {
    put_tag(out, n, 0);
    put_varint(out, v);
}

pub(super) fn put_bytes(out: &mut Vec<u8>, n: u32, b: &[u8]) {
    put_tag(out, n, 2);
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// One field's value as it is on the wire.
#[derive(Debug, Clone, Copy)]
pub(super) enum Wire<'a> {
    Varint(u64),
    Fixed64(u64),
    Fixed32(u32),
    Len(&'a [u8]),
}

impl<'a> Wire<'a> {
    pub(super) fn varint(self) -> Result<u64, String> {
        match self {
            Wire::Varint(v) => Ok(v),
            w => Err(format!("expected a varint, found {w:?}")),
        }
    }
    pub(super) fn fixed64(self) -> Result<u64, String> {
        match self {
            Wire::Fixed64(v) => Ok(v),
            w => Err(format!("expected a 64-bit value, found {w:?}")),
        }
    }
    pub(super) fn fixed32(self) -> Result<u32, String> {
        match self {
            Wire::Fixed32(v) => Ok(v),
            w => Err(format!("expected a 32-bit value, found {w:?}")),
        }
    }
    pub(super) fn bytes(self) -> Result<&'a [u8], String> {
        match self {
            Wire::Len(b) => Ok(b),
            w => Err(format!("expected a length-delimited value, found {w:?}")),
        }
    }
    pub(super) fn string(self) -> Result<&'a str, String> {
        std::str::from_utf8(self.bytes()?).map_err(|_| "a string is not valid UTF-8".to_string())
    }
}

pub(super) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(super) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub(super) fn done(&self) -> bool {
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
    pub(super) fn scalar_of(&mut self, kind: Kind) -> Result<Wire<'a>, String> {
        Ok(match kind {
            Kind::Double => Wire::Fixed64(u64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes"))),
            Kind::Float => Wire::Fixed32(u32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes"))),
            _ => Wire::Varint(self.varint()?),
        })
    }

    pub(super) fn next(&mut self) -> Result<Option<(u32, Wire<'a>)>, String> {
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
