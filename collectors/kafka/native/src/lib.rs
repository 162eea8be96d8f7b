//! collectors.kafka._native: the Kafka tap's per-record work in Rust (see normalize.rs).

use pyo3::prelude::*;

mod chunk;
mod cols;
mod json;
mod normalize;
mod text;
mod time;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(chunk::collect, m)?)?;
    m.add_class::<chunk::Chunk>()?;
    m.add_class::<normalize::Normalizer>()?;
    m.add_class::<cols::Buffer>()?;
    // a bug here raises this BaseException; the tap catches it and uses record_row instead
    m.add("PanicException", m.py().get_type::<pyo3::panic::PanicException>())?;
    Ok(())
}
