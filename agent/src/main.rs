//! The `acorn-agent` binary.

fn main() {}
