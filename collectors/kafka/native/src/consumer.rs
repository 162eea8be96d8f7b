//! A Kafka consumer that reads straight into a [`Chunk`], without a Python Message per record.
//!
//! It drives the librdkafka that confluent-kafka loaded (rdkafka.rs) the way confluent-kafka's
//! Consumer does in assign mode: the consumer queue, `rd_kafka_consume_batch_queue`, explicit
//! commits. Reading and copying run without the GIL. librdkafka's errors and log lines are
//! queued here by its callbacks (any thread) and handed to Python by [`Consumer::events`], so
//! no Python code ever runs inside librdkafka. Assign mode only: group rebalances call back into
//! the application, which stays on confluent-kafka (collectors/kafka/native_consumer.py).

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::sync::{Arc, Mutex};

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;

use crate::chunk::Chunk;
use crate::rdkafka::{self as rd, Api, Message};

/// What librdkafka's callbacks said since Python last asked: (level, facility, line) and
/// (code, reason, fatal).
#[derive(Default)]
struct Events {
    logs: Vec<(i32, String, String)>,
    errors: Vec<(i32, String, bool)>,
}

struct Shared {
    api: &'static Api,
    events: Mutex<Events>,
}

extern "C" fn on_error(rk: *mut rd::Rk, err: c_int, reason: *const c_char, opaque: *mut c_void) {
    // SAFETY: opaque is the Shared the consumer keeps alive until after rd_kafka_destroy
    let shared = unsafe { &*(opaque as *const Shared) };
    let (mut code, mut text, mut fatal) = (err, rd::text(reason), false);
    if err == rd::ERR_FATAL {
        // as confluent-kafka does: the underlying error, flagged fatal
        let mut buf = [0 as c_char; 512];
        code = unsafe { (shared.api.rd_kafka_fatal_error)(rk, buf.as_mut_ptr(), buf.len()) };
        text = rd::text(buf.as_ptr());
        fatal = true;
    }
    if let Ok(mut e) = shared.events.lock() {
        e.errors.push((code, text, fatal));
    }
}

extern "C" fn on_log(rk: *const rd::Rk, level: c_int, fac: *const c_char, buf: *const c_char) {
    let opaque = match API.get() {
        Some(api) => unsafe { (api.rd_kafka_opaque)(rk) },
        None => return,
    };
    if opaque.is_null() {
        return;
    }
    // SAFETY: as in on_error
    let shared = unsafe { &*(opaque as *const Shared) };
    if let Ok(mut e) = shared.events.lock() {
        if e.logs.len() < 10_000 {  // a burst while Python is not draining stays bounded
            e.logs.push((level, rd::text(fac), rd::text(buf)));
        }
    }
}

static API: std::sync::OnceLock<Api> = std::sync::OnceLock::new();

struct Handle {
    rk: *mut rd::Rk,
    queue: *mut rd::Queue,
}

// SAFETY: librdkafka handles are thread-safe; the pointers are only used through its API
unsafe impl Send for Handle {}
unsafe impl Sync for Handle {}

impl Handle {
    fn destroy(self, api: &Api) {
        unsafe {
            (api.rd_kafka_queue_destroy)(self.queue);
            (api.rd_kafka_consumer_close)(self.rk);
            (api.rd_kafka_destroy)(self.rk);
        }
    }
}

#[pyclass(module = "collectors.kafka._native")]
pub struct Consumer {
    handle: Mutex<Option<Handle>>,
    shared: Arc<Shared>,
    name: String,
}

fn cstring(s: &str, what: &str) -> PyResult<CString> {
    CString::new(s).map_err(|_| PyValueError::new_err(format!("{what} holds a NUL byte")))
}

/// A partition list of (topic, partition, offset) for librdkafka; destroyed on drop.
struct Partitions<'a> {
    api: &'a Api,
    list: *mut rd::PartitionList,
}

impl<'a> Partitions<'a> {
    fn new(api: &'a Api, items: &[(String, i32, i64)]) -> PyResult<Self> {
        let list = unsafe { (api.rd_kafka_topic_partition_list_new)(items.len() as c_int) };
        let out = Partitions { api, list };
        for (topic, partition, offset) in items {
            let t = cstring(topic, "a topic name")?;
            unsafe { (*(api.rd_kafka_topic_partition_list_add)(list, t.as_ptr(), *partition)).offset = *offset };
        }
        Ok(out)
    }
}

impl Drop for Partitions<'_> {
    fn drop(&mut self) {
        unsafe { (self.api.rd_kafka_topic_partition_list_destroy)(self.list) }
    }
}

/// The raw messages of one consume call; destroyed on drop, whatever happens in between.
struct Batch<'a> {
    api: &'a Api,
    msgs: Vec<*mut Message>,
}

impl Drop for Batch<'_> {
    fn drop(&mut self) {
        for &m in &self.msgs {
            unsafe { (self.api.rd_kafka_message_destroy)(m) }
        }
    }
}

fn slice<'b>(p: *const c_void, len: usize) -> Option<&'b [u8]> {
    if p.is_null() {
        None
    } else {
        // SAFETY: librdkafka's payload/key of len bytes, alive until the message is destroyed
        Some(unsafe { std::slice::from_raw_parts(p.cast::<u8>(), len) })
    }
}

/// An error message: (code, name, reason, topic, partition, offset), as confluent-kafka's
/// Message.error(), topic(), partition() and offset() give them.
type ErrorRecord = (i32, String, String, Option<String>, i32, i64);

impl Batch<'_> {
    /// The good messages' fields as a Chunk (the layout chunk::collect builds from Message
    /// objects), and the error messages.
    fn chunk(&self) -> (Chunk, Vec<ErrorRecord>) {
        let api = self.api;
        let (mut n, mut keys, mut values) = (0usize, 0usize, 0usize);
        for &m in &self.msgs {
            let m = unsafe { &*m };
            if m.err == 0 {
                n += 1;
                keys += m.key_len;
                values += m.len;
            }
        }
        let mut c = Chunk::with_capacity(n, keys, values);
        let mut errors = Vec::new();
        let mut last: (*mut rd::Topic, u32) = (std::ptr::null_mut(), 0);
        for &mp in &self.msgs {
            let m = unsafe { &*mp };
            let topic = if m.rkt.is_null() { None } else { Some(unsafe { (api.rd_kafka_topic_name)(m.rkt) }) };
            if m.err != 0 {
                // rd_kafka_message_errstr: the payload holds the reason when there is one
                let reason = match slice(m.payload, m.len) {
                    Some(b) => String::from_utf8_lossy(b).into_owned(),
                    None => rd::text(unsafe { (api.rd_kafka_err2str)(m.err) }),
                };
                let name = rd::text(unsafe { (api.rd_kafka_err2name)(m.err) });
                errors.push((m.err, name, reason, topic.map(rd::text), m.partition, m.offset));
                continue;
            }
            let idx = if !m.rkt.is_null() && m.rkt == last.0 {
                last.1
            } else {
                let name = topic.map(rd::text).unwrap_or_default();
                let k = match c.topics.iter().rposition(|t| *t == name) {
                    Some(k) => k,
                    None => {
                        c.topics.push(name);
                        c.topics.len() - 1
                    }
                } as u32;
                last = (m.rkt, k);
                k
            };
            c.topic_idx.push(idx);
            c.partition.push(m.partition);
            c.offset.push(m.offset);
            let mut ts_type: c_int = 0;
            c.ts_ms.push(unsafe { (api.rd_kafka_message_timestamp)(mp, &mut ts_type) });
            c.ts_type.push(ts_type);
            c.keys.push(slice(m.key, m.key_len));
            c.values.push(slice(m.payload, m.len));
            let mut hdrs: *mut rd::Headers = std::ptr::null_mut();
            let has = unsafe { (api.rd_kafka_message_headers)(mp, &mut hdrs) } == 0 && !hdrs.is_null();
            c.has_headers.push(has);
            if has {
                for j in 0..unsafe { (api.rd_kafka_header_cnt)(hdrs) } {
                    let (mut name, mut value, mut size): (*const c_char, *const c_void, usize) =
                        (std::ptr::null(), std::ptr::null(), 0);
                    if unsafe { (api.rd_kafka_header_get_all)(hdrs, j, &mut name, &mut value, &mut size) } != 0 {
                        break;
                    }
                    // a name as Python reads it (up to its NUL); one that is not UTF-8, which
                    // confluent-kafka cannot read at all, keeps its bytes as replacement characters
                    let name = unsafe { CStr::from_ptr(name) }.to_bytes();
                    match std::str::from_utf8(name) {
                        Ok(_) => c.hnames.push(Some(name)),
                        Err(_) => c.hnames.push(Some(String::from_utf8_lossy(name).as_bytes())),
                    }
                    c.hvalues.push(slice(value, size));
                }
            }
            c.hstart.push(c.hnames.len() as u32);
        }
        (c, errors)
    }
}

impl Consumer {
    /// `f` on the open handle, without the GIL: the lock is taken without it too, so a thread
    /// waiting for it never holds up the one inside librdkafka (which needs the GIL to return).
    fn with<T: Send>(&self, py: Python<'_>, f: impl FnOnce(&Api, &Handle) -> PyResult<T> + Send) -> PyResult<T> {
        let api = self.shared.api;
        py.allow_threads(|| {
            let guard = self.handle.lock().map_err(|_| PyRuntimeError::new_err("consumer lock poisoned"))?;
            match guard.as_ref() {
                Some(h) => f(api, h),
                None => Err(PyRuntimeError::new_err("the consumer is closed")),
            }
        })
    }
}

fn rd_error(api: &Api, e: *mut rd::Error) -> PyResult<()> {
    if e.is_null() {
        return Ok(());
    }
    let (code, text) = unsafe { ((api.rd_kafka_error_code)(e), rd::text((api.rd_kafka_error_string)(e))) };
    unsafe { (api.rd_kafka_error_destroy)(e) };
    Err(KafkaFailure::new_err((code, text)))
}

pyo3::create_exception!(collectors.kafka._native, KafkaFailure, pyo3::exceptions::PyException,
                        "A librdkafka call failed: args are (code, reason).");

#[pymethods]
impl Consumer {
    /// A consumer over the librdkafka at `library` with `conf` (librdkafka's names and text values).
    /// Raises ValueError for a setting librdkafka refuses, with its words.
    #[new]
    fn new(library: &str, conf: Vec<(String, String)>) -> PyResult<Self> {
        if API.get().is_none() {
            let api = Api::load(library).map_err(PyRuntimeError::new_err)?;
            let _ = API.set(api);
        }
        let api = API.get().expect("set above");
        let version = unsafe { (api.rd_kafka_version)() };
        if version < rd::MIN_VERSION {
            return Err(PyRuntimeError::new_err(format!("librdkafka {version:#x} is older than 1.6")));
        }
        let shared = Arc::new(Shared { api, events: Mutex::new(Events::default()) });
        let mut err = [0 as c_char; 512];
        let c = unsafe { (api.rd_kafka_conf_new)() };
        for (k, v) in &conf {
            let (ck, cv) = (cstring(k, "a setting's name")?, cstring(v, "a setting's value")?);
            if unsafe { (api.rd_kafka_conf_set)(c, ck.as_ptr(), cv.as_ptr(), err.as_mut_ptr(), err.len()) } != 0 {
                unsafe { (api.rd_kafka_conf_destroy)(c) };
                return Err(PyValueError::new_err(rd::text(err.as_ptr())));
            }
        }
        unsafe {
            (api.rd_kafka_conf_set_opaque)(c, Arc::as_ptr(&shared) as *mut c_void);
            (api.rd_kafka_conf_set_error_cb)(c, on_error);
            (api.rd_kafka_conf_set_log_cb)(c, on_log);
        }
        let rk = unsafe { (api.rd_kafka_new)(rd::CONSUMER, c, err.as_mut_ptr(), err.len()) };
        if rk.is_null() {
            unsafe { (api.rd_kafka_conf_destroy)(c) };
            return Err(PyValueError::new_err(rd::text(err.as_ptr())));
        }
        let name = rd::text(unsafe { (api.rd_kafka_name)(rk) });
        unsafe { (api.rd_kafka_poll_set_consumer)(rk) };
        let queue = unsafe { (api.rd_kafka_queue_get_consumer)(rk) };
        Ok(Consumer { handle: Mutex::new(Some(Handle { rk, queue })), shared, name })
    }

    #[getter]
    fn name(&self) -> &str {
        &self.name
    }

    /// Start reading these (topic, partition, offset)s, beside those assigned already.
    fn incremental_assign(&self, py: Python<'_>, partitions: Vec<(String, i32, i64)>) -> PyResult<()> {
        self.with(py, |api, h| {
            let list = Partitions::new(api, &partitions)?;
            rd_error(api, unsafe { (api.rd_kafka_incremental_assign)(h.rk, list.list) })
        })
    }

    /// Stop reading these (topic, partition)s.
    fn incremental_unassign(&self, py: Python<'_>, partitions: Vec<(String, i32)>) -> PyResult<()> {
        let items: Vec<_> = partitions.into_iter().map(|(t, p)| (t, p, -1001i64)).collect();
        self.with(py, |api, h| {
            let list = Partitions::new(api, &items)?;
            rd_error(api, unsafe { (api.rd_kafka_incremental_unassign)(h.rk, list.list) })
        })
    }

    /// Up to `max` messages within `timeout_ms`: (a Chunk of the good ones or None, the error ones).
    fn consume(&self, py: Python<'_>, max: usize, timeout_ms: i32) -> PyResult<(Option<Chunk>, Vec<ErrorRecord>)> {
        self.with(py, |api, h| {
            let mut batch = Batch { api, msgs: vec![std::ptr::null_mut(); max.max(1)] };
            let got = unsafe {
                (api.rd_kafka_consume_batch_queue)(h.queue, timeout_ms, batch.msgs.as_mut_ptr(), batch.msgs.len())
            };
            batch.msgs.truncate(got.max(0) as usize);
            let (chunk, errors) = batch.chunk();
            Ok((if chunk.len() > 0 { Some(chunk) } else { None }, errors))
        })
    }

    /// Commit these (topic, partition, next offset)s for the group; a synchronous failure raises.
    fn commit(&self, py: Python<'_>, offsets: Vec<(String, i32, i64)>, asynchronous: bool) -> PyResult<()> {
        self.with(py, |api, h| {
            let list = Partitions::new(api, &offsets)?;
            let err = unsafe { (api.rd_kafka_commit)(h.rk, list.list, asynchronous as c_int) };
            if err != 0 {
                return Err(KafkaFailure::new_err((err, rd::text(unsafe { (api.rd_kafka_err2str)(err) }))));
            }
            Ok(())
        })
    }

    /// Every topic the cluster has: (name, error code or 0, partition ids).
    fn topics(&self, py: Python<'_>, timeout_ms: i32) -> PyResult<Vec<(String, i32, Vec<i32>)>> {
        self.with(py, |api, h| {
            let mut md: *const rd::Metadata = std::ptr::null();
            let err = unsafe { (api.rd_kafka_metadata)(h.rk, 1, std::ptr::null_mut(), &mut md, timeout_ms) };
            if err != 0 {
                return Err(KafkaFailure::new_err((err, rd::text(unsafe { (api.rd_kafka_err2str)(err) }))));
            }
            let mut out = Vec::new();
            unsafe {
                for i in 0..(*md).topic_cnt as usize {
                    let t = &*(*md).topics.add(i);
                    let parts = (0..t.partition_cnt as usize).map(|j| (*t.partitions.add(j)).id).collect();
                    out.push((rd::text(t.topic), t.err, parts));
                }
                (api.rd_kafka_metadata_destroy)(md);
            }
            Ok(out)
        })
    }

    /// What librdkafka said since the last call: (log lines (syslog level, facility, text),
    /// errors (code, name, reason, fatal)).
    #[allow(clippy::type_complexity)]
    fn events(&self) -> (Vec<(i32, String, String)>, Vec<(i32, String, String, bool)>) {
        let mut e = match self.shared.events.lock() {
            Ok(e) => e,
            Err(_) => return (Vec::new(), Vec::new()),
        };
        let api = self.shared.api;
        let errors = std::mem::take(&mut e.errors)
            .into_iter()
            .map(|(code, reason, fatal)| (code, rd::text(unsafe { (api.rd_kafka_err2name)(code) }), reason, fatal))
            .collect();
        (std::mem::take(&mut e.logs), errors)
    }

    /// Leave the cluster and free everything; later calls raise. Safe to call twice.
    fn close(&self, py: Python<'_>) {
        let api = self.shared.api;
        py.allow_threads(|| {
            if let Some(h) = self.handle.lock().ok().and_then(|mut g| g.take()) {
                h.destroy(api);
            }
        });
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        // never Python code inside librdkafka, so destroying it on whichever thread drops it is safe
        if let Some(h) = self.handle.get_mut().ok().and_then(|g| g.take()) {
            h.destroy(self.shared.api);
        }
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Consumer>()?;
    m.add("KafkaFailure", m.py().get_type::<KafkaFailure>())?;
    Ok(())
}
