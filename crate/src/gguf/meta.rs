//! GGUF's typed metadata values and the bounds-checked little-endian reader the header is parsed
//! with: a string or array longer than what is left of the file is an error naming the key, so a
//! hostile length never becomes an allocation.

use crate::error::{Error, Result};

/// A metadata value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    U64(u64),
    I64(i64),
    F32(f32),
    F64(f64),
    Bool(bool),
    String(String),
    Array(Vec<Value>),
}

impl Value {
    /// An unsigned integer, from any integer type holding a non-negative value.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::U8(v) => Some(v as u64),
            Value::U16(v) => Some(v as u64),
            Value::U32(v) => Some(v as u64),
            Value::U64(v) => Some(v),
            Value::I8(v) => u64::try_from(v).ok(),
            Value::I16(v) => u64::try_from(v).ok(),
            Value::I32(v) => u64::try_from(v).ok(),
            Value::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    /// A number, from any numeric type.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::F32(v) => Some(v as f64),
            Value::F64(v) => Some(v),
            Value::I8(v) => Some(v as f64),
            Value::I16(v) => Some(v as f64),
            Value::I32(v) => Some(v as f64),
            Value::I64(v) => Some(v as f64),
            _ => self.as_u64().map(|v| v as f64),
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// What it is, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::String(_) => "a string",
            Value::Array(_) => "an array",
            Value::Bool(_) => "a boolean",
            Value::F32(_) | Value::F64(_) => "a float",
            _ => "an integer",
        }
    }
}

/// Reads the file front to back.
pub struct Cursor<'a> {
    data: &'a [u8],
    at: usize,
    source: &'a str,
}

impl<'a> Cursor<'a> {
    pub fn new(data: &'a [u8], source: &'a str) -> Self {
        Cursor { data, at: 0, source }
    }

    pub fn position(&self) -> usize {
        self.at
    }

    fn truncated(&self) -> Error {
        Error::weights(self.source, format!("the file ends inside its header (at byte {} of {})", self.at, self.data.len()))
    }

    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.data.len()).ok_or_else(|| self.truncated())?;
        let b = &self.data[self.at..end];
        self.at = end;
        Ok(b)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        Ok(self.bytes(N)?.try_into().expect("N bytes"))
    }

    pub fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    pub fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    pub fn string(&mut self) -> Result<String> {
        let len = self.u64()?;
        if len > (self.data.len() - self.at) as u64 {
            return Err(Error::weights(self.source, format!("a string of {len} bytes at byte {} runs past the end of the file", self.at)));
        }
        let bytes = self.bytes(len as usize)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| Error::weights(self.source, format!("a string at byte {} is not UTF-8", self.at - bytes.len())))
    }

    /// A value of the type id that comes next, for metadata `key` (named in errors).
    pub fn value(&mut self, key: &str) -> Result<Value> {
        let t = self.u32()?;
        self.typed(t, key, 0)
    }

    fn typed(&mut self, t: u32, key: &str, depth: usize) -> Result<Value> {
        Ok(match t {
            0 => Value::U8(self.array::<1>()?[0]),
            1 => Value::I8(self.array::<1>()?[0] as i8),
            2 => Value::U16(u16::from_le_bytes(self.array()?)),
            3 => Value::I16(i16::from_le_bytes(self.array()?)),
            4 => Value::U32(self.u32()?),
            5 => Value::I32(i32::from_le_bytes(self.array()?)),
            6 => Value::F32(f32::from_le_bytes(self.array()?)),
            7 => match self.array::<1>()?[0] {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                b => return Err(Error::weights(self.source, format!("metadata '{key}': boolean byte {b}, expected 0 or 1"))),
            },
            8 => Value::String(self.string()?),
            9 if depth < 2 => {
                let (inner, len) = (self.u32()?, self.u64()?);
                // Every element takes at least one byte: a longer claim is not in the file.
                if len > (self.data.len() - self.at) as u64 {
                    return Err(Error::weights(self.source, format!("metadata '{key}' claims {len} elements, more than the file holds")));
                }
                let mut v = Vec::with_capacity(len as usize);
                for _ in 0..len {
                    v.push(self.typed(inner, key, depth + 1)?);
                }
                Value::Array(v)
            }
            10 => Value::U64(self.u64()?),
            11 => Value::I64(i64::from_le_bytes(self.array()?)),
            12 => Value::F64(f64::from_le_bytes(self.array()?)),
            9 => return Err(Error::weights(self.source, format!("metadata '{key}' nests arrays deeper than edgetune reads"))),
            _ => return Err(Error::weights(self.source, format!("metadata '{key}' has value type {t}, expected 0 to 12"))),
        })
    }
}
