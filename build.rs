//! Makes the target interpreter's cfgs (`Py_GIL_DISABLED`, `Py_3_x`, ...) visible to our code.

fn main() {
    pyo3_build_config::use_pyo3_cfgs();
}
