//! Arrow column buffers handed to pyarrow through the Arrow C data interface
//! (https://arrow.apache.org/docs/format/CDataInterface.html): one struct array whose children
//! are the columns, imported in one call, where wrapping each buffer (`py_buffer`) and each
//! column (`Array.from_buffers`) cost ~0.3 µs a span of Python under the GIL. The array leaves
//! in a PyCapsule named "arrow_array", as the Arrow PyCapsule interface has it
//! (https://arrow.apache.org/docs/format/CDataInterface/PyCapsuleInterface.html), so pyarrow's
//! public `pa.record_batch` imports it. The buffers are not copied: pyarrow releases them
//! through `release`.

use std::ffi::c_void;
use std::ptr;

use pyo3::prelude::*;

use crate::cols::{Bits, Owned, PrimCol, StrCol};

/// `struct ArrowArray` of the C data interface.
#[repr(C)]
pub struct ArrowArray {
    length: i64,
    null_count: i64,
    offset: i64,
    n_buffers: i64,
    n_children: i64,
    buffers: *mut *const c_void,
    children: *mut *mut ArrowArray,
    dictionary: *mut ArrowArray,
    release: Option<unsafe extern "C" fn(*mut ArrowArray)>,
    private_data: *mut c_void,
}

/// What one array owns: its buffers, the pointer lists the struct points into, its children.
struct Private {
    _owned: Vec<Owned>,
    _buffers: Vec<*const c_void>,
    children: Vec<*mut ArrowArray>,
}

unsafe extern "C" fn release(array: *mut ArrowArray) {
    // SAFETY: `array` is one built by `node` and not released yet (release is set); its children
    // are ours too, and a consumer that moved one out has set that child's release to None
    unsafe {
        if array.is_null() || (*array).release.is_none() {
            return;
        }
        let private = Box::from_raw((*array).private_data.cast::<Private>());
        for &child in &private.children {
            if let Some(r) = (*child).release {
                r(child);
            }
            drop(Box::from_raw(child));
        }
        drop(private);
        (*array).release = None;
    }
}

fn owned_ptr(o: &Owned) -> *const c_void {
    match o {
        Owned::U8(v) => v.as_ptr().cast(),
        Owned::I32(v) => v.as_ptr().cast(),
        Owned::I64(v) => v.as_ptr().cast(),
    }
}

/// An array of `length` values: `validity` (None when every value is valid), then `buffers`,
/// then `children`.
fn node(length: usize, validity: Bits, buffers: Vec<Owned>, children: Vec<*mut ArrowArray>) -> *mut ArrowArray {
    let null_count = validity.unset;
    let mut owned = Vec::with_capacity(buffers.len() + 1);
    let mut pointers: Vec<*const c_void> = Vec::with_capacity(buffers.len() + 1);
    if null_count == 0 {
        pointers.push(ptr::null());
    } else {
        owned.push(Owned::U8(validity.bytes));
    }
    owned.extend(buffers);
    // a Vec's pointer never moves once it is in `owned` (moving the Vec moves its handle only)
    pointers.extend(owned.iter().map(owned_ptr));
    let mut private = Box::new(Private { _owned: owned, _buffers: pointers, children });
    let array = ArrowArray {
        length: length as i64,
        null_count: null_count as i64,
        offset: 0,
        n_buffers: private._buffers.len() as i64,
        n_children: private.children.len() as i64,
        buffers: private._buffers.as_mut_ptr(),
        children: if private.children.is_empty() { ptr::null_mut() } else { private.children.as_mut_ptr() },
        dictionary: ptr::null_mut(),
        release: Some(release),
        private_data: ptr::null_mut(),
    };
    let array = Box::into_raw(Box::new(array));
    // SAFETY: just allocated
    unsafe { (*array).private_data = Box::into_raw(private).cast() };
    array
}

pub fn str_node(c: StrCol) -> *mut ArrowArray {
    node(c.valid.len, c.valid, vec![Owned::I32(c.offsets), Owned::U8(c.data)], Vec::new())
}

pub fn prim_node<T: Copy>(c: PrimCol<T>, own: fn(Vec<T>) -> Owned) -> *mut ArrowArray {
    node(c.valid.len, c.valid, vec![own(c.values)], Vec::new())
}

/// A list array over `child` (no nulls), `offsets` as Arrow's 32-bit list offsets.
pub fn list_node(offsets: Vec<i32>, child: *mut ArrowArray) -> *mut ArrowArray {
    node(offsets.len() - 1, Bits::default(), vec![Owned::I32(offsets)], vec![child])
}

/// A struct array of `length` rows over `children` (no nulls).
pub fn struct_node(length: usize, children: Vec<*mut ArrowArray>) -> *mut ArrowArray {
    node(length, Bits::default(), Vec::new(), children)
}

/// The root array for Python, until `capsule` hands it over; dropped unimported, it is released.
#[pyclass(module = "collectors.kafka._native")]
pub struct CArray {
    array: *mut ArrowArray,
}

// SAFETY: the array and its buffers are owned by this object alone until the capsule takes them
unsafe impl Send for CArray {}
// SAFETY: shared use only reads whether the array is still here
unsafe impl Sync for CArray {}

impl CArray {
    pub fn new(array: *mut ArrowArray) -> Self {
        CArray { array }
    }
}

const CAPSULE_NAME: &std::ffi::CStr = c"arrow_array";

/// The capsule's destructor: the array is released unless its importer moved it out (then its
/// `release` is None), and the struct itself is freed.
unsafe extern "C" fn drop_capsule(capsule: *mut pyo3::ffi::PyObject) {
    // SAFETY: called by Python with our capsule, whose pointer is a Box<ArrowArray> from `capsule`
    unsafe {
        let array = pyo3::ffi::PyCapsule_GetPointer(capsule, CAPSULE_NAME.as_ptr()).cast::<ArrowArray>();
        if array.is_null() {
            pyo3::ffi::PyErr_Clear();
            return;
        }
        if let Some(r) = (*array).release {
            r(array);
        }
        drop(Box::from_raw(array));
    }
}

#[pymethods]
impl CArray {
    /// The array in a PyCapsule named "arrow_array" (once: a second call raises).
    fn capsule(&mut self, py: Python<'_>) -> PyResult<PyObject> {
        if self.array.is_null() {
            return Err(pyo3::exceptions::PyValueError::new_err("the array was handed over already"));
        }
        // SAFETY: a valid array pointer, owned by us; on success the capsule owns it
        unsafe {
            let capsule = pyo3::ffi::PyCapsule_New(self.array.cast(), CAPSULE_NAME.as_ptr(), Some(drop_capsule));
            if capsule.is_null() {
                return Err(PyErr::fetch(py));
            }
            self.array = ptr::null_mut();
            Ok(PyObject::from_owned_ptr(py, capsule))
        }
    }
}

impl Drop for CArray {
    fn drop(&mut self) {
        if self.array.is_null() {
            return; // the capsule owns it
        }
        // SAFETY: built by `node`, never handed over
        unsafe {
            if let Some(r) = (*self.array).release {
                r(self.array);
            }
            drop(Box::from_raw(self.array));
        }
    }
}
