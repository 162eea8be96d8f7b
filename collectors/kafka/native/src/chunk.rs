//! What the consumer thread keeps of a consume() call: every field of every Message, copied
//! into a few contiguous buffers, so the Message objects can go at once.

use pyo3::exceptions::PyTypeError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};

use crate::cols::StrCol;

#[pyclass(module = "collectors.kafka._native", frozen)]
pub struct Chunk {
    pub topics: Vec<String>,
    pub topic_idx: Vec<u32>,
    pub partition: Vec<i32>,
    pub offset: Vec<i64>,
    pub ts_type: Vec<i32>,
    pub ts_ms: Vec<i64>,
    pub keys: StrCol,
    pub values: StrCol,
    pub has_headers: Vec<bool>,
    /// record i's headers are hnames/hvalues[hstart[i]..hstart[i + 1]]
    pub hstart: Vec<u32>,
    pub hnames: StrCol,
    pub hvalues: StrCol,
    /// records whose headers confluent-kafka could not read (a header name not UTF-8): stored without
    pub unreadable: Vec<u32>,
}

fn opt_bytes<'a>(v: &'a Bound<'_, PyAny>, what: &str) -> PyResult<Option<&'a [u8]>> {
    if v.is_none() {
        return Ok(None);
    }
    match v.downcast::<PyBytes>() {
        Ok(b) => Ok(Some(b.as_bytes())),
        Err(_) => Err(PyTypeError::new_err(format!("{what} is not bytes"))),
    }
}

impl Chunk {
    /// An empty chunk with room for `n` records, their keys' and values' bytes.
    pub fn with_capacity(n: usize, key_bytes: usize, value_bytes: usize) -> Self {
        let mut c = Chunk {
            topics: Vec::new(),
            topic_idx: Vec::with_capacity(n),
            partition: Vec::with_capacity(n),
            offset: Vec::with_capacity(n),
            ts_type: Vec::with_capacity(n),
            ts_ms: Vec::with_capacity(n),
            keys: StrCol::with_capacity(n, key_bytes),
            values: StrCol::with_capacity(n, value_bytes),
            has_headers: Vec::with_capacity(n),
            hstart: Vec::with_capacity(n + 1),
            hnames: StrCol::with_capacity(n * 3, n * 24),
            hvalues: StrCol::with_capacity(n * 3, n * 48),
            unreadable: Vec::new(),
        };
        c.hstart.push(0);
        c
    }

    pub fn len(&self) -> usize {
        self.offset.len()
    }

    pub fn topic(&self, i: usize) -> &str {
        &self.topics[self.topic_idx[i] as usize]
    }

    pub fn headers(&self, i: usize) -> impl Iterator<Item = (&[u8], Option<&[u8]>)> {
        (self.hstart[i] as usize..self.hstart[i + 1] as usize)
            .map(|j| (self.hnames.get(j).unwrap_or_default(), self.hvalues.get(j)))
    }
}

#[pyfunction]
pub fn collect(py: Python<'_>, msgs: &Bound<'_, PyList>) -> PyResult<Chunk> {
    let n = msgs.len();
    let mut c = Chunk::with_capacity(n, n * 16, n * 256);
    for m in msgs.iter() {
        let topic = m.call_method0(intern!(py, "topic"))?;
        let topic = topic.downcast::<PyString>()?.to_str()?;
        let idx = match c.topics.iter().rposition(|t| t == topic) {
            Some(k) => k,
            None => {
                c.topics.push(topic.to_owned());
                c.topics.len() - 1
            }
        };
        c.topic_idx.push(idx as u32);
        c.partition.push(m.call_method0(intern!(py, "partition"))?.extract()?);
        c.offset.push(m.call_method0(intern!(py, "offset"))?.extract()?);
        let ts = m.call_method0(intern!(py, "timestamp"))?;
        let ts = ts.downcast::<PyTuple>()?;
        c.ts_type.push(ts.get_item(0)?.extract()?);
        c.ts_ms.push(ts.get_item(1)?.extract()?);
        c.keys.push(opt_bytes(&m.call_method0(intern!(py, "key"))?, "a key")?);
        c.values.push(opt_bytes(&m.call_method0(intern!(py, "value"))?, "a value")?);
        // confluent-kafka raises for the whole message when a header name is not UTF-8: the record
        // is kept without its headers (headers.message_headers does the same on the Python path)
        let hs = match m.call_method0(intern!(py, "headers")) {
            Ok(hs) => hs,
            Err(_) => {
                c.unreadable.push((c.offset.len() - 1) as u32);
                py.None().into_bound(py)
            }
        };
        c.has_headers.push(!hs.is_none());
        if !hs.is_none() {
            for h in hs.downcast::<PyList>()?.iter() {
                let h = h.downcast::<PyTuple>()?;
                let name = h.get_item(0)?;
                c.hnames.push(Some(name.downcast::<PyString>()?.to_str()?.as_bytes()));
                c.hvalues.push(opt_bytes(&h.get_item(1)?, "a header value")?);
            }
        }
        c.hstart.push(c.hnames.len() as u32);
    }
    Ok(c)
}

fn py_opt<'py>(py: Python<'py>, v: Option<&[u8]>) -> Bound<'py, PyAny> {
    match v {
        Some(b) => PyBytes::new(py, b).into_any(),
        None => py.None().into_bound(py),
    }
}

#[pymethods]
impl Chunk {
    fn __len__(&self) -> usize {
        self.len()
    }

    /// Bytes held (values and headers): what the tap bounds a batch by.
    /// (topic, partition, offset) of the records stored without their headers (see `unreadable`).
    #[getter]
    fn unreadable_headers(&self) -> Vec<(String, i32, i64)> {
        self.unreadable
            .iter()
            .map(|&i| (self.topic(i as usize).to_owned(), self.partition[i as usize], self.offset[i as usize]))
            .collect()
    }

    #[getter]
    fn nbytes(&self) -> usize {
        self.values.data.len() + self.keys.data.len() + self.hnames.data.len() + self.hvalues.data.len()
    }

    /// Where the chunk's records reach: (topic, partition, last offset + 1), sorted.
    fn reached(&self) -> Vec<(String, i32, i64)> {
        let mut at: std::collections::HashMap<(u32, i32), i64> = std::collections::HashMap::new();
        for i in 0..self.len() {
            let r = at.entry((self.topic_idx[i], self.partition[i])).or_insert(i64::MIN);
            *r = (*r).max(self.offset[i] + 1);
        }
        let mut out: Vec<_> = at.into_iter().map(|((t, p), o)| (self.topics[t as usize].clone(), p, o)).collect();
        out.sort();
        out
    }

    /// record_row's raw fields for record i, as its Message gave them.
    fn fields<'py>(&self, py: Python<'py>, i: usize) -> PyResult<Bound<'py, PyDict>> {
        if i >= self.len() {
            return Err(pyo3::exceptions::PyIndexError::new_err("no such record"));
        }
        let d = PyDict::new(py);
        d.set_item("topic", self.topic(i))?;
        d.set_item("partition", self.partition[i])?;
        d.set_item("offset", self.offset[i])?;
        d.set_item("key", py_opt(py, self.keys.get(i)))?;
        d.set_item("value", py_opt(py, self.values.get(i)))?;
        if self.has_headers[i] {
            let hs = PyList::empty(py);
            for (name, v) in self.headers(i) {
                hs.append((std::str::from_utf8(name)?, py_opt(py, v)))?;
            }
            d.set_item("headers", hs)?;
        } else {
            d.set_item("headers", py.None())?;
        }
        d.set_item("timestamp_ms", self.ts_ms[i])?;
        d.set_item("timestamp_type", self.ts_type[i])?;
        Ok(d)
    }
}
