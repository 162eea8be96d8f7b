//! The part of librdkafka's C API the native consumer uses, found at run time in the librdkafka
//! that confluent-kafka already loaded (its wheel bundles one): the same library, the same
//! global state, nothing to build or link against. The structs are librdkafka's public ABI
//! (rdkafka.h), unchanged since 1.0.

use std::ffi::{c_char, c_int, c_void, CStr, CString};

pub type Rk = c_void;
pub type Conf = c_void;
pub type Queue = c_void;
pub type Topic = c_void;
pub type Headers = c_void;
pub type Error = c_void;

#[repr(C)]
pub struct Message {
    pub err: c_int,
    pub rkt: *mut Topic,
    pub partition: i32,
    pub payload: *mut c_void,
    pub len: usize,
    pub key: *mut c_void,
    pub key_len: usize,
    pub offset: i64,
    pub private: *mut c_void,
}

#[repr(C)]
pub struct TopicPartition {
    pub topic: *mut c_char,
    pub partition: i32,
    pub offset: i64,
    pub metadata: *mut c_void,
    pub metadata_size: usize,
    pub opaque: *mut c_void,
    pub err: c_int,
    pub private: *mut c_void,
}

#[repr(C)]
pub struct PartitionList {
    pub cnt: c_int,
    pub size: c_int,
    pub elems: *mut TopicPartition,
}

#[repr(C)]
pub struct MetadataPartition {
    pub id: i32,
    pub err: c_int,
    pub leader: i32,
    pub replica_cnt: c_int,
    pub replicas: *mut i32,
    pub isr_cnt: c_int,
    pub isrs: *mut i32,
}

#[repr(C)]
pub struct MetadataTopic {
    pub topic: *mut c_char,
    pub partition_cnt: c_int,
    pub partitions: *mut MetadataPartition,
    pub err: c_int,
}

#[repr(C)]
pub struct Metadata {
    pub broker_cnt: c_int,
    pub brokers: *mut c_void,
    pub topic_cnt: c_int,
    pub topics: *mut MetadataTopic,
    pub orig_broker_id: i32,
    pub orig_broker_name: *mut c_char,
}

pub const CONSUMER: c_int = 1;
pub const ERR_FATAL: c_int = -150;
/// incremental_assign and message headers appeared in 1.6.0
pub const MIN_VERSION: c_int = 0x0106_0000;

pub type ErrorCb = extern "C" fn(*mut Rk, c_int, *const c_char, *mut c_void);
pub type LogCb = extern "C" fn(*const Rk, c_int, *const c_char, *const c_char);

macro_rules! api {
    ($($name:ident: fn($($arg:ty),*) $(-> $ret:ty)?;)*) => {
        /// Function pointers into the loaded librdkafka.
        #[allow(non_snake_case)]
        pub struct Api { $(pub $name: unsafe extern "C" fn($($arg),*) $(-> $ret)?,)* }

        impl Api {
            /// The functions of the librdkafka at `path`, which this process has loaded already.
            pub fn load(path: &str) -> Result<Api, String> {
                let c = CString::new(path).map_err(|_| "a NUL in the library path".to_string())?;
                // SAFETY: dlopen of an already-loaded library returns its handle; it is never closed
                let handle = unsafe { libc::dlopen(c.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
                if handle.is_null() {
                    return Err(format!("cannot open {path}: {}", dlerror()));
                }
                Ok(Api { $($name: {
                    let sym = concat!(stringify!($name), "\0");
                    // SAFETY: the symbol's C signature is the one declared here (rdkafka.h)
                    let p = unsafe { libc::dlsym(handle, sym.as_ptr().cast()) };
                    if p.is_null() {
                        return Err(format!("{path} has no {}", stringify!($name)));
                    }
                    unsafe { std::mem::transmute::<*mut c_void, unsafe extern "C" fn($($arg),*) $(-> $ret)?>(p) }
                },)* })
            }
        }
    };
}

api! {
    rd_kafka_version: fn() -> c_int;
    rd_kafka_conf_new: fn() -> *mut Conf;
    rd_kafka_conf_set: fn(*mut Conf, *const c_char, *const c_char, *mut c_char, usize) -> c_int;
    rd_kafka_conf_destroy: fn(*mut Conf);
    rd_kafka_conf_set_error_cb: fn(*mut Conf, ErrorCb);
    rd_kafka_conf_set_log_cb: fn(*mut Conf, LogCb);
    rd_kafka_conf_set_opaque: fn(*mut Conf, *mut c_void);
    rd_kafka_opaque: fn(*const Rk) -> *mut c_void;
    rd_kafka_new: fn(c_int, *mut Conf, *mut c_char, usize) -> *mut Rk;
    rd_kafka_name: fn(*const Rk) -> *const c_char;
    rd_kafka_poll_set_consumer: fn(*mut Rk) -> c_int;
    rd_kafka_queue_get_consumer: fn(*mut Rk) -> *mut Queue;
    rd_kafka_queue_destroy: fn(*mut Queue);
    rd_kafka_consume_batch_queue: fn(*mut Queue, c_int, *mut *mut Message, usize) -> isize;
    rd_kafka_message_destroy: fn(*mut Message);
    rd_kafka_message_timestamp: fn(*const Message, *mut c_int) -> i64;
    rd_kafka_message_headers: fn(*const Message, *mut *mut Headers) -> c_int;
    rd_kafka_header_cnt: fn(*const Headers) -> usize;
    rd_kafka_header_get_all: fn(*const Headers, usize, *mut *const c_char, *mut *const c_void, *mut usize) -> c_int;
    rd_kafka_topic_name: fn(*const Topic) -> *const c_char;
    rd_kafka_err2str: fn(c_int) -> *const c_char;
    rd_kafka_err2name: fn(c_int) -> *const c_char;
    rd_kafka_fatal_error: fn(*mut Rk, *mut c_char, usize) -> c_int;
    rd_kafka_topic_partition_list_new: fn(c_int) -> *mut PartitionList;
    rd_kafka_topic_partition_list_add: fn(*mut PartitionList, *const c_char, i32) -> *mut TopicPartition;
    rd_kafka_topic_partition_list_destroy: fn(*mut PartitionList);
    rd_kafka_incremental_assign: fn(*mut Rk, *const PartitionList) -> *mut Error;
    rd_kafka_incremental_unassign: fn(*mut Rk, *const PartitionList) -> *mut Error;
    rd_kafka_error_code: fn(*const Error) -> c_int;
    rd_kafka_error_string: fn(*const Error) -> *const c_char;
    rd_kafka_error_destroy: fn(*mut Error);
    rd_kafka_commit: fn(*mut Rk, *const PartitionList, c_int) -> c_int;
    rd_kafka_metadata: fn(*mut Rk, c_int, *mut Topic, *mut *const Metadata, c_int) -> c_int;
    rd_kafka_metadata_destroy: fn(*const Metadata);
    rd_kafka_consumer_close: fn(*mut Rk) -> c_int;
    rd_kafka_destroy: fn(*mut Rk);
}

fn dlerror() -> String {
    // SAFETY: dlerror returns a thread-local message or NULL
    let e = unsafe { libc::dlerror() };
    if e.is_null() { "unknown error".into() } else { text(e) }
}

/// A C string from librdkafka as Rust text (NULL as ""; invalid UTF-8 replaced).
pub fn text(p: *const c_char) -> String {
    if p.is_null() {
        return String::new();
    }
    // SAFETY: librdkafka's strings are NUL-terminated and live at least as long as this call
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}
