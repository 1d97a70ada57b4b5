//! Arrow batches across the Python boundary (the Arrow PyCapsule interface): the binding's only `unsafe`.
//!
//! In: any object with `__arrow_c_array__` (a pyarrow RecordBatch) becomes a `RecordBatch` without a
//! copy. Out: [`ArrowBatch`] hands a `RecordBatch` back the same way (`pyarrow.record_batch(obj)`).
//! Arrow's own FFI (`arrow_array::ffi`) does the work; this module only moves the structs in and out
//! of the capsules, as the protocol says: the consumer takes the struct and leaves a released one behind.

use std::ffi::CStr;

use arrow_array::ffi::{FFI_ArrowArray, FFI_ArrowSchema, from_ffi};
use arrow_array::{Array, RecordBatch, StructArray};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyCapsule, PyCapsuleMethods, PyTuple};

const SCHEMA: &CStr = c"arrow_schema";
const ARRAY: &CStr = c"arrow_array";

/// A record batch from any object of the Arrow PyCapsule interface (`__arrow_c_array__`).
pub fn import_batch(batch: &Bound<'_, PyAny>) -> PyResult<RecordBatch> {
    let py = batch.py();
    let export = intern!(py, "__arrow_c_array__");
    if !batch.hasattr(export)? {
        return Err(PyTypeError::new_err(format!(
            "expected an Arrow record batch (an object with __arrow_c_array__, such as pyarrow.RecordBatch), got {}",
            batch.get_type().name()?
        )));
    }
    let capsules = batch.call_method0(export)?;
    let (schema, array): (Bound<'_, PyCapsule>, Bound<'_, PyCapsule>) = capsules.extract()?;
    let schema = schema
        .pointer_checked(Some(SCHEMA))?
        .cast::<FFI_ArrowSchema>();
    let array = array.pointer_checked(Some(ARRAY))?.cast::<FFI_ArrowArray>();
    // SAFETY: the capsules are named as the protocol names them, so they hold an ArrowSchema and an
    // ArrowArray; `from_raw` moves the array out and leaves a released one, which the capsule's
    // destructor then skips; the schema is only borrowed, while its capsule is alive.
    let data = unsafe {
        let array = FFI_ArrowArray::from_raw(array.as_ptr());
        from_ffi(array, schema.as_ref())
    }
    .map_err(|error| PyValueError::new_err(format!("not a valid Arrow batch: {error}")))?;
    let columns = StructArray::from(data);
    if columns.null_count() > 0 {
        return Err(PyValueError::new_err(
            "an Arrow record batch has no null rows",
        ));
    }
    Ok(RecordBatch::from(columns))
}

/// A record batch on its way to Python: `pyarrow.record_batch(obj)` takes it without a copy.
#[pyclass(module = "safeguards._core", frozen)]
pub struct ArrowBatch {
    batch: RecordBatch,
}

impl ArrowBatch {
    pub fn new(batch: RecordBatch) -> ArrowBatch {
        ArrowBatch { batch }
    }
}

#[pymethods]
impl ArrowBatch {
    /// The Arrow PyCapsule interface; a requested schema is not honoured (the protocol allows that).
    #[pyo3(signature = (requested_schema=None))]
    fn __arrow_c_array__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let _ = requested_schema;
        let data = StructArray::from(self.batch.clone()).into_data();
        let schema = FFI_ArrowSchema::try_from(data.data_type())
            .map_err(|error| PyValueError::new_err(error.to_string()))?;
        let schema = PyCapsule::new_with_value(py, schema, SCHEMA)?;
        let array = PyCapsule::new_with_value(py, FFI_ArrowArray::new(&data), ARRAY)?;
        PyTuple::new(py, [schema, array])
    }

    fn __len__(&self) -> usize {
        self.batch.num_rows()
    }
}
