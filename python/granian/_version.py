"""Package version. Keep equal to `version` in Cargo.toml (maturin reads the wheel version from there)."""

__version__ = '0.1.0'
