//! End-to-end tests of flowgate across its parts.
