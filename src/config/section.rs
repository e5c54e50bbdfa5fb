//! Reading the engine settings dict: every key required, each value of one Rust type, no key
//! left over, and every error naming the dotted key (`http1.max_headers`).
//!
//! Why not `#[derive(FromPyObject)]` with `#[pyo3(item)]` fields: its type errors name the Rust
//! struct and field (`failed to extract field Http1Config.max_headers`, the key and the reason
//! only in `__cause__`), a missing key surfaces as a bare `KeyError: 'max_headers'` that does not
//! say which section, and nothing notices a key the engine does not read. Rejecting those keys
//! is what keeps `granian._engine_settings` (the producer) and this reader (the consumer) from
//! drifting apart: a key renamed or added on one side only fails the first `Engine(...)` and
//! the unit tests, instead of being silently ignored.

use std::cell::RefCell;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedStr;
use pyo3::types::PyDict;

use crate::error::type_name;

/// A value made of one section of the settings (a dict): the engine's config structs.
pub(crate) trait FromSettings: Sized {
    /// Reads every field with [`Section::get`] or a `section` method, one key per field. The
    /// keys it did not ask for are rejected afterwards ([`read_settings`]).
    fn read(s: &Section<'_>) -> PyResult<Self>;
}

/// One dict of the settings while it is being read: remembers the keys asked for, so that the
/// others can be reported once the struct is built.
pub(crate) struct Section<'py> {
    dict: Bound<'py, PyDict>,
    /// Dotted key of this dict in the settings; empty at the top.
    path: String,
    /// Keys asked for so far, in the order of the struct's fields.
    read: RefCell<Vec<&'static str>>,
}

/// Reads the whole settings dict as `T`. Errors are `ValueError`s naming the dotted key.
pub(crate) fn read_settings<T: FromSettings>(settings: &Bound<'_, PyAny>) -> PyResult<T> {
    read_section(settings, String::new())
}

fn read_section<T: FromSettings>(obj: &Bound<'_, PyAny>, path: String) -> PyResult<T> {
    let Ok(dict) = obj.cast::<PyDict>() else {
        let what = if path.is_empty() {
            "engine settings".to_owned()
        } else {
            format!("engine setting '{path}'")
        };
        return Err(PyValueError::new_err(format!(
            "{what}: expected a dict, got {}",
            type_name(obj)
        )));
    };
    let section = Section {
        dict: dict.clone(),
        path,
        read: RefCell::new(Vec::new()),
    };
    let value = T::read(&section)?;
    section.reject_unread()?;
    Ok(value)
}

impl<'py> Section<'py> {
    /// The value of `key`, which must be present (`None` only where `T` is an `Option`). A
    /// value `T` does not take fails with the extraction's message and the value given.
    pub(crate) fn get<T>(&self, key: &'static str) -> PyResult<T>
    where
        T: for<'a> FromPyObject<'a, 'py>,
    {
        let value = self.item(key)?;
        value.extract::<T>().map_err(|e| {
            let py = value.py();
            let cause: PyErr = e.into();
            let given = value.repr().map_or_else(|_| type_name(&value), |r| r.to_string());
            let err = self.error(key, &format!("{} (got {given})", cause.value(py)));
            err.set_cause(py, Some(cause));
            err
        })
    }

    /// The nested dict under `key`, read as `T`.
    pub(crate) fn section<T: FromSettings>(&self, key: &'static str) -> PyResult<T> {
        let value = self.item(key)?;
        read_section(&value, self.key_path(key))
    }

    /// The nested dict under `key` read as `T`, or `None` when the value is `None`.
    pub(crate) fn optional_section<T: FromSettings>(&self, key: &'static str) -> PyResult<Option<T>> {
        let value = self.item(key)?;
        if value.is_none() {
            return Ok(None);
        }
        read_section(&value, self.key_path(key)).map(Some)
    }

    fn item(&self, key: &'static str) -> PyResult<Bound<'py, PyAny>> {
        self.read.borrow_mut().push(key);
        self.dict.get_item(key)?.ok_or_else(|| self.error(key, "missing"))
    }

    /// Fails on the first key of the dict that no field asked for.
    fn reject_unread(&self) -> PyResult<()> {
        let read = self.read.borrow();
        for key in self.dict.keys() {
            let asked = key.extract::<PyBackedStr>().is_ok_and(|k| read.contains(&&*k));
            if !asked {
                let known = read.join(", ");
                let name = key.str()?.to_string();
                return Err(self.error(&name, &format!("not read by the engine (it reads: {known})")));
            }
        }
        Ok(())
    }

    fn key_path(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    fn error(&self, key: &str, reason: &str) -> PyErr {
        PyValueError::new_err(format!("engine setting '{}': {reason}", self.key_path(key)))
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::CStr;

    use pyo3::ffi::c_str;

    use super::*;

    #[derive(Debug, PartialEq)]
    struct Inner {
        size: u32,
    }

    impl FromSettings for Inner {
        fn read(s: &Section<'_>) -> PyResult<Self> {
            Ok(Self { size: s.get("size")? })
        }
    }

    #[derive(Debug, PartialEq)]
    struct Outer {
        name: Option<String>,
        inner: Inner,
        extra: Option<Inner>,
    }

    impl FromSettings for Outer {
        fn read(s: &Section<'_>) -> PyResult<Self> {
            Ok(Self {
                name: s.get("name")?,
                inner: s.section("inner")?,
                extra: s.optional_section("extra")?,
            })
        }
    }

    fn read(code: &CStr) -> Result<Outer, String> {
        Python::attach(|py| {
            let settings = py.eval(code, None, None).unwrap();
            read_settings::<Outer>(&settings).map_err(|e| {
                assert!(e.is_instance_of::<PyValueError>(py), "{e}");
                e.value(py).to_string()
            })
        })
    }

    #[test]
    fn reads_every_key_into_its_field() {
        let outer = read(c_str!("{'name': None, 'inner': {'size': 3}, 'extra': {'size': 4}}")).unwrap();
        assert_eq!(
            outer,
            Outer {
                name: None,
                inner: Inner { size: 3 },
                extra: Some(Inner { size: 4 })
            }
        );
        assert_eq!(
            read(c_str!("{'name': 'a', 'inner': {'size': 3}, 'extra': None}"))
                .unwrap()
                .extra,
            None
        );
    }

    #[test]
    fn a_missing_key_is_named_with_its_section() {
        let err = read(c_str!("{'name': None, 'inner': {}, 'extra': None}")).unwrap_err();
        assert_eq!(err, "engine setting 'inner.size': missing");
        // `None` is a value, but absence is not: optional fields are required keys too.
        let err = read(c_str!("{'inner': {'size': 1}, 'extra': None}")).unwrap_err();
        assert_eq!(err, "engine setting 'name': missing");
    }

    #[test]
    fn a_wrong_type_is_named_with_the_reason() {
        let err = read(c_str!("{'name': None, 'inner': {'size': 'big'}, 'extra': None}")).unwrap_err();
        assert!(err.starts_with("engine setting 'inner.size': "), "{err}");
        assert!(err.ends_with("(got 'big')"), "{err}");
        let err = read(c_str!("{'name': None, 'inner': {'size': 1}, 'extra': 5}")).unwrap_err();
        assert_eq!(err, "engine setting 'extra': expected a dict, got int");
        let err = read(c_str!("[]")).unwrap_err();
        assert_eq!(err, "engine settings: expected a dict, got list");
    }

    #[test]
    fn a_key_nobody_reads_is_rejected() {
        let err = read(c_str!(
            "{'name': None, 'inner': {'size': 1, 'colour': 2}, 'extra': None}"
        ))
        .unwrap_err();
        assert_eq!(
            err,
            "engine setting 'inner.colour': not read by the engine (it reads: size)"
        );
        let err = read(c_str!("{'name': None, 'inner': {'size': 1}, 'extra': None, 'more': 1}")).unwrap_err();
        assert_eq!(
            err,
            "engine setting 'more': not read by the engine (it reads: name, inner, extra)"
        );
    }
}
