//! Arrow column buffers (validity bitmap, offsets, data) built in Rust, handed to Python
//! without a copy (the buffer protocol) for pyarrow.Array.from_buffers.

use std::os::raw::c_int;

use pyo3::prelude::*;
use pyo3::ffi;

/// Bytes owned by Rust that Python reads in place (pyarrow.py_buffer wraps them).
#[pyclass(module = "collectors.kafka._native", frozen)]
pub struct Buffer {
    owned: Owned,
}

pub enum Owned {
    U8(Vec<u8>),
    I32(Vec<i32>),
    I64(Vec<i64>),
}

impl Owned {
    fn bytes(&self) -> &[u8] {
        match self {
            Owned::U8(v) => v,
            Owned::I32(v) => bytes_of(v),
            Owned::I64(v) => bytes_of(v),
        }
    }
}

#[pymethods]
impl Buffer {
    unsafe fn __getbuffer__(slf: Bound<'_, Self>, view: *mut ffi::Py_buffer, flags: c_int) -> PyResult<()> {
        let b = slf.get().owned.bytes();
        // SAFETY: frozen, so the bytes never move or change while a view holds the object
        if ffi::PyBuffer_FillInfo(view, slf.as_ptr(), b.as_ptr() as *mut _, b.len() as ffi::Py_ssize_t, 1, flags)
            != 0 {
            return Err(PyErr::fetch(slf.py()));
        }
        Ok(())
    }

    fn __len__(&self) -> usize {
        self.owned.bytes().len()
    }
}

pub fn buffer(py: Python<'_>, owned: Owned) -> PyResult<Bound<'_, PyAny>> {
    Ok(Bound::new(py, Buffer { owned })?.into_any())
}

#[derive(Default)]
pub struct Bits {
    pub bytes: Vec<u8>,
    pub len: usize,
    pub unset: usize,
}

impl Bits {
    #[inline]
    #[allow(clippy::manual_is_multiple_of)] // is_multiple_of needs Rust 1.87; older toolchains build this too
    pub fn push(&mut self, on: bool) {
        if self.len % 8 == 0 {
            self.bytes.push(0);
        }
        if on {
            *self.bytes.last_mut().unwrap() |= 1 << (self.len % 8);
        } else {
            self.unset += 1;
        }
        self.len += 1;
    }

    pub fn get(&self, i: usize) -> bool {
        self.bytes[i / 8] & (1 << (i % 8)) != 0
    }
}

/// A string (or binary) column.
pub struct StrCol {
    pub valid: Bits,
    pub offsets: Vec<i32>,
    pub data: Vec<u8>,
}

impl StrCol {
    pub fn with_capacity(n: usize, bytes: usize) -> Self {
        let mut offsets = Vec::with_capacity(n + 1);
        offsets.push(0);
        StrCol { valid: Bits::default(), offsets, data: Vec::with_capacity(bytes) }
    }

    #[inline]
    fn close(&mut self, valid: bool) {
        self.valid.push(valid);
        self.offsets.push(self.data.len() as i32);
    }

    #[inline]
    pub fn push(&mut self, s: Option<&[u8]>) {
        if let Some(s) = s {
            self.data.extend_from_slice(s);
        }
        self.close(s.is_some());
    }

    /// A value written by `f` straight into the data buffer.
    #[inline]
    pub fn push_with(&mut self, f: impl FnOnce(&mut Vec<u8>)) {
        f(&mut self.data);
        self.close(true);
    }

    pub fn len(&self) -> usize {
        self.valid.len
    }

    pub fn get(&self, i: usize) -> Option<&[u8]> {
        self.valid.get(i).then(|| &self.data[self.offsets[i] as usize..self.offsets[i + 1] as usize])
    }
}

/// A fixed-width column.
pub struct PrimCol<T> {
    pub valid: Bits,
    pub values: Vec<T>,
}

impl<T: Copy + Default> PrimCol<T> {
    pub fn with_capacity(n: usize) -> Self {
        PrimCol { valid: Bits::default(), values: Vec::with_capacity(n) }
    }

    #[inline]
    pub fn push(&mut self, v: Option<T>) {
        self.valid.push(v.is_some());
        self.values.push(v.unwrap_or_default());
    }
}

pub fn bytes_of<T: Copy>(v: &[T]) -> &[u8] {
    // SAFETY: plain integers, read as the little-endian bytes Arrow expects on this platform
    unsafe { std::slice::from_raw_parts(v.as_ptr().cast::<u8>(), std::mem::size_of_val(v)) }
}
