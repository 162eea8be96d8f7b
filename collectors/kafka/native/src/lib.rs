//! collectors.kafka._native: the Kafka tap's per-record work (see normalize.rs) and the OTLP
//! receiver's protobuf decoding (otlp.rs) in Rust, and a Kafka consumer that reads into the tap's
//! chunks without Python objects per record (consumer.rs over rdkafka.rs).

use pyo3::prelude::*;

mod cdata;
mod chunk;
mod cols;
mod consumer;
mod json;
mod normalize;
mod otlp;
mod otlp_wire;
mod rdkafka;
mod text;
mod time;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(chunk::collect, m)?)?;
    m.add_class::<chunk::Chunk>()?;
    m.add_class::<normalize::Normalizer>()?;
    m.add_class::<cols::Buffer>()?;
    m.add_class::<otlp::SpanDecoder>()?;
    consumer::register(m)?;
    // a bug here raises this BaseException; the tap catches it and uses record_row instead
    m.add("PanicException", m.py().get_type::<pyo3::panic::PanicException>())?;
    Ok(())
}
