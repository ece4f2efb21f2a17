//! acorn-store: placeholder, being written.
