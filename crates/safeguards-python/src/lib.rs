//! `safeguards._core`: the Python face of `safeguards-core`, thin and in one place.
//!
//! Everything here converts between Python objects and the core's types; no safeguard
//! semantics live in this crate.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use safeguards_core::timestamp;

/// Nanoseconds since the epoch as canonical RFC 3339 UTC text (nine fraction digits).
#[pyfunction]
fn format_timestamp(nanos: i64) -> String {
    timestamp::format_timestamp(nanos)
}

/// RFC 3339 text to nanoseconds since the epoch; ValueError if it is not one.
#[pyfunction]
fn parse_rfc3339(text: &str) -> PyResult<i128> {
    timestamp::parse_rfc3339(text).map_err(|error| PyValueError::new_err(format!("{error:?}")))
}

#[pymodule]
fn _core(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add("__version__", env!("CARGO_PKG_VERSION"))?;
    module.add_function(wrap_pyfunction!(format_timestamp, module)?)?;
    module.add_function(wrap_pyfunction!(parse_rfc3339, module)?)?;
    Ok(())
}
